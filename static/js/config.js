// The page's settings: who is logged in, and the protocol's rules the page
// needs. The server renders them into the page (data- attributes of <body>,
// from its own constants and configuration), so the page copies none of them.

// readConfig reads the settings from body's data- attributes.
export function readConfig(body) {
  const d = body.dataset;
  return {
    user: d.user,
    pageSize: Number(d.pageSize), // messages per history request; also what the server sends on a join
    roomName: new RegExp("^(?:" + d.roomPattern + ")$"),
    roomRule: "A room name is 1 to " + d.maxRoomName + " of a-z, 0-9, - and _.",
    maxText: Number(d.maxText), // characters (code points) in a message
    // The account is an admin (when the page was served): the page then offers
    // delete on every message. The server checks the role again on each action.
    admin: d.admin === "true",
    dmPrefix: d.dmPrefix, // starts every dm's name; no user-chosen name starts with it
  };
}
