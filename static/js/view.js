// Drawing the page from the state. Everything a user wrote is put in the page
// as text (textContent), never as HTML.

import { GENERAL, primed, live, LOADING, mentionCount } from "./state.js";
import { textNodes, mentionsUser } from "./text.js";

// hour "numeric": no leading zero where the locale writes none (9:05 AM), one where it does (09:05).
const timeFmt = new Intl.DateTimeFormat([], { hour: "numeric", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat([], { month: "short", day: "numeric" });
const dateFmt = new Intl.DateTimeFormat([], { weekday: "long", month: "long", day: "numeric" });
const yearDateFmt = new Intl.DateTimeFormat([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
const fullFmt = new Intl.DateTimeFormat([], { dateStyle: "full", timeStyle: "medium" });
const sameDay = (a, b) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
// Messages by one author this close together share one name and time.
const groupGap = 5 * 60 * 1000;

// dayLabel names the day of d for a separator: Today, Yesterday, or its date.
function dayLabel(d) {
  const now = new Date();
  if (sameDay(d, now)) return "Today";
  const y = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (sameDay(d, y)) return "Yesterday";
  return d.getFullYear() === now.getFullYear() ? dateFmt.format(d) : yearDateFmt.format(d);
}

// when is a room's last activity: the time today, else the day.
function when(d) {
  return sameDay(d, new Date()) ? timeFmt.format(d) : dayFmt.format(d);
}

// typingText says who is typing: one, two or three names, or "Several people".
export function typingText(names) {
  if (!names.length) return "";
  if (names.length === 1) return names[0] + " is typing…";
  if (names.length === 2) return names[0] + " and " + names[1] + " are typing…";
  if (names.length === 3) return names[0] + ", " + names[1] + " and " + names[2] + " are typing…";
  return "Several people are typing…";
}

export function clip(s, n) {
  return s.length > n ? s.slice(0, n) + "…" : s;
}

export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

// button makes a button of type button; data are its data- attributes.
function button(className, text, label, data) {
  const b = el("button", className, text);
  b.type = "button";
  if (label) b.setAttribute("aria-label", label);
  for (const [k, v] of Object.entries(data || {})) b.dataset[k] = v;
  return b;
}

const svgNS = "http://www.w3.org/2000/svg";

// lockIcon draws the private room's padlock; label names it for screen
// readers (an attribute: the title's text stays the room's name).
function lockIcon(label) {
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("class", "lock");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "12");
  svg.setAttribute("height", "12");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const body = document.createElementNS(svgNS, "rect");
  for (const [k, v] of Object.entries({ x: "2.5", y: "7", width: "11", height: "8", rx: "1.5", fill: "currentColor" })) body.setAttribute(k, v);
  const shackle = document.createElementNS(svgNS, "path");
  for (const [k, v] of Object.entries({ d: "M5 7V5a3 3 0 0 1 6 0v2", fill: "none", stroke: "currentColor", "stroke-width": "1.8" })) shackle.setAttribute(k, v);
  svg.append(body, shackle);
  return svg;
}

// roomText is a room's name as the page shows it: #name, or for a dm @ and
// the others in it (its own name is the server's, meaningless to a reader).
export function roomText(r, name) {
  if (r && r.kind === "dm") return "@" + (r.label || "direct message");
  return "#" + name;
}

// createView draws into the page's elements (ui). on.loadOlder asks for
// older messages of the shown room; on.connected tells whether the socket is up.
export function createView(ui, state, me, on) {
  let newBelow = 0; // live messages that arrived below the reader's scroll position

  function item(m) {
    const li = el("li", m.deleted ? "msg deleted" : m.user === me ? "msg mine" : "msg");
    li.dataset.id = m.id;
    li.msg = m; // for regroup
    const meta = el("div", "meta");
    // A deleted message keeps its place and time: its author and text are gone.
    if (!m.deleted) meta.append(el("span", "author", m.user));
    if (!m.deleted && m.user === me) meta.append(el("span", "visually-hidden", " (you)"));
    const d = new Date(m.ts);
    if (!isNaN(d)) {
      // The day is on the separator above: the message says the time.
      const t = el("time", "", timeFmt.format(d));
      t.dateTime = m.ts;
      t.title = fullFmt.format(d);
      meta.append(t);
    }
    if (m.deleted) {
      li.append(meta, el("div", "gone", "message deleted"));
      return li;
    }
    // Text nodes and links, never HTML; the reader's mentions marked.
    const text = el("div", "text");
    text.append(...textNodes(m.text, me));
    if (m.user !== me && mentionsUser(m.text, me)) li.classList.add("mentions-me");
    li.append(meta, text);
    fillFoot(li);
    return li;
  }

  // fillFoot puts under a message that it was edited, and what the reader
  // may do with it: edit their own, delete their own, or any as the room's
  // owner or an admin (the server decides again).
  function fillFoot(li) {
    const m = li.msg;
    li.querySelector(".foot")?.remove();
    if (m.deleted) return;
    const foot = el("div", "foot");
    if (m.edited_at) {
      const e = el("span", "edited", "(edited)");
      const d = typeof m.edited_at === "string" ? new Date(m.edited_at) : null;
      if (d && !isNaN(d)) e.title = "Edited " + fullFmt.format(d);
      foot.append(e);
    }
    const r = state.rooms.get(m.room);
    const mine = m.user === me;
    const acts = el("span", "actions");
    if (mine) acts.append(button("act", "Edit", "Edit your message", { action: "edit" }));
    if (mine || on.isAdmin() || (r && r.role === "owner")) {
      acts.append(button("act", "Delete", mine ? "Delete your message" : "Delete " + m.user + "’s message", { action: "delete" }));
    }
    if (acts.childElementCount) foot.append(acts);
    if (foot.childElementCount) li.append(foot);
  }

  // refreshActions redraws every shown message's actions (the reader's role
  // in the room is known once it is joined), except where the reader is
  // editing or confirming a delete.
  function refreshActions() {
    for (const li of ui.list.querySelectorAll("li.msg:not(.editing)")) {
      if (!li.querySelector(".actions.asking")) fillFoot(li);
    }
  }

  // updateMessages redraws messages that changed (edited, deleted) in their
  // places, keeping the end of the list in view if the reader was there.
  function updateMessages(msgs) {
    const bottom = atBottom();
    for (const m of msgs) {
      const li = ui.list.querySelector('li.msg[data-id="' + Number(m.id) + '"]');
      if (li) li.replaceWith(item(m));
    }
    regroup();
    if (bottom) scrollToBottom();
  }

  // startEdit turns a message of the reader's into a box holding text (its
  // own, or an edit the server refused): Enter saves, Escape cancels.
  function startEdit(li, text) {
    const m = li.msg;
    li.classList.add("editing");
    li.querySelector(".foot")?.remove();
    const box = el("textarea", "edit-box");
    box.value = text;
    box.maxLength = on.maxText();
    box.rows = 1;
    box.setAttribute("aria-label", "Edit your message");
    const help = el("div", "edit-help");
    help.append(el("span", "", "Enter saves · Escape cancels"),
      button("act", "Save", "", { action: "edit-save" }), button("act", "Cancel", "", { action: "edit-cancel" }));
    const old = li.querySelector(".text");
    old.replaceWith(box);
    li.append(help);
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
    if (m.id === Number(ui.list.lastElementChild?.dataset.id)) scrollToBottom();
  }

  // endEdit shows the message as it is again.
  function endEdit(li) {
    const fresh = item(li.msg);
    li.replaceWith(fresh);
    regroup();
    return fresh;
  }

  // confirmDelete asks, in the message, whether to delete it.
  function confirmDelete(li) {
    const acts = li.querySelector(".actions");
    if (!acts) return;
    acts.replaceChildren(el("span", "confirm", "Delete this message?"),
      button("act danger-act", "Delete", "Yes, delete the message", { action: "delete-yes" }),
      button("act", "Cancel", "Keep the message", { action: "delete-no" }));
    acts.classList.add("asking");
    acts.querySelector('[data-action="delete-no"]').focus();
  }

  // The first item of the list: a button for older messages, or where the room begins.
  const marker = el("li", "list-start");
  const olderButton = el("button", "", "Load older messages");
  olderButton.type = "button";
  olderButton.addEventListener("click", () => on.loadOlder());

  function updateMarker() {
    const r = state.rooms.get(state.current), name = state.current;
    // A search result's surroundings, apart from the newest messages.
    ui.jump.hidden = !(r && r.detached);
    if (!r || !primed(r)) marker.replaceChildren(on.connected() ? "Loading…" : "Waiting for the connection…");
    else if (r.noMore) marker.replaceChildren(r.msgs.size ? "This is the start of " + roomLabel(r) + "." : "No messages in " + roomLabel(r) + " yet. Say hello!");
    else if (r.state === LOADING) marker.replaceChildren("Loading older messages…");
    else if (!live(r)) marker.replaceChildren("Older messages load once connected.");
    else marker.replaceChildren(olderButton);
  }

  const atBottom = () => ui.list.scrollHeight - ui.list.scrollTop - ui.list.clientHeight < 40;

  function scrollToBottom() {
    ui.list.scrollTop = ui.list.scrollHeight;
    setNewBelow(0);
  }

  function setNewBelow(n) {
    newBelow = n;
    ui.hint.hidden = n === 0;
    ui.hint.textContent = n === 1 ? "1 new message ↓" : n + " new messages ↓";
  }

  // regroup marks each message that follows one by the same author within
  // groupGap on the same day (its name and time are then only for screen
  // readers), and puts a separator before the first message of each day.
  // A separator carries a data-id just below its first message's, so
  // insertMessages, which walks the list by id, places messages around it.
  function regroup() {
    for (const sep of ui.list.querySelectorAll("li.day")) sep.remove();
    let prev = null, prevDay = null;
    for (const li of ui.list.querySelectorAll("li.msg")) {
      const m = li.msg, d = new Date(m.ts);
      const ok = !isNaN(d);
      if (ok && (!prevDay || !sameDay(prevDay, d))) {
        const sep = el("li", "day");
        sep.dataset.id = String(m.id - 0.5);
        sep.append(el("span", "", dayLabel(d)));
        li.before(sep);
      }
      const cont = !!prev && ok && !m.deleted && !prev.deleted && prev.user === m.user && sameDay(prevDay, d) && d - new Date(prev.ts) < groupGap;
      li.classList.toggle("cont", cont);
      prev = m;
      if (ok) prevDay = d;
    }
  }

  function renderMessages() {
    const r = state.rooms.get(state.current);
    const msgs = r ? [...r.msgs.values()].sort((a, b) => a.id - b.id) : [];
    updateMarker();
    ui.list.replaceChildren(marker, ...msgs.map(item));
    regroup();
    scrollToBottom();
    loadOlderIfNeeded();
  }

  // insertMessages puts messages of the current room in id order, keeping what
  // the reader looks at in place, or following the end if they were there.
  function insertMessages(msgs, follow, fresh) {
    const list = ui.list;
    const bottom = atBottom();
    let anchor = null, offset = 0;
    if (!bottom) {
      for (const li of list.querySelectorAll("li.msg")) {
        if (li.offsetTop + li.offsetHeight > list.scrollTop) { anchor = li; offset = li.offsetTop - list.scrollTop; break; }
      }
    }
    msgs.sort((a, b) => a.id - b.id);
    const first = marker.nextElementSibling;
    if (!first || msgs[msgs.length - 1].id < Number(first.dataset.id)) {
      marker.after(...msgs.map(item)); // older history: all before the first shown
    } else {
      for (const m of msgs) {
        const li = item(m);
        let at = list.lastElementChild;
        while (at !== marker && Number(at.dataset.id) > m.id) at = at.previousElementSibling;
        at.after(li);
      }
    }
    regroup();
    updateMarker();
    if (bottom || follow) scrollToBottom();
    else {
      if (anchor) list.scrollTop = anchor.offsetTop - offset;
      if (fresh) setNewBelow(newBelow + fresh);
    }
    loadOlderIfNeeded();
  }

  // loadOlderIfNeeded fetches older messages when the reader is near the top,
  // or when what is shown does not fill the list (there is no scrolling up then).
  function loadOlderIfNeeded() {
    const list = ui.list;
    if (list.scrollTop < 120 || list.scrollHeight <= list.clientHeight + 1) on.loadOlder();
  }

  // Room lists are updated in place, so a focused room button keeps its focus.
  const roomItems = new Map();

  function roomItem(name) {
    let li = roomItems.get(name);
    if (!li) {
      li = el("li");
      const b = el("button", "room");
      b.type = "button";
      b.dataset.room = name;
      const badge = el("span", "badge");
      badge.append(el("span", "count"), el("span", "visually-hidden", " unread"));
      // Mentions of the reader among the unread: a badge of their own.
      const mentions = el("span", "mention-badge");
      mentions.append(el("span", "count"), el("span", "visually-hidden", " mentions"));
      mentions.hidden = true;
      b.append(el("span", "room-kind"), el("span", "room-name", "#" + name), el("time", "room-time"), mentions, badge);
      li.append(b);
      roomItems.set(name, li);
    }
    return li;
  }

  function fillRoom(name, lastTs, unread, mentions = 0) {
    const li = roomItem(name);
    const b = li.firstChild;
    const [kindMark, label, time, mentionBadge, badge] = b.children;
    const r = state.rooms.get(name), k = state.known.get(name);
    const kind = (r && r.kind !== "public" ? r.kind : k && k.kind) || "public";
    if (b.dataset.kind !== kind) {
      b.dataset.kind = kind;
      kindMark.replaceChildren(...(kind === "private" ? [lockIcon("Private room:")] : kind === "dm" ? [el("span", "visually-hidden", "Direct message:")] : []));
    }
    const text = roomText(kind === "dm" ? r || { kind } : null, name);
    if (label.textContent !== text) label.textContent = text;
    if (name === state.current) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
    b.classList.toggle("joined", state.rooms.has(name));
    if (lastTs) {
      time.textContent = when(lastTs);
      time.dateTime = lastTs.toISOString();
      time.title = "Last message " + fullFmt.format(lastTs);
    } else {
      time.textContent = "";
      time.removeAttribute("datetime");
      time.removeAttribute("title");
    }
    time.hidden = unread > 0;
    badge.hidden = unread === 0;
    // The server counts at most 99 unread messages in a room.
    badge.firstChild.textContent = unread >= 99 ? "99+" : String(unread);
    mentionBadge.hidden = mentions === 0;
    mentionBadge.firstChild.textContent = "@" + (mentions >= 99 ? "99+" : String(mentions));
    mentionBadge.lastChild.textContent = mentions === 1 ? " mention" : " mentions";
    return li;
  }

  function syncList(ul, items) {
    items.forEach((li, i) => { if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null); });
    while (ul.children.length > items.length) ul.lastElementChild.remove();
  }

  function renderRooms() {
    let total = 0;
    syncList(ui.rooms, [...state.rooms.entries()].map(([name, r]) => {
      total += r.unread;
      return fillRoom(name, state.lastActivity(name), r.unread, mentionCount(r));
    }));
    const others = [...state.known.keys()].filter((name) => !state.rooms.has(name));
    syncList(ui.others, others.map((name) => fillRoom(name, state.lastActivity(name), 0)));
    ui.others.hidden = ui.othersHeading.hidden = others.length === 0;
    ui.toggleUnread.hidden = total === 0;
    ui.toggleUnread.querySelector(".count").textContent = String(total);
    on.total(total);
  }

  function renderOnline() {
    const r = state.rooms.get(state.current);
    // Offline, or before the room's first presence frame, nobody is known to
    // be online: the list says so rather than show a count it cannot back.
    if (!on.connected() || !r || !live(r)) {
      const why = on.connected() ? "Joining…" : "Unknown while offline";
      ui.online.replaceChildren(el("li", "unknown", why));
      ui.drawerOnline.replaceChildren(el("li", "unknown", why));
      ui.onlineHeading.replaceChildren("Online", el("span", "visually-hidden", " in #" + state.current));
      ui.onlineSummary.textContent = on.connected() ? "" : "Offline: who is online is unknown";
      return;
    }
    const users = r.users;
    const count = r.userCount > users.length ? r.userCount : users.length;
    const more = count - users.length;
    // The column's list, and the phone's copy in the room drawer.
    for (const ul of [ui.online, ui.drawerOnline]) {
      ul.replaceChildren(...users.map((u) => {
        const li = el("li", u === me ? "self" : "");
        li.dataset.user = u;
        li.append(el("span", "name", u));
        // A conversation with anyone else online, one press away.
        if (u !== me) li.append(button("dm-button", "Message", "Message " + u, { dm: u }));
        return li;
      }), ...(more > 0 ? [el("li", "more", (users.length ? "and " : "") + more + " more")] : []));
    }
    ui.drawerOnlineHeading.replaceChildren("Online in " + roomText(r, state.current));
    ui.onlineHeading.replaceChildren("Online", el("span", "visually-hidden", " in #" + state.current), " (" + count + ")");
    ui.onlineSummary.textContent = !count ? "" : users.length ?
      count + " online: " + users.join(", ") + (more > 0 ? " and " + more + " more" : "") : count + " online";
  }

  // showRoom labels the page for the shown room.
  function showRoom() {
    const name = state.current, r = state.rooms.get(name);
    const text = roomText(r, name);
    ui.title.replaceChildren(...(r && r.kind === "private" ? [lockIcon("Private room")] : []), text);
    ui.leave.hidden = name === GENERAL; // everyone is in general
    ui.leave.setAttribute("aria-label", "Leave " + text);
    ui.list.setAttribute("aria-label", "Messages in " + text);
    ui.text.placeholder = "Message " + text;
    const members = !!r && r.kind !== "public";
    ui.membersToggle.hidden = !members;
    if (!members || membersFor !== name) showMembers(false);
    refreshActions();
  }

  // The members panel of a private room or dm: who is in it, and for its
  // owner (or an admin) invite and remove.
  let membersFor = ""; // the room whose panel is open

  function showMembers(open) {
    membersFor = open ? state.current : "";
    ui.membersPanel.hidden = !open;
    ui.membersToggle.setAttribute("aria-expanded", String(open));
    if (open) renderMembers();
  }

  const membersOpen = () => !ui.membersPanel.hidden;

  function renderMembers() {
    const r = state.rooms.get(state.current);
    if (!r || r.kind === "public" || !membersOpen()) return;
    const canManage = r.kind === "private" && (r.role === "owner" || on.isAdmin());
    ui.membersHeading.textContent = r.kind === "dm" ? "In this conversation" : "Members of #" + r.name;
    const list = r.members || [];
    ui.members.replaceChildren(...(r.members ? list.map((m) => {
      const li = el("li");
      li.dataset.user = m.user;
      li.append(el("span", "name", m.user));
      if (m.user === me) li.append(el("span", "you", "(you)"));
      if (m.role === "owner") li.append(el("span", "role", "owner"));
      if (canManage && m.user !== me && m.role !== "owner") li.append(button("act", "Remove", "Remove " + m.user, { remove: m.user }));
      return li;
    }) : [el("li", "unknown", "Loading…")]));
    // Only the owner (or an admin) invites, and only to a private room.
    ui.inviteForm.hidden = !(r.kind === "private" && (r.role === "owner" || on.isAdmin()));
  }

  // renderTyping says who is typing in the shown room, until their time is up.
  let typingTimer = 0;
  function renderTyping() {
    clearTimeout(typingTimer);
    const r = state.rooms.get(state.current), now = Date.now();
    const names = [];
    let next = Infinity;
    for (const [u, until] of r ? r.typing : []) {
      if (until <= now) { r.typing.delete(u); continue; }
      names.push(u);
      next = Math.min(next, until);
    }
    names.sort();
    const text = typingText(names);
    if (ui.typing.textContent !== text) ui.typing.textContent = text;
    if (names.length) typingTimer = setTimeout(renderTyping, next - now + 50);
  }

  // highlight marks the shown message id (a search result) and brings it into view.
  function highlight(id) {
    for (const e of ui.list.querySelectorAll("li.found")) e.classList.remove("found");
    const li = ui.list.querySelector('li.msg[data-id="' + Number(id) + '"]');
    if (!li) return;
    li.classList.add("found");
    li.scrollIntoView({ block: "center" });
  }

  // roomLabel names a room in a sentence.
  function roomLabel(r) {
    return r.kind === "dm" ? "the conversation with " + (r.label || "them") : "#" + r.name;
  }

  // announce reads text out politely; id names the message it quotes, so an
  // edit or delete of it takes the old text out of the page.
  function announce(text, id) {
    const p = el("p", "", text);
    if (id) p.dataset.id = id;
    ui.announcer.append(p);
    while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild.remove();
  }

  // unannounce takes what was read out of message id out of the page: it no
  // longer says that (edited), or is gone (deleted).
  function unannounce(id) {
    for (const p of ui.announcer.querySelectorAll('p[data-id="' + Number(id) + '"]')) p.remove();
  }

  let noticeTimer = 0;
  let noticeOffline = false; // the notice is about being offline: stale once connected
  // showNotice shows a notice made of strings and elements (never HTML).
  function showNotice(...parts) {
    ui.notice.classList.remove("info");
    ui.notice.setAttribute("role", "alert");
    ui.notice.replaceChildren(...parts);
    noticeOffline = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(clearNotice, 10000);
  }

  // showInfo shows news that is not a problem (an invitation, a removal):
  // read out politely, drawn quietly.
  function showInfo(...parts) {
    showNotice(...parts);
    ui.notice.classList.add("info");
    ui.notice.setAttribute("role", "status");
  }

  // showInvite says the user was made a member of r by by, with a button to open it.
  function showInvite(r, by) {
    const who = by || "Someone";
    const what = r.kind === "dm" ? who + " started a conversation with you." : who + " invited you to #" + r.name + ".";
    showInfo(what + " ", button("notice-open", "Open", "Open " + roomText(r, r.name), { room: r.name }));
  }

  // showOfflineNotice shows a notice that holds only while the page is
  // offline: the connection coming back clears it.
  function showOfflineNotice(text) {
    showNotice(text);
    noticeOffline = true;
  }

  function clearNotice() {
    ui.notice.textContent = "";
    noticeOffline = false;
  }

  // showBanner shows or hides the reconnecting banner, and says so once.
  function showBanner(lost) {
    if (!lost && noticeOffline) clearNotice();
    if (ui.banner.hidden !== lost) return;
    ui.banner.hidden = !lost;
    announce(lost ? "Connection lost. Reconnecting." : "Reconnected.");
  }

  return {
    atBottom, scrollToBottom, setNewBelow, newBelow: () => newBelow,
    updateMarker, renderMessages, insertMessages, loadOlderIfNeeded,
    updateMessages, startEdit, endEdit, confirmDelete, fillFoot,
    renderRooms, renderOnline, showRoom, renderTyping, highlight, showMembers, membersOpen, renderMembers, roomLabel,
    announce, unannounce, showNotice, showInfo, showInvite, showOfflineNotice, clearNotice, showBanner,
  };
}
