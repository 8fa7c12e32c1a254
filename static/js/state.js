// What the page knows: the rooms it is in and their messages, the rooms the
// server knows, and which room is shown. Nothing here touches the page or the
// socket.

export const GENERAL = "general";

// The life of a room on this page; a room is joined again on every socket.
//
//   new        nothing shown yet, and no join of it is out
//   joining    a first join is out (or, for general, the server's own join on
//              connect): its history, then "joined", are coming
//   replaying  the page has a baseline (the join's history, or what an earlier
//              socket showed) and waits for "joined"; a message after the
//              baseline is new to the reader (unread, announced)
//   live       joined on this socket: live messages come, older ones can be asked for
//   loading    live, and a request for older messages is out
//   offline    the socket is gone; what was shown stays (a room never shown
//              goes back to new)
//
// new → joining → replaying → live ⇄ loading; any → offline or new when the
// socket closes; offline → replaying on the next socket's join.
export const NEW = "new", JOINING = "joining", REPLAYING = "replaying", LIVE = "live", LOADING = "loading", OFFLINE = "offline";

// newRoom is the one place a room record is made: every field is here.
export function newRoom(name) {
  return {
    name,
    state: NEW,
    kind: "public", // public, private or dm, as the server says (rooms, joined, unread, invited)
    role: "", // the user's role in a private room or dm (owner, member), from joined
    members: null, // a private room's or dm's members [{user, role}], from the last members frame
    label: "", // a dm's name for the reader: the others in it
    msgs: new Map(), // id -> message
    lastId: 0, // the newest id seen, of a message or a change (edit, delete): where a resume starts
    oldestId: 0, // the oldest id shown, where older messages are asked from
    lastTs: null, // when the newest message was written (a Date)
    noMore: false, // the oldest message of the room is shown
    unread: 0, // new messages while another room was shown (the server's count at first)
    readId: 0, // the newest id the server has as read, by this page or another
    readSentAt: 0, // when this page last sent a read for the room (ms), to send at most one a second
    readTimer: 0, // a read held back by that second
    openRead: false, // the room was opened: one read is due (so the server knows the room read last), even with nothing new
    users: [], // who is online, as the last presence frame listed them
    userCount: 0, // how many are online (a large room lists only some)
  };
}

// primed reports whether r has a baseline: messages after it are new to the reader.
export const primed = (r) => r.state !== NEW && r.state !== JOINING;
// live reports whether r is joined on this socket.
export const live = (r) => r.state === LIVE || r.state === LOADING;

// createState makes the page's state. The rooms a user is in, how far they
// have read each, and the room read last belong to the account: the server
// sends them after welcome (the unread frame), so a reload or another device
// shows the same; nothing is kept in this browser's storage.
export function createState() {
  const s = {
    // Rooms this page is in, in the order they were joined (general first).
    rooms: new Map(),
    // The rooms the server listed in the last "rooms" frame: name -> {lastId, at}.
    // The server answers a page at a time (the most active first); while the
    // join box holds the start of a room name, the page asks only for the rooms
    // whose names start with it (roomFilter), so a search reaches rooms past
    // the first page.
    known: new Map(),
    roomFilter: "",
    current: GENERAL,

    addRoom(name) {
      let r = s.rooms.get(name);
      if (!r) {
        r = newRoom(name);
        s.rooms.set(name, r);
      }
      return r;
    },

    // addMessage stores m once; it returns "new" if m was new to the page,
    // "changed" if it was a copy of a message the page holds in another
    // state (a replay of one since edited or deleted: the held one is
    // updated), else "".
    addMessage(r, m) {
      const old = r.msgs.get(m.id);
      if (old) {
        if (m.deleted && !old.deleted) return s.applyChange(r, { id: m.id, deleted: true }) ? "changed" : "";
        if (!m.deleted && !old.deleted && m.text !== old.text) return s.applyChange(r, m) ? "changed" : "";
        return "";
      }
      r.msgs.set(m.id, m);
      s.seenId(r, m.id);
      if (!r.oldestId || m.id < r.oldestId) r.oldestId = m.id;
      const ts = new Date(m.ts);
      if (!isNaN(ts) && (!r.lastTs || ts > r.lastTs)) r.lastTs = ts;
      return "new";
    },

    // seenId moves the room's resume cursor to id (a message's id or a
    // change's): messages and changes share the room's sequence, so a resume
    // after the highest replays each once (docs/PROTOCOL.md).
    seenId(r, id) {
      if (Number.isInteger(id) && id > r.lastId) r.lastId = id;
    },

    // applyChange applies an edit ({id, text, edited_at}) or a delete ({id,
    // deleted}) to a message the page holds; it returns the message, or
    // null if the page does not hold it (older than what is shown: the
    // history brings its current state when it is asked for).
    applyChange(r, c) {
      const m = r.msgs.get(c.id);
      if (!m) return null;
      if (c.deleted) {
        // Nothing of it stays: the text and its author are gone, its place stays.
        for (const k of ["text", "user", "user_id", "edited_at"]) delete m[k];
        m.deleted = true;
      } else if (!m.deleted && typeof c.text === "string") {
        m.text = c.text;
        m.edited_at = c.edited_at || m.edited_at || true;
      }
      return m;
    },

    // disconnected: no room is joined any more, and who is online is unknown
    // until the server says again.
    disconnected() {
      for (const r of s.rooms.values()) {
        r.state = primed(r) ? OFFLINE : NEW;
        r.users = [];
        r.userCount = 0;
      }
    },

    // lastActivity is when a room last had a message, as far as the page knows.
    lastActivity(name) {
      const r = s.rooms.get(name), k = s.known.get(name);
      let at = k && k.lastId ? k.at : null;
      if (r && r.lastTs && (!at || r.lastTs > at)) at = r.lastTs;
      return at;
    },
  };
  return s;
}
