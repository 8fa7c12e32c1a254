// securechat page script: one socket, many rooms, resume by the last id seen in
// each room (docs/PROTOCOL.md). The session cookie is HttpOnly: this script
// never sees the token. Everything a user wrote is put in the page as text
// (textContent), never as HTML.
//
// The modules: config (what the server rendered into the page), state (rooms
// and messages), socket (connecting and reconnecting), frames (what each
// server frame does), sends (messages not yet acknowledged), view (drawing),
// session (keeping the session alive), text (links and mentions in a
// message), search, complete (@ names in the message box), notify (the tab's
// title and icon, browser notifications); this one wires them to the page.

import { readConfig } from "./config.js";
import { createState, live, LOADING, GENERAL } from "./state.js";
import { createSocket } from "./socket.js";
import { createView } from "./view.js";
import { createSends } from "./sends.js";
import { createFrames } from "./frames.js";
import { keepSessionAlive } from "./session.js";
import { createSearch } from "./search.js";
import { createCompletion } from "./complete.js";
import { createNotifier } from "./notify.js";

const $ = (id) => document.getElementById(id);
const ui = {
  list: $("messages"), rooms: $("rooms"), others: $("other-rooms"), othersHeading: $("other-heading"),
  online: $("online"), onlineHeading: $("online-heading"), onlineSummary: $("online-summary"),
  drawerOnline: $("drawer-online"), drawerOnlineHeading: $("drawer-online-heading"),
  banner: $("banner"), retry: $("retry"), title: $("room-title"), leave: $("leave"), text: $("text"),
  hint: $("new-hint"), notice: $("notice"), announcer: $("announcer"),
  layout: $("layout"), sidebar: $("sidebar"), toggle: $("rooms-toggle"), toggleUnread: $("toggle-unread"),
  sendForm: $("send-form"), joinForm: $("join-form"), joinInput: $("join-room"), joinPrivate: $("join-private"),
  membersToggle: $("members-toggle"), membersPanel: $("members-panel"), membersHeading: $("members-heading"),
  members: $("members"), inviteForm: $("invite-form"), inviteInput: $("invite-user"),
  covered: document.querySelectorAll(".conversation, .online"),
  searchForm: $("search-form"), search: $("search"), searchPanel: $("search-panel"), searchHeading: $("search-heading"),
  results: $("results"), searchMore: $("search-more"), searchClose: $("search-close"),
  typing: $("typing"), completion: $("completion"), notifyButton: $("notify-enable"), jump: $("jump-newest"),
};
const cfg = readConfig(document.body);

const state = createState();
// The socket hands frames to the frames handler, which sends on the socket:
// frames is set before the socket connects.
let frames = null;
const conn = createSocket({
  frame: (f) => frames.handle(f),
  batch: () => frames.flush(),
  closed: (code) => frames.closed(code),
});
const notifier = createNotifier(ui.notifyButton, (name) => { if (state.rooms.has(name)) select(name); });
const view = createView(ui, state, cfg.user, {
  connected: () => conn.connected, loadOlder, isAdmin: () => cfg.admin, maxText: () => cfg.maxText,
  total: notifier.total,
});
const sends = createSends(ui, state, view);
const search = createSearch(ui, state, conn.send, openResult);
frames = createFrames(cfg, state, view, conn, sends, {
  open: select, dropped, changeRefused, notify: notifier.notify, results: (f) => search.results(f),
});
// Before the message box's own Enter: with names offered, Enter takes one.
createCompletion(ui.text, ui.completion, () => {
  const r = state.rooms.get(state.current);
  if (!r) return [];
  const names = r.kind === "public" ? r.users : (r.members || []).map((m) => m.user);
  return names.filter((u) => u !== cfg.user);
});

// ---- actions -----------------------------------------------------------------

function loadOlder() {
  const r = state.rooms.get(state.current);
  if (!r || !live(r) || r.state === LOADING || r.noMore || !r.oldestId) return;
  if (conn.send({ type: "history", room: state.current, before: r.oldestId, limit: cfg.pageSize })) r.state = LOADING;
  view.updateMarker();
}

function select(name) {
  if (!state.rooms.has(name)) {
    state.addRoom(name);
    if (conn.connected) frames.join(name);
  }
  search.close(); // the room is what the reader asked to see
  state.current = name;
  state.clearUnread(state.rooms.get(name));
  view.showRoom();
  view.renderMessages();
  view.renderTyping();
  view.renderRooms();
  view.renderOnline();
  frames.seen(true);
  closeDrawer();
  // The message box, wherever the switch came from: the next thing is to write.
  ui.text.focus();
}

// openResult shows a search result in its room: highlighted if the page
// holds it, else once the history around it comes (frames.js).
function openResult(m) {
  select(m.room);
  const r = state.rooms.get(m.room);
  if (r.msgs.has(m.id)) { view.highlight(m.id); return; }
  if (conn.send({ type: "history", room: m.room, around: m.id, limit: cfg.pageSize })) r.around = m.id;
}

// jumpToNewest leaves a search result's surroundings for the room's newest messages.
function jumpToNewest() {
  const r = state.rooms.get(state.current);
  if (!r || !r.detached || !live(r)) return;
  if (!conn.send({ type: "history", room: r.name, limit: cfg.pageSize })) return;
  r.msgs = new Map();
  r.oldestId = 0;
  r.noMore = false;
  r.detached = false;
  r.state = LOADING;
  view.renderMessages();
  ui.text.focus();
}

// leave leaves the shown room (never general): the server stops sending it,
// it leaves "Your rooms" (it stays among the other rooms while the server
// lists it), and general is shown.
function leave() {
  const name = state.current;
  if (name === GENERAL || !state.rooms.has(name)) return;
  conn.send({ type: "leave", room: name }); // offline: nothing to leave, and it is not joined again
  state.rooms.delete(name);
  view.announce("You left #" + name + ".");
  select(GENERAL);
  frames.requestRooms();
}

// dropped takes a room off the page at once (the user was removed from it,
// or the server would not let them in): it leaves the list, and general is
// shown if it was; why says so, politely.
function dropped(name, why) {
  const r = state.rooms.get(name);
  if (!r || name === GENERAL) return;
  clearTimeout(r.readTimer);
  state.rooms.delete(name);
  state.known.delete(name);
  if (state.current === name) select(GENERAL);
  else view.renderRooms();
  view.showInfo(why);
}

// changeRefused hands back an edit or delete the server refused: an edit's
// text goes back into its box, so nothing typed is lost.
function changeRefused(c, f) {
  const what = c.type === "edit" ? "Your edit was not saved: " : "The message was not deleted: ";
  view.showNotice(what + (f.message || "the server refused it."));
  if (c.room !== state.current) return;
  const li = ui.list.querySelector('li.msg[data-id="' + Number(c.id) + '"]');
  if (!li || li.msg.deleted || li.classList.contains("editing")) return;
  if (c.type === "edit") view.startEdit(li, c.text);
  else view.fillFoot(li); // the confirm step goes
}

// saveEdit sends the edit in a message's box, unless it changes nothing.
function saveEdit(li) {
  const box = li.querySelector(".edit-box");
  const m = li.msg, t = box.value.trim();
  if (!t) { view.showNotice("A message cannot be empty: to remove it, use Delete."); return; }
  const length = [...t].length;
  if (length > cfg.maxText) { view.showNotice("A message is at most " + cfg.maxText + " characters; this one has " + length + "."); return; }
  if (t === m.text) { view.endEdit(li); return; }
  if (!conn.connected) { view.showOfflineNotice("Not connected. Your edit is kept: save it again once the connection is back."); return; }
  const ref = sends.newRef();
  if (conn.send({ type: "edit", room: m.room, id: m.id, text: t, ref })) {
    sends.addChange(ref, { type: "edit", room: m.room, id: m.id, text: t });
    // The message shows its new text when the server's edited frame comes.
    view.endEdit(li);
    ui.text.focus();
  }
}

function deleteMessage(li) {
  const m = li.msg;
  if (!conn.connected) { view.showOfflineNotice("Not connected: delete it again once the connection is back."); view.endEdit(li); return; }
  const ref = sends.newRef();
  if (conn.send({ type: "delete", room: m.room, id: m.id, ref })) sends.addChange(ref, { type: "delete", room: m.room, id: m.id });
  ui.text.focus();
}

// filterRooms narrows the room list to the names that start with what the
// join box holds, once typing pauses.
let filterTimer = 0;
function filterRooms(text) {
  const v = text.trim().toLowerCase();
  const next = cfg.roomName.test(v) ? v : "";
  if (next === state.roomFilter) return;
  state.roomFilter = next;
  clearTimeout(filterTimer);
  filterTimer = setTimeout(frames.requestRooms, 250); // one request when typing pauses
}

function openDrawer() {
  ui.sidebar.classList.add("open");
  ui.layout.classList.add("drawer-open");
  ui.toggle.setAttribute("aria-expanded", "true");
  // What the drawer covers is out of reach until it closes.
  for (const e of ui.covered) e.inert = true;
  frames.requestRooms();
  const b = ui.rooms.querySelector('[aria-current="true"]') || ui.sidebar.querySelector("button");
  if (b) b.focus();
}

// closeDrawer closes the narrow screens' room drawer; it reports whether it was open.
function closeDrawer() {
  const open = ui.sidebar.classList.contains("open");
  ui.sidebar.classList.remove("open");
  ui.layout.classList.remove("drawer-open");
  ui.toggle.setAttribute("aria-expanded", "false");
  for (const e of ui.covered) e.inert = false;
  return open;
}

ui.sendForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = ui.text.value.trim();
  if (!t) return;
  // The server counts characters as code points, as the spread does.
  const length = [...t].length;
  if (length > cfg.maxText) {
    view.showNotice("A message is at most " + cfg.maxText + " characters; this one has " + length + ". Your message is kept: shorten it and send it again.");
    return;
  }
  const r = state.rooms.get(state.current);
  if (!conn.connected) { view.showOfflineNotice("Not connected. Your message is kept: send it again once the connection is back."); return; }
  if (!live(r)) { view.showNotice("Still joining #" + state.current + ". Your message is kept: send it again in a moment."); return; }
  const ref = sends.newRef();
  if (conn.send({ type: "send", room: state.current, text: t, ref })) {
    sends.add(ref, state.current, t, conn.socketNo);
    ui.text.value = "";
    view.clearNotice();
  }
});
ui.text.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    ui.sendForm.requestSubmit();
  }
});
ui.joinForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = ui.joinInput.value.trim().toLowerCase();
  if (!cfg.roomName.test(name)) { view.showNotice(cfg.roomRule); return; }
  if (name.startsWith(cfg.dmPrefix)) { view.showNotice("Names starting with “" + cfg.dmPrefix + "” are for direct messages: choose another."); return; }
  if (ui.joinPrivate.checked) {
    // A new private room: the server makes it, with this user its owner.
    if (state.rooms.has(name) || state.known.has(name)) { view.showNotice("#" + name + " already exists: choose another name for a private room."); return; }
    if (!conn.connected) { view.showOfflineNotice("Not connected: create the room once the connection is back."); return; }
    state.addRoom(name);
    frames.create(name);
    ui.joinPrivate.checked = false;
  }
  ui.joinInput.value = "";
  filterRooms("");
  select(name);
});
ui.joinInput.addEventListener("input", () => filterRooms(ui.joinInput.value));
ui.text.addEventListener("input", () => { if (ui.text.value.trim()) frames.sendTyping(); });
ui.jump.addEventListener("click", jumpToNewest);
ui.leave.addEventListener("click", leave);
ui.sidebar.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-room]");
  if (b) select(b.dataset.room);
  const dm = ev.target.closest("button[data-dm]"); // the phone's online list
  if (dm) frames.openDM(dm.dataset.dm);
});
// The notice's Open button: a room the user was just invited to.
ui.notice.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-room]");
  if (b && state.rooms.has(b.dataset.room)) { view.clearNotice(); select(b.dataset.room); }
});
// Message beside a name in the online list opens the conversation with them.
ui.online.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-dm]");
  if (b) frames.openDM(b.dataset.dm);
});
ui.membersToggle.addEventListener("click", () => {
  const open = !view.membersOpen();
  view.showMembers(open);
  if (open) frames.requestMembers(state.current);
});
ui.members.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-remove]");
  if (!b) return;
  // The server answers with the members as they are now.
  conn.send({ type: "remove", room: state.current, user: b.dataset.remove });
});
ui.inviteForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const user = ui.inviteInput.value.trim();
  if (!user) return;
  if (!conn.connected) { view.showOfflineNotice("Not connected: invite them once the connection is back."); return; }
  // The server answers with the members as they are now (or an error, in the notice).
  if (conn.send({ type: "invite", room: state.current, user })) ui.inviteInput.value = "";
});
// A message's own buttons: edit (inline), delete (after a confirm step).
ui.list.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-action]");
  const li = b && b.closest("li.msg");
  if (!li) return;
  switch (b.dataset.action) {
    case "edit": view.startEdit(li, li.msg.text); break;
    case "edit-save": saveEdit(li); break;
    case "edit-cancel": view.endEdit(li).querySelector('[data-action="edit"]')?.focus(); break;
    case "delete": view.confirmDelete(li); break;
    case "delete-yes": deleteMessage(li); break;
    case "delete-no": view.fillFoot(li); li.querySelector('[data-action="delete"]')?.focus(); break;
  }
});
ui.list.addEventListener("keydown", (ev) => {
  if (!ev.target.classList.contains("edit-box")) return;
  const li = ev.target.closest("li.msg");
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    saveEdit(li);
  } else if (ev.key === "Escape") {
    ev.preventDefault();
    ev.stopPropagation();
    view.endEdit(li).querySelector('[data-action="edit"]')?.focus();
  }
});
ui.toggle.addEventListener("click", () => {
  if (ui.sidebar.classList.contains("open")) closeDrawer();
  else openDrawer();
});
ui.layout.addEventListener("click", (ev) => {
  if (ui.sidebar.classList.contains("open") && !ui.sidebar.contains(ev.target)) closeDrawer();
});
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && closeDrawer()) ui.toggle.focus();
});
// stick: the reader is at the end of the list, so the list stays there when
// it changes size (a rotated phone, an on-screen keyboard, a longer draft).
let stick = true;
ui.list.addEventListener("scroll", () => {
  stick = view.atBottom();
  if (view.newBelow() && stick) view.setNewBelow(0);
  if (stick) frames.seen();
  view.loadOlderIfNeeded();
}, { passive: true });
if (window.ResizeObserver) {
  new ResizeObserver(() => { if (stick) ui.list.scrollTop = ui.list.scrollHeight; }).observe(ui.list);
}
ui.hint.addEventListener("click", () => { view.scrollToBottom(); ui.text.focus(); });
ui.retry.addEventListener("click", conn.retryNow);
window.addEventListener("online", conn.retryNow);
document.addEventListener("visibilitychange", () => frames.seen());
window.addEventListener("pagehide", () => { conn.leaving = true; });
window.addEventListener("pageshow", (ev) => {
  if (ev.persisted) { conn.leaving = false; conn.retryNow(); }
});

keepSessionAlive(conn);

// ---- start -------------------------------------------------------------------

// The rooms come from the server (the unread frame after welcome).
state.addRoom(GENERAL);
view.showRoom();
view.renderMessages();
view.renderRooms();
view.renderOnline();
conn.connect();
ui.text.focus();
