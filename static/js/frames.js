// What each server frame (docs/PROTOCOL.md) does to the page. A socket
// message may carry several frames: handle records what they changed, and
// flush draws it once.

import { GENERAL, NEW, JOINING, REPLAYING, LIVE, primed, live } from "./state.js";
import { clip } from "./view.js";

// createFrames returns {handle, flush, join, requestRooms, closed, seen}.
// join(name) joins a room on the socket, resuming after the last id seen;
// requestRooms asks for the room list, narrowed by state.roomFilter; seen
// tells the server the reader has seen the shown room's newest message, if
// they can. open(name) shows a room (the one the unread frame says the user
// read last).
export function createFrames(cfg, state, view, conn, sends, open) {
  const me = cfg.user;
  let everConnected = false;
  let opened = false; // the first unread frame has opened the room read last
  let roomsTimer = 0;
  // Joins still to be answered on this socket before every room has caught
  // up with what was missed: room -> count.
  const catchingUp = new Map();
  // What one socket message changed, drawn once by flush.
  const dirty = { rooms: false, online: false, marker: false, add: [], follow: false, fresh: [], open: "" };

  function join(name) {
    const r = state.rooms.get(name);
    r.state = primed(r) ? REPLAYING : JOINING;
    conn.send(r.lastId ? { type: "join", room: name, since: r.lastId } : { type: "join", room: name });
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
    if (!r || !live(r) || !r.lastId || (!r.openRead && r.lastId <= r.readId)) return;
    const wait = r.readSentAt + 1000 - Date.now();
    if (wait > 0 && !r.openRead) {
      if (!r.readTimer) r.readTimer = setTimeout(() => { r.readTimer = 0; seen(); }, wait);
      return;
    }
    if (conn.send({ type: "read", room: name, id: r.lastId })) {
      r.readId = Math.max(r.readId, r.lastId);
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
          if (Number.isInteger(u.last_read) && u.last_read > r.readId) r.readId = u.last_read;
          if (!primed(r) && Number.isInteger(u.count) && u.count >= 0) r.unread = u.count;
          if (r.state === NEW) {
            join(u.room);
            catchingUp.set(u.room, (catchingUp.get(u.room) || 0) + 1);
          }
        }
        // What is shown is not unread (seen sends the read once it is live).
        state.rooms.get(state.current).unread = 0;
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
        for (const m of r.msgs.values()) if (m.id > r.readId && m.user !== me) left++;
        if (left < r.unread) r.unread = left;
        dirty.rooms = true;
        break;
      }
      case "history": {
        const r = state.rooms.get(f.room);
        if (!r || !Array.isArray(f.messages)) break;
        // Once joined, a history frame answers this page's request for older
        // messages; before, it is what the server sends on a join.
        if (live(r)) r.state = LIVE;
        const isNew = primed(r);
        const last = r.lastId;
        for (const m of f.messages) {
          if (m.user === me) sends.acknowledged(m);
          if (state.addMessage(r, m)) placed(r, m, isNew && m.id > last);
        }
        // A page cut short for size (more) is not the start of the room.
        if (f.messages.length < cfg.pageSize && !f.more) r.noMore = true;
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
        if (state.addMessage(r, f)) placed(r, f, primed(r) && f.id > last);
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
        const r = state.rooms.get(f.room);
        if (!r) break;
        r.state = LIVE;
        if (f.last_id > r.lastId) r.lastId = f.last_id;
        if (!state.known.has(f.room)) requestRooms();
        if (f.room === state.current) dirty.marker = dirty.online = true;
        break;
      }
      case "presence": {
        const r = state.rooms.get(f.room);
        if (!r) break;
        r.users = Array.isArray(f.users) ? f.users : [];
        // A large room lists some of its users and counts them all.
        r.userCount = Number.isInteger(f.count) ? f.count : r.users.length;
        if (f.room === state.current) dirty.online = true;
        break;
      }
      case "rooms":
        // An answer for what the join box held before the user typed on.
        if ((f.prefix || "") !== state.roomFilter) break;
        state.known.clear();
        for (const k of f.rooms || []) {
          const at = new Date(k.last_activity);
          state.known.set(k.name, { lastId: k.last_id, at: isNaN(at) ? null : at });
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
      case "error":
        // An error answering a send names it by the send's ref.
        if (!sends.refused(f.ref, f)) view.showNotice(f.message || "The server refused that.");
        break;
    }
  }

  // placed files a message that was new to the page: into the view when it is
  // in the current room, else into the room's unread count.
  function placed(r, m, isLive) {
    if (m.room === state.current) {
      dirty.add.push(m);
      if (isLive && m.user === me) dirty.follow = true;
      if (isLive && m.user !== me) dirty.fresh.push(m);
    } else if (isLive && m.user !== me) {
      r.unread++;
    }
    dirty.rooms = true;
  }

  function flush() {
    if (dirty.add.length) view.insertMessages(dirty.add, dirty.follow, dirty.fresh.length);
    else if (dirty.marker) { view.updateMarker(); view.loadOlderIfNeeded(); }
    if (dirty.rooms) view.renderRooms();
    if (dirty.online) view.renderOnline();
    if (dirty.fresh.length > 3) view.announce(dirty.fresh.length + " new messages in #" + state.current);
    else for (const m of dirty.fresh) view.announce(m.user + ": " + clip(m.text, 300));
    dirty.rooms = dirty.online = dirty.marker = dirty.follow = false;
    dirty.add = [];
    dirty.fresh = [];
    if (dirty.open) {
      const name = dirty.open;
      dirty.open = "";
      open(name); // shows it, and reads it if its newest message is there
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

  return { handle, flush, join, requestRooms, closed, seen };
}
