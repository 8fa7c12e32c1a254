// What each server frame (docs/PROTOCOL.md) does to the page. A socket
// message may carry several frames: handle records what they changed, and
// flush draws it once.

import { GENERAL, NEW, JOINING, REPLAYING, LIVE, primed, live, mentionCount } from "./state.js";
import { clip } from "./view.js";
import { mentionsUser } from "./text.js";

// typingShown is how long "alice is typing…" stays after her last typing
// frame: a typing page says so every 3 s, so one lost frame does not blink it.
export const typingShown = 6000;

// createFrames returns {handle, flush, join, create, openDM, requestMembers,
// requestRooms, closed, seen}. join(name) joins a room on the socket,
// resuming after the last id seen; create(name) creates a private room;
// openDM(user) opens the conversation with user; requestMembers(name) asks
// for a private room's or dm's members; requestRooms asks for the room list,
// narrowed by state.roomFilter; seen tells the server the reader has seen the
// shown room's newest message, if they can. on.open(name) shows a room (the
// one the unread frame says the user read last, a dm asked for);
// on.dropped(name, why) takes a room off the page (the user was removed from
// it, or could not join it); on.changeRefused(change, f) hands back an edit
// or delete the server refused; on.notify(id, room, title, body) notifies
// of a message while the page is hidden; on.results(f) takes a search's
// results.
export function createFrames(cfg, state, view, conn, sends, on) {
  const me = cfg.user;
  let everConnected = false;
  let opened = false; // the first unread frame has opened the room read last
  let roomsTimer = 0;
  // Joins still to be answered on this socket before every room has caught
  // up with what was missed: room -> count.
  const catchingUp = new Map();
  // The users of a dm this page asked for (a "dm" frame is out): the server
  // names the room, so the first answer about a dm this page did not ask to
  // join is that one.
  let dmWanted = null;
  // What one socket message changed, drawn once by flush.
  const dirty = {
    rooms: false, online: false, marker: false, add: [], follow: false, fresh: [], open: "",
    changed: [], head: false, members: false, typing: false, found: 0, reset: false,
  };

  function join(name) {
    const r = state.rooms.get(name);
    r.state = primed(r) ? REPLAYING : JOINING;
    conn.send(r.lastId ? { type: "join", room: name, since: r.lastId } : { type: "join", room: name });
  }

  // create creates the private room name (the page has just added it): the
  // server answers as it does a join, or with room_exists.
  function create(name) {
    const r = state.rooms.get(name);
    r.kind = "private";
    r.role = "owner";
    r.state = JOINING;
    conn.send({ type: "create", room: name, private: true });
  }

  // openDM opens the conversation with user: the one this page knows, or
  // the server's (it finds an existing one, or makes it).
  function openDM(user) {
    for (const r of state.rooms.values()) {
      if (r.kind === "dm" && r.members && r.members.length === 2 && r.members.some((m) => m.user === user)) {
        on.open(r.name);
        return;
      }
    }
    if (conn.send({ type: "dm", users: [user] })) dmWanted = [user];
    else view.showOfflineNotice("Not connected: the conversation opens once the connection is back.");
  }

  function requestMembers(name) {
    conn.send({ type: "members", room: name });
  }

  // adopt takes on the dm this page asked for, when an answer names a room
  // the page does not know: the server chose its name.
  function adopt(name) {
    if (!dmWanted || state.rooms.has(name) || typeof name !== "string" || !name.startsWith(cfg.dmPrefix)) return;
    const r = state.addRoom(name);
    r.kind = "dm";
    r.label = dmWanted.join(", ");
    r.state = JOINING;
    dmWanted = null;
    dirty.open = name;
  }

  function requestRooms() {
    conn.send(state.roomFilter ? { type: "rooms", prefix: state.roomFilter } : { type: "rooms" });
  }

  // seen sends a read for the shown room when the reader sees its newest
  // message: the page is visible and the list is at its end. opening: the
  // room was just opened.
  function seen(opening) {
    const r = state.rooms.get(state.current);
    if (opening && r) r.openRead = true;
    if (document.visibilityState !== "visible" || !view.atBottom()) return;
    markRead(state.current);
  }

  // markRead tells the server (and so the user's other pages) that a room is
  // read up to its newest message: once per new message at most, and at most
  // once a second per room (a busy room would otherwise send a read per
  // message). Opening a room sends one at once, even with nothing new: the
  // server then knows it as the room read last, which a reload opens. A room
  // without messages has nothing to read.
  function markRead(name) {
    const r = state.rooms.get(name);
    if (!r || !live(r) || !r.lastId || r.detached || (!r.openRead && r.lastId <= r.readId)) return;
    const wait = r.readSentAt + 1000 - Date.now();
    if (wait > 0 && !r.openRead) {
      if (!r.readTimer) r.readTimer = setTimeout(() => { r.readTimer = 0; seen(); }, wait);
      return;
    }
    if (conn.send({ type: "read", room: name, id: r.lastId })) {
      r.readId = Math.max(r.readId, r.lastId);
      // Counted while the page was hidden: read now.
      if (r.unread || mentionCount(r)) { state.clearUnread(r); view.renderRooms(); }
      r.readSentAt = Date.now();
      r.openRead = false;
    }
  }

  function handle(f) {
    switch (f.type) {
      case "welcome": {
        const reconnect = everConnected;
        conn.welcomed();
        everConnected = true;
        view.showBanner(false);
        // The server has joined general and is sending its newest messages.
        // Every other room is joined again, resuming after the last id seen;
        // general too, to fill a gap longer than what it sends on connect.
        requestRooms();
        catchingUp.clear();
        catchingUp.set(GENERAL, 1);
        const general = state.rooms.get(GENERAL);
        general.state = primed(general) ? REPLAYING : JOINING;
        for (const [name, r] of state.rooms) {
          if (name !== GENERAL || (reconnect && r.lastId)) {
            join(name);
            catchingUp.set(name, (catchingUp.get(name) || 0) + 1);
          }
        }
        clearInterval(roomsTimer);
        roomsTimer = setInterval(requestRooms, 60000);
        dirty.marker = true; // the start of the list tells the connection state
        dirty.online = true;
        break;
      }
      case "unread": {
        // The user's rooms, kept by the server: each is joined, with the
        // server's count of what is unread. A room this page already follows
        // (after a reconnect) keeps its own count: the replay of what it
        // missed is counted as it comes.
        if (!Array.isArray(f.rooms)) break;
        for (const u of f.rooms) {
          if (!u || typeof u.room !== "string" || !cfg.roomName.test(u.room)) continue;
          const r = state.addRoom(u.room);
          if (typeof u.kind === "string") r.kind = u.kind;
          else if (u.room.startsWith(cfg.dmPrefix)) r.kind = "dm"; // only the server names a room so
          if (Number.isInteger(u.last_read) && u.last_read > r.readId) r.readId = u.last_read;
          if (!primed(r) && Number.isInteger(u.count) && u.count >= 0) r.unread = u.count;
          if (!primed(r) && Number.isInteger(u.mentions) && u.mentions >= 0) r.mentionsBefore = u.mentions;
          if (r.state === NEW) {
            join(u.room);
            catchingUp.set(u.room, (catchingUp.get(u.room) || 0) + 1);
          }
        }
        // What is shown is not unread (seen sends the read once it is live).
        state.clearUnread(state.rooms.get(state.current));
        // On the page's first socket, the room the user read last is shown.
        if (!opened) {
          opened = true;
          if (typeof f.current === "string" && state.rooms.has(f.current) && f.current !== state.current) dirty.open = f.current;
        }
        dirty.rooms = true;
        break;
      }
      case "read": {
        // Another page of this user read the room up to f.id: what is left
        // unread here is what this page has after it, by others.
        const r = state.rooms.get(f.room);
        if (!r || !Number.isInteger(f.id)) break;
        if (f.id > r.readId) r.readId = f.id;
        let left = 0;
        for (const m of r.msgs.values()) if (m.id > r.readId && !m.deleted && m.user !== me) left++;
        if (left < r.unread) r.unread = left;
        recountMentions(r);
        dirty.rooms = true;
        break;
      }
      case "history": {
        adopt(f.room);
        const r = state.rooms.get(f.room);
        if (!r || !Array.isArray(f.messages)) break;
        // Once joined, a history frame answers this page's request for older
        // messages; before, it is what the server sends on a join.
        if (live(r)) r.state = LIVE;
        const around = r.around && f.messages.some((m) => m && m.id === r.around);
        if (around) aroundAnswer(r, f);
        const isNew = primed(r);
        const last = r.lastId;
        for (const m of f.messages) {
          if (m.user === me) sends.acknowledged(m);
          took(r, m, isNew && m.id > last);
        }
        // A page cut short for size (more) is not the start of the room; a
        // short page around a result may have reached the end instead.
        if (!around && f.messages.length < cfg.pageSize && !f.more) r.noMore = true;
        if (!primed(r)) r.state = REPLAYING;
        if (f.room === state.current) dirty.marker = true;
        dirty.rooms = true;
        break;
      }
      case "message": {
        const r = state.rooms.get(f.room);
        if (!r) break;
        const last = r.lastId;
        if (f.user === me) sends.acknowledged(f);
        // Her message is here: she is no longer typing it.
        if (r.typing.delete(f.user) && f.room === state.current) dirty.typing = true;
        took(r, f, primed(r) && f.id > last);
        break;
      }
      case "mention": {
        // A message mentions the reader, in any of their rooms, joined here or not.
        if (typeof f.room !== "string" || !Number.isInteger(f.id) || typeof f.user !== "string") break;
        const r = state.rooms.get(f.room);
        on.notify(f.id, f.room, f.user + " mentioned you in " + (r ? view.roomLabel(r) : "#" + f.room), typeof f.text === "string" ? f.text : "");
        // Counted until read, except in the room shown while the reader looks.
        if (!r || (f.room === state.current && document.visibilityState !== "hidden") || f.id <= r.readId || r.msgs.get(f.id)?.deleted) break;
        r.mentions.add(f.id);
        dirty.rooms = true;
        break;
      }
      case "typing": {
        const r = state.rooms.get(f.room);
        if (!r || typeof f.user !== "string" || f.user === me) break;
        r.typing.set(f.user, Date.now() + typingShown);
        if (f.room === state.current) dirty.typing = true;
        break;
      }
      case "results":
        on.results(f);
        break;
      case "edited":
      case "deleted": {
        // A change of a message: it has its own place in the room's
        // sequence (change), which moves the resume cursor, whether or not
        // the page holds the message.
        if (typeof f.ref === "string") sends.changeDone(f.ref);
        const r = state.rooms.get(f.room);
        if (!r || !Number.isInteger(f.id)) break;
        view.unannounce(f.id);
        state.seenId(r, f.change);
        // A message counted as unread that is deleted is no longer to read.
        const old = r.msgs.get(f.id);
        if (f.type === "deleted" && old && !old.deleted && old.user !== me && old.id > r.readId && f.room !== state.current && r.unread > 0) r.unread--;
        if (f.type === "deleted" && r.mentions.delete(f.id)) dirty.rooms = true;
        const m = state.applyChange(r, f.type === "deleted" ? { id: f.id, deleted: true } : f);
        if (m && f.room === state.current) dirty.changed.push(m);
        if (m && f.type === "deleted") dirty.rooms = true;
        break;
      }
      case "invited": {
        // Someone made the user a member: the room is the user's now (the
        // server has put it in their list), joined like the others.
        if (typeof f.room !== "string" || !cfg.roomName.test(f.room)) break;
        const isNew = !state.rooms.has(f.room);
        const r = state.addRoom(f.room);
        r.kind = f.kind === "dm" || f.room.startsWith(cfg.dmPrefix) ? "dm" : "private";
        if (r.kind === "dm" && !r.label && typeof f.by === "string") r.label = f.by;
        if (r.state === NEW && conn.connected) join(f.room);
        if (isNew) view.showInvite(r, typeof f.by === "string" ? f.by : "");
        dirty.rooms = true;
        break;
      }
      case "removed": {
        if (typeof f.room !== "string" || !state.rooms.has(f.room)) break;
        catchingUp.delete(f.room);
        on.dropped(f.room, "You were removed from " + view.roomLabel(state.rooms.get(f.room)) + ".");
        break;
      }
      case "members": {
        const r = state.rooms.get(f.room);
        if (!r || !Array.isArray(f.members)) break;
        r.members = f.members.filter((m) => m && typeof m.user === "string");
        if (r.kind === "dm") {
          const others = r.members.map((m) => m.user).filter((u) => u !== me);
          if (others.length) r.label = others.join(", ");
        }
        dirty.rooms = true;
        if (f.room === state.current) dirty.members = dirty.head = true;
        break;
      }
      case "joined": {
        // Counted even for a room left since: its join was out, and answered.
        const due = catchingUp.get(f.room);
        if (due) {
          if (due > 1) catchingUp.set(f.room, due - 1);
          else catchingUp.delete(f.room);
          // Every room has replayed what was stored: what an earlier socket
          // sent and never saw come back was lost with it.
          if (catchingUp.size === 0) sends.lostBefore(conn.socketNo, "The connection dropped before it was stored.");
        }
        adopt(f.room);
        const r = state.rooms.get(f.room);
        if (!r) break;
        r.state = LIVE;
        state.seenId(r, f.last_id);
        if (typeof f.kind === "string") r.kind = f.kind;
        r.role = typeof f.role === "string" ? f.role : "";
        if (r.kind !== "public") requestMembers(f.room);
        // The answer to a dm asked for while the page had the room already.
        if (dmWanted && r.kind === "dm" && !due) {
          dmWanted = null;
          if (f.room !== state.current) dirty.open = f.room;
        }
        if (!state.known.has(f.room)) requestRooms();
        if (f.room === state.current) dirty.marker = dirty.online = dirty.head = true;
        dirty.rooms = true;
        break;
      }
      case "presence": {
        const r = state.rooms.get(f.room);
        if (!r) break;
        r.users = Array.isArray(f.users) ? f.users : [];
        // A large room lists some of its users and counts them all.
        r.userCount = Number.isInteger(f.count) ? f.count : r.users.length;
        if (f.room === state.current) dirty.online = true;
        // Someone came or went: the open members panel may be out of date.
        if (f.room === state.current && r.kind !== "public" && view.membersOpen()) requestMembers(f.room);
        break;
      }
      case "rooms":
        // An answer for what the join box held before the user typed on.
        if ((f.prefix || "") !== state.roomFilter) break;
        state.known.clear();
        for (const k of f.rooms || []) {
          const at = new Date(k.last_activity);
          state.known.set(k.name, { lastId: k.last_id, at: isNaN(at) ? null : at, kind: k.kind });
          const r = state.rooms.get(k.name);
          if (r && typeof k.kind === "string") r.kind = k.kind;
        }
        dirty.rooms = true;
        break;
      case "room": {
        // A room has its first message: it joins the list at once, first (the
        // most recently active), if it fits what the join box is searching.
        if (typeof f.room !== "string" || !cfg.roomName.test(f.room) || !f.room.startsWith(state.roomFilter)) break;
        const at = new Date(f.last_activity);
        const known = [...state.known].filter(([name]) => name !== f.room);
        state.known.clear();
        state.known.set(f.room, { lastId: f.last_id, at: isNaN(at) ? null : at });
        for (const [name, k] of known) state.known.set(name, k);
        dirty.rooms = true;
        break;
      }
      case "error": {
        // An error answering a send, an edit or a delete names it by its ref.
        if (sends.refused(f.ref, f)) break;
        const change = sends.takeChange(f.ref);
        if (change) { on.changeRefused(change, f); break; }
        // A room the page is opening and the server would not let it into
        // (a private one, or a name taken for a new private room): the page
        // gives it up. Errors name no room: the one still joining is it.
        const r = state.rooms.get(state.current);
        if ((f.code === "forbidden" || f.code === "room_exists") && r && r.state === JOINING && r.name !== GENERAL && !r.msgs.size) {
          catchingUp.delete(r.name);
          on.dropped(r.name, f.code === "room_exists" ?
            "#" + r.name + " already exists: join it without “Private”, or choose another name." :
            "#" + r.name + " is private: its owner can invite you.");
          break;
        }
        if (f.code === "unknown_user" || f.code === "forbidden") dmWanted = null;
        view.showNotice(f.message || "The server refused that.");
        break;
      }
    }
  }

  // recountMentions drops the mentions another page of the user has read:
  // those up to the read position, and of the ones the server counted
  // without ids, those no longer among the held messages after it.
  function recountMentions(r) {
    for (const id of r.mentions) if (id <= r.readId) r.mentions.delete(id);
    if (!r.mentionsBefore) return;
    let left = 0;
    for (const m of r.msgs.values()) {
      if (m.id > r.readId && !m.deleted && m.user !== me && !r.mentions.has(m.id) && mentionsUser(m.text, me)) left++;
    }
    if (left < r.mentionsBefore) r.mentionsBefore = left;
  }

  // aroundAnswer takes the history around a search result (r.around). If
  // it reaches the messages the page holds (or the room's newest), it joins
  // them; else the page shows it alone, detached from the newest messages,
  // until the reader jumps back to them.
  function aroundAnswer(r, f) {
    const ids = f.messages.map((m) => m.id);
    const newest = Math.max(...ids);
    const after = ids.filter((id) => id > r.around).length;
    // The server gives up to half the page (rounded up) up to the result and
    // the rest after it: fewer after it means the room ends there.
    const reachesEnd = !f.more && after < cfg.pageSize - Math.ceil(cfg.pageSize / 2);
    const held = [...r.msgs.keys()];
    const joins = !held.length || reachesEnd || newest >= Math.min(...held);
    if (!joins) {
      r.msgs = new Map();
      r.oldestId = 0;
      r.noMore = false;
      r.detached = true;
      if (r.name === state.current) dirty.reset = true;
    }
    if (r.name === state.current) dirty.found = r.around;
    r.around = 0;
  }

  // took files a message from the server: a new one is placed, a changed
  // copy of one the page holds is redrawn.
  function took(r, m, isLive) {
    const got = state.addMessage(r, m);
    if (got === "new") placed(r, m, isLive);
    if (got !== "changed") return;
    view.unannounce(m.id);
    if (m.room === state.current) dirty.changed.push(r.msgs.get(m.id));
  }

  // placed files a message that was new to the page: into the view when it is
  // in the current room, else into the room's unread count. A deleted
  // message (its place in a replay) is nobody's news.
  function placed(r, m, isLive) {
    if (m.deleted) isLive = false;
    if (isLive && m.user !== me && r.kind === "dm") on.notify(m.id, m.room, m.user + " (direct message)", m.text);
    if (m.room === state.current) {
      dirty.add.push(m);
      if (isLive && m.user === me) dirty.follow = true;
      if (isLive && m.user !== me) dirty.fresh.push(m);
      // Shown, but nobody looks: the tab's title and icon count it until
      // the reader is back (seen reads it then).
      if (isLive && m.user !== me && document.visibilityState === "hidden") r.unread++;
    } else if (isLive && m.user !== me) {
      r.unread++;
    }
    dirty.rooms = true;
  }

  function flush() {
    if (dirty.head) view.showRoom();
    if (dirty.add.length) view.insertMessages(dirty.add, dirty.follow, dirty.fresh.length);
    else if (dirty.marker) { view.updateMarker(); view.loadOlderIfNeeded(); }
    if (dirty.changed.length) view.updateMessages(dirty.changed);
    if (dirty.members) view.renderMembers();
    if (dirty.reset) view.renderMessages();
    if (dirty.rooms) view.renderRooms();
    if (dirty.typing) view.renderTyping();
    if (dirty.found) view.highlight(dirty.found);
    if (dirty.online) view.renderOnline();
    if (dirty.fresh.length > 3) view.announce(dirty.fresh.length + " new messages in #" + state.current);
    else for (const m of dirty.fresh) view.announce(m.user + ": " + clip(m.text, 300), m.id);
    dirty.rooms = dirty.online = dirty.marker = dirty.follow = dirty.head = dirty.members = dirty.typing = dirty.reset = false;
    dirty.found = 0;
    dirty.add = [];
    dirty.fresh = [];
    dirty.changed = [];
    if (dirty.open) {
      const name = dirty.open;
      dirty.open = "";
      on.open(name); // shows it, and reads it if its newest message is there
    } else {
      seen();
    }
  }

  // closed forgets what the socket had joined; the page shows it is away
  // unless it is going to the login form.
  function closed(code) {
    clearInterval(roomsTimer);
    state.disconnected();
    if (conn.leaving) return;
    view.renderOnline();
    if (code === 4401) return;
    view.showBanner(true);
    view.updateMarker();
  }

  // sendTyping tells the room's other users that the reader is typing in
  // the shown room: at most once every 3 s (the server drops more).
  function sendTyping() {
    const r = state.rooms.get(state.current);
    if (!r || !live(r) || Date.now() - r.typingSentAt < 3000) return;
    if (conn.send({ type: "typing", room: r.name })) r.typingSentAt = Date.now();
  }

  return { handle, flush, join, create, openDM, requestMembers, requestRooms, closed, seen, sendTyping };
}
