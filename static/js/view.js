// Drawing the page from the state. Everything a user wrote is put in the page
// as text (textContent), never as HTML.

import { GENERAL, primed, live, LOADING } from "./state.js";

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
    li.msg = m; // for regroup
    const meta = el("div", "meta");
    meta.append(el("span", "author", m.user));
    if (m.user === me) meta.append(el("span", "visually-hidden", " (you)"));
    const d = new Date(m.ts);
    if (!isNaN(d)) {
      // The day is on the separator above: the message says the time.
      const t = el("time", "", timeFmt.format(d));
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
      const cont = !!prev && ok && prev.user === m.user && sameDay(prevDay, d) && d - new Date(prev.ts) < groupGap;
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
    // The server counts at most 999 unread messages in a room.
    badge.firstChild.textContent = unread >= 999 ? "999+" : String(unread);
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
    // Offline, or before the room's first presence frame, nobody is known to
    // be online: the list says so rather than show a count it cannot back.
    if (!on.connected() || !r || !live(r)) {
      const why = on.connected() ? "Joining…" : "Unknown while offline";
      ui.online.replaceChildren(el("li", "unknown", why));
      ui.onlineHeading.replaceChildren("Online", el("span", "visually-hidden", " in #" + state.current));
      ui.onlineSummary.textContent = on.connected() ? "" : "Offline: who is online is unknown";
      return;
    }
    const users = r.users;
    const count = r.userCount > users.length ? r.userCount : users.length;
    const more = count - users.length;
    ui.online.replaceChildren(...users.map((u) => el("li", u === me ? "self" : "", u)),
      ...(more > 0 ? [el("li", "more", (users.length ? "and " : "") + more + " more")] : []));
    ui.onlineHeading.replaceChildren("Online", el("span", "visually-hidden", " in #" + state.current), " (" + count + ")");
    ui.onlineSummary.textContent = !count ? "" : users.length ?
      count + " online: " + users.join(", ") + (more > 0 ? " and " + more + " more" : "") : count + " online";
  }

  // showRoom labels the page for the shown room.
  function showRoom() {
    const name = state.current;
    ui.title.textContent = "#" + name;
    ui.leave.hidden = name === GENERAL; // everyone is in general
    ui.leave.setAttribute("aria-label", "Leave #" + name);
    ui.list.setAttribute("aria-label", "Messages in #" + name);
    ui.text.placeholder = "Message #" + name;
  }

  function announce(text) {
    ui.announcer.append(el("p", "", text));
    while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild.remove();
  }

  let noticeTimer = 0;
  let noticeOffline = false; // the notice is about being offline: stale once connected
  // showNotice shows a notice made of strings and elements (never HTML).
  function showNotice(...parts) {
    ui.notice.replaceChildren(...parts);
    noticeOffline = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(clearNotice, 10000);
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
    renderRooms, renderOnline, showRoom, announce, showNotice, showOfflineNotice, clearNotice, showBanner,
  };
}
