// The page's settings: who is logged in and the protocol's limits.
const PAGE = 50; // messages per history request; also what the server sends on a join

export function readConfig(body) {
  return {
    user: body.dataset.user,
    pageSize: PAGE,
    roomName: /^[a-z0-9_-]{1,64}$/,
    roomRule: "A room name is 1 to 64 of a-z, 0-9, - and _.",
  };
}
