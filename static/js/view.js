// Drawing the page from the state. Everything a user wrote is put in the page
// as text (textContent), never as HTML.

import { primed, live, LOADING } from "./state.js";

const timeFmt = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat([], { month: "short", day: "numeric" });
const fullFmt = new Intl.DateTimeFormat([], { dateStyle: "full", timeStyle: "medium" });
const sameDay = (a, b) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

function when(d, withTime) {
  if (sameDay(d, new Date())) return timeFmt.format(d);
  return withTime ? dayFmt.format(d) + ", " + timeFmt.format(d) : dayFmt.format(d);
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

// createView draws into the page's elements (ui). on.loadOlder asks for
// older messages of the shown room; on.connected tells whether the socket is up.
export function createView(ui, state, me, on) {
  const baseTitle = document.title;
  let newBelow = 0; // live messages that arrived below the reader's scroll position

  function item(m) {
    const li = el("li", m.user === me ? "msg mine" : "msg");
    li.dataset.id = m.id;
    const meta = el("div", "meta");
    meta.append(el("span", "author", m.user));
    if (m.user === me) meta.append(el("span", "visually-hidden", " (you)"));
    const d = new Date(m.ts);
    if (!isNaN(d)) {
      const t = el("time", "", when(d, true));
      t.dateTime = m.ts;
      t.title = fullFmt.format(d);
      meta.append(t);
    }
    li.append(meta, el("div", "text", m.text)); // text, never HTML
    return li;
  }

  // The first item of the list: a button for older messages, or where the room begins.
  const marker = el("li", "list-start");
  const olderButton = el("button", "", "Load older messages");
  olderButton.type = "button";
  olderButton.addEventListener("click", () => on.loadOlder());

  function updateMarker() {
    const r = state.rooms.get(state.current), name = state.current;
    if (!r || !primed(r)) marker.replaceChildren(on.connected() ? "Loading…" : "Waiting for the connection…");
    else if (r.noMore) marker.replaceChildren(r.msgs.size ? "This is the start of #" + name + "." : "No messages in #" + name + " yet. Say hello!");
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

  function renderMessages() {
    const r = state.rooms.get(state.current);
    const msgs = r ? [...r.msgs.values()].sort((a, b) => a.id - b.id) : [];
    updateMarker();
    ui.list.replaceChildren(marker, ...msgs.map(item));
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
      b.append(el("span", "room-name", "#" + name), el("time", "room-time"), badge);
      li.append(b);
      roomItems.set(name, li);
    }
    return li;
  }

  function fillRoom(name, lastTs, unread) {
    const li = roomItem(name);
    const b = li.firstChild;
    const [, time, badge] = b.children;
    if (name === state.current) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
    b.classList.toggle("joined", state.rooms.has(name));
    if (lastTs) {
      time.textContent = when(lastTs, false);
      time.dateTime = lastTs.toISOString();
      time.title = "Last message " + fullFmt.format(lastTs);
    } else {
      time.textContent = "";
      time.removeAttribute("datetime");
      time.removeAttribute("title");
    }
    time.hidden = unread > 0;
    badge.hidden = unread === 0;
    badge.firstChild.textContent = String(unread);
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
      return fillRoom(name, state.lastActivity(name), r.unread);
    }));
    const others = [...state.known.keys()].filter((name) => !state.rooms.has(name));
    syncList(ui.others, others.map((name) => fillRoom(name, state.lastActivity(name), 0)));
    ui.others.hidden = ui.othersHeading.hidden = others.length === 0;
    ui.toggleUnread.hidden = total === 0;
    ui.toggleUnread.querySelector(".count").textContent = String(total);
    document.title = total ? "(" + total + ") " + baseTitle : baseTitle;
  }

  function renderOnline() {
    const r = state.rooms.get(state.current);
    const users = r ? r.users : [];
    const count = r && r.userCount > users.length ? r.userCount : users.length;
    const more = count - users.length;
    ui.online.replaceChildren(...users.map((u) => el("li", u === me ? "self" : "", u)),
      ...(more > 0 ? [el("li", "more", "and " + more + " more")] : []));
    ui.onlineHeading.replaceChildren("Online", el("span", "visually-hidden", " in #" + state.current), " (" + count + ")");
    ui.onlineSummary.textContent = count ? count + " online: " + users.join(", ") + (more > 0 ? " and " + more + " more" : "") : "";
  }

  // showRoom labels the page for the shown room.
  function showRoom() {
    const name = state.current;
    ui.title.textContent = "#" + name;
    ui.list.setAttribute("aria-label", "Messages in #" + name);
    ui.text.placeholder = "Message #" + name;
  }

  function announce(text) {
    ui.announcer.append(el("p", "", text));
    while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild.remove();
  }

  let noticeTimer = 0;
  // showNotice shows a notice made of strings and elements (never HTML).
  function showNotice(...parts) {
    ui.notice.replaceChildren(...parts);
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { ui.notice.textContent = ""; }, 10000);
  }

  function clearNotice() {
    ui.notice.textContent = "";
  }

  // showBanner shows or hides the reconnecting banner, and says so once.
  function showBanner(lost) {
    if (ui.banner.hidden !== lost) return;
    ui.banner.hidden = !lost;
    announce(lost ? "Connection lost. Reconnecting." : "Reconnected.");
  }

  return {
    atBottom, scrollToBottom, setNewBelow, newBelow: () => newBelow,
    updateMarker, renderMessages, insertMessages, loadOlderIfNeeded,
    renderRooms, renderOnline, showRoom, announce, showNotice, clearNotice, showBanner,
  };
}
