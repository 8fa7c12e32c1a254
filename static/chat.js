// securechat page script: one socket, many rooms, resume by the last id seen in
// each room (docs/PROTOCOL.md). The session cookie is HttpOnly: this script
// never sees the token. Everything a user wrote is put in the page as text
// (textContent), never as HTML.
(() => {
  "use strict";

  const me = document.body.dataset.user;
  const $ = (id) => document.getElementById(id);
  const ui = {
    list: $("messages"), rooms: $("rooms"), others: $("other-rooms"), othersHeading: $("other-heading"),
    online: $("online"), onlineHeading: $("online-heading"), onlineSummary: $("online-summary"),
    banner: $("banner"), retry: $("retry"), title: $("room-title"), text: $("text"),
    hint: $("new-hint"), notice: $("notice"), announcer: $("announcer"),
    layout: $("layout"), sidebar: $("sidebar"), toggle: $("rooms-toggle"), toggleUnread: $("toggle-unread"),
    sendForm: $("send-form"), joinForm: $("join-form"), joinInput: $("join-room"),
    covered: document.querySelectorAll(".conversation, .online"),
  };

  const PAGE = 50; // messages per history request; also what the server sends on a join
  const GENERAL = "general";
  const ROOM_NAME = /^[a-z0-9_-]{1,64}$/;
  const storeKey = "securechat." + me + ".";
  const baseTitle = document.title;
  const narrow = window.matchMedia("(max-width: 760px)");

  // Rooms this page is in, in the order they were joined (general first):
  // name -> {msgs: Map(id -> message), lastId, oldestId, unread, users,
  //          noMore, ready, primed, loading, lastTs}
  const rooms = new Map();
  // Every room the server knows, from the last "rooms" frame: name -> {lastId, at}.
  const known = new Map();
  // The server answers "rooms" a page at a time (the most active first); while
  // the join box holds the start of a room name, the page asks only for the
  // rooms whose names start with it, so a search reaches rooms past the first page.
  let roomFilter = "", filterTimer = 0;
  function requestRooms() {
    send(roomFilter ? { type: "rooms", prefix: roomFilter } : { type: "rooms" });
  }
  function filterRooms(text) {
    const v = text.trim().toLowerCase();
    const next = ROOM_NAME.test(v) ? v : "";
    if (next === roomFilter) return;
    roomFilter = next;
    clearTimeout(filterTimer);
    filterTimer = setTimeout(requestRooms, 250); // one request when typing pauses
  }
  let current = GENERAL;
  let ws = null, connected = false, everConnected = false, leaving = false;
  let attempts = 0, retryTimer = 0, roomsTimer = 0;
  let newBelow = 0; // live messages that arrived below the reader's scroll position
  // Messages sent and not yet acknowledged (the stored message coming back):
  // {room, text, socket}. A refused one goes back into the message box.
  const pending = [];
  let socketNo = 0;
  // Joins still to be answered on this socket before every room has caught
  // up with what was missed: room -> count.
  const catchingUp = new Map();

  // ---- state ---------------------------------------------------------------

  function addRoom(name) {
    let r = rooms.get(name);
    if (!r) {
      r = { msgs: new Map(), lastId: 0, oldestId: 0, unread: 0, users: [], noMore: false,
        ready: false, primed: false, loading: false, lastTs: null };
      rooms.set(name, r);
      save();
    }
    return r;
  }

  function saved(key) {
    try { return localStorage.getItem(storeKey + key); } catch { return null; }
  }
  function save() {
    try {
      localStorage.setItem(storeKey + "rooms", JSON.stringify([...rooms.keys()]));
      localStorage.setItem(storeKey + "current", current);
    } catch { /* storage off: the page still works, it just forgets */ }
  }

  // addMessage stores m once; it reports whether m was new to the page.
  function addMessage(r, m) {
    if (r.msgs.has(m.id)) return false;
    r.msgs.set(m.id, m);
    if (m.id > r.lastId) r.lastId = m.id;
    if (!r.oldestId || m.id < r.oldestId) r.oldestId = m.id;
    const ts = new Date(m.ts);
    if (!isNaN(ts) && (!r.lastTs || ts > r.lastTs)) r.lastTs = ts;
    return true;
  }

  // ---- socket --------------------------------------------------------------

  function send(obj) {
    if (ws && connected) { ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  function join(name) {
    const r = rooms.get(name);
    send(r.lastId ? { type: "join", room: name, since: r.lastId } : { type: "join", room: name });
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    let opened = false;
    socketNo++;
    const sock = new WebSocket((location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/ws");
    ws = sock;
    sock.onopen = () => { opened = true; };
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      for (const line of String(ev.data).split("\n")) {
        if (!line) continue;
        let f;
        try { f = JSON.parse(line); } catch { continue; }
        handle(f);
      }
      flush();
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      connected = false;
      clearInterval(roomsTimer);
      // Who is online is unknown until the server says again.
      for (const r of rooms.values()) { r.ready = false; r.loading = false; r.users = []; }
      if (leaving) return;
      renderOnline();
      if (ev.code === 4401) { toLogin(); return; }
      if (ui.banner.hidden) {
        ui.banner.hidden = false;
        announce("Connection lost. Reconnecting.");
      }
      updateMarker();
      if (opened) retryLater(ev.code);
      else probe(); // the handshake failed: the server is down, or the session is over
    };
  }

  // probe tells a server that is down (keep trying) from a session that has
  // ended while the socket was away (log in again).
  async function probe() {
    try {
      const res = await fetch("/", { redirect: "manual", cache: "no-store", credentials: "same-origin" });
      if (res.type === "opaqueredirect" || res.status === 401) { toLogin(); return; }
    } catch { /* not reachable: retry */ }
    retryLater(0);
  }

  // retryLater reconnects after an exponential backoff with jitter.
  function retryLater(code) {
    if (leaving || retryTimer || ws) return;
    // 1008: the server saw abuse; do not come straight back.
    const base = code === 1008 ? 60000 : Math.min(15000, 500 * 2 ** attempts);
    attempts = Math.min(attempts + 1, 10);
    retryTimer = setTimeout(connect, base / 2 + Math.random() * base / 2);
  }

  function retryNow() {
    if (ws || leaving) return;
    attempts = 0;
    connect();
  }

  function toLogin() {
    if (leaving) return;
    leaving = true;
    location.replace("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }

  // ---- frames --------------------------------------------------------------

  // What one socket message changed, drawn once by flush.
  const dirty = { rooms: false, online: false, marker: false, add: [], follow: false, fresh: [] };

  function handle(f) {
    switch (f.type) {
      case "welcome": {
        const reconnect = everConnected;
        connected = true;
        everConnected = true;
        attempts = 0;
        if (!ui.banner.hidden) {
          ui.banner.hidden = true;
          announce("Reconnected.");
        }
        // The server has joined general and is sending its newest messages.
        // Every other room is joined again, resuming after the last id seen;
        // general too, to fill a gap longer than what it sends on connect.
        requestRooms();
        catchingUp.clear();
        catchingUp.set(GENERAL, 1);
        for (const name of rooms.keys()) {
          if (name !== GENERAL || (reconnect && rooms.get(name).lastId)) {
            join(name);
            catchingUp.set(name, (catchingUp.get(name) || 0) + 1);
          }
        }
        clearInterval(roomsTimer);
        roomsTimer = setInterval(requestRooms, 60000);
        dirty.marker = true; // the start of the list tells the connection state
        break;
      }
      case "history": {
        const r = rooms.get(f.room);
        if (!r || !Array.isArray(f.messages)) break;
        // After "joined", a history frame answers this page's request for
        // older messages; before it, it is what the server sends on a join.
        if (r.ready) r.loading = false;
        const last = r.lastId;
        for (const m of f.messages) {
          if (m.user === me) acknowledged(m);
          if (addMessage(r, m)) placed(r, m, r.primed && m.id > last);
        }
        if (f.messages.length < PAGE) r.noMore = true;
        r.primed = true;
        if (f.room === current) dirty.marker = true;
        dirty.rooms = true;
        break;
      }
      case "message": {
        const r = rooms.get(f.room);
        if (!r) break;
        const last = r.lastId;
        if (f.user === me) acknowledged(f);
        if (addMessage(r, f)) placed(r, f, r.primed && f.id > last);
        break;
      }
      case "joined": {
        const r = rooms.get(f.room);
        if (!r) break;
        r.ready = true;
        r.primed = true;
        if (f.last_id > r.lastId) r.lastId = f.last_id;
        if (!known.has(f.room)) requestRooms();
        if (f.room === current) dirty.marker = true;
        const due = catchingUp.get(f.room);
        if (due) {
          if (due > 1) catchingUp.set(f.room, due - 1);
          else catchingUp.delete(f.room);
          // Every room has replayed what was stored: what an earlier socket
          // sent and never saw come back was lost with it.
          if (catchingUp.size === 0) notSent((p) => p.socket < socketNo, "The connection dropped before it was stored.");
        }
        break;
      }
      case "presence": {
        const r = rooms.get(f.room);
        if (!r) break;
        r.users = Array.isArray(f.users) ? f.users : [];
        // A large room lists some of its users and counts them all.
        r.userCount = Number.isInteger(f.count) ? f.count : r.users.length;
        if (f.room === current) dirty.online = true;
        break;
      }
      case "rooms":
        // An answer for what the join box held before the user typed on.
        if ((f.prefix || "") !== roomFilter) break;
        known.clear();
        for (const k of f.rooms || []) {
          const at = new Date(k.last_activity);
          known.set(k.name, { lastId: k.last_id, at: isNaN(at) ? null : at });
        }
        dirty.rooms = true;
        break;
      case "error":
        if (SEND_ERRORS.has(f.code) && pending.length) {
          // Errors carry no reference; the newest send is the likeliest refused.
          const p = pending[pending.length - 1];
          notSent((q) => q === p, f.message);
        } else {
          showNotice(f.message || "The server refused that.");
        }
        break;
    }
  }

  // Error codes that answer a send.
  const SEND_ERRORS = new Set(["rate_limited", "bad_text", "not_joined", "unavailable"]);

  function acknowledged(m) {
    const i = pending.findIndex((p) => p.room === m.room && p.text === m.text);
    if (i >= 0) pending.splice(i, 1);
  }

  // notSent drops the pending sends that match and puts the newest of them
  // back in the message box, if the box is empty, so nothing typed is lost.
  function notSent(match, why) {
    const lost = pending.filter(match);
    if (!lost.length) return;
    for (const p of lost) pending.splice(pending.indexOf(p), 1);
    const p = lost[lost.length - 1];
    const head = (lost.length > 1 ? lost.length + " messages were not sent: " : "Your message was not sent: ") +
      (why || "the server refused it.");
    if (!ui.text.value && p.room === current) {
      ui.text.value = p.text;
      showNotice(head + " It is back in the message box.");
    } else {
      // The text sits in a sentence: <bdi> keeps a bidirectional override in
      // it from reordering the words after it.
      showNotice(head + " It was: “", el("bdi", "", clip(p.text, 80)), "” in #" + p.room + ".");
    }
  }

  // placed files a message that was new to the page: into the view when it is
  // in the current room, else into the room's unread count.
  function placed(r, m, live) {
    if (m.room === current) {
      dirty.add.push(m);
      if (live && m.user === me) dirty.follow = true;
      if (live && m.user !== me) dirty.fresh.push(m);
    } else if (live && m.user !== me) {
      r.unread++;
    }
    dirty.rooms = true;
  }

  function flush() {
    if (dirty.add.length) insertMessages(dirty.add, dirty.follow, dirty.fresh.length);
    else if (dirty.marker) { updateMarker(); loadOlderIfNeeded(); }
    if (dirty.rooms) renderRooms();
    if (dirty.online) renderOnline();
    if (dirty.fresh.length > 3) announce(dirty.fresh.length + " new messages in #" + current);
    else for (const m of dirty.fresh) announce(m.user + ": " + clip(m.text, 300));
    dirty.rooms = dirty.online = dirty.marker = dirty.follow = false;
    dirty.add = [];
    dirty.fresh = [];
  }

  // ---- drawing -------------------------------------------------------------

  const timeFmt = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });
  const dayFmt = new Intl.DateTimeFormat([], { month: "short", day: "numeric" });
  const fullFmt = new Intl.DateTimeFormat([], { dateStyle: "full", timeStyle: "medium" });
  const sameDay = (a, b) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

  function when(d, withTime) {
    if (sameDay(d, new Date())) return timeFmt.format(d);
    return withTime ? dayFmt.format(d) + ", " + timeFmt.format(d) : dayFmt.format(d);
  }

  function clip(s, n) {
    return s.length > n ? s.slice(0, n) + "…" : s;
  }

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

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
  olderButton.addEventListener("click", () => loadOlder());

  function updateMarker() {
    const r = rooms.get(current);
    if (!r || !r.primed) marker.replaceChildren(connected ? "Loading…" : "Waiting for the connection…");
    else if (r.noMore) marker.replaceChildren(r.msgs.size ? "This is the start of #" + current + "." : "No messages in #" + current + " yet. Say hello!");
    else if (r.loading) marker.replaceChildren("Loading older messages…");
    else if (!r.ready) marker.replaceChildren("Older messages load once connected.");
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
    const r = rooms.get(current);
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

  function loadOlder() {
    const r = rooms.get(current);
    if (!r || !r.ready || r.loading || r.noMore || !r.oldestId) return;
    r.loading = send({ type: "history", room: current, before: r.oldestId, limit: PAGE });
    updateMarker();
  }

  // loadOlderIfNeeded fetches older messages when the reader is near the top,
  // or when what is shown does not fill the list (there is no scrolling up then).
  function loadOlderIfNeeded() {
    const list = ui.list;
    if (list.scrollTop < 120 || list.scrollHeight <= list.clientHeight + 1) loadOlder();
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
    if (name === current) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
    b.classList.toggle("joined", rooms.has(name));
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

  function lastActivity(name) {
    const r = rooms.get(name), k = known.get(name);
    let at = k && k.lastId ? k.at : null;
    if (r && r.lastTs && (!at || r.lastTs > at)) at = r.lastTs;
    return at;
  }

  function renderRooms() {
    let total = 0;
    syncList(ui.rooms, [...rooms.entries()].map(([name, r]) => {
      total += r.unread;
      return fillRoom(name, lastActivity(name), r.unread);
    }));
    const others = [...known.keys()].filter((name) => !rooms.has(name));
    syncList(ui.others, others.map((name) => fillRoom(name, lastActivity(name), 0)));
    ui.others.hidden = ui.othersHeading.hidden = others.length === 0;
    ui.toggleUnread.hidden = total === 0;
    ui.toggleUnread.querySelector(".count").textContent = String(total);
    document.title = total ? "(" + total + ") " + baseTitle : baseTitle;
  }

  function renderOnline() {
    const r = rooms.get(current);
    const users = r ? r.users : [];
    const count = r && r.userCount > users.length ? r.userCount : users.length;
    const more = count - users.length;
    ui.online.replaceChildren(...users.map((u) => el("li", u === me ? "self" : "", u)),
      ...(more > 0 ? [el("li", "more", "and " + more + " more")] : []));
    ui.onlineHeading.replaceChildren("Online", el("span", "visually-hidden", " in #" + current), " (" + count + ")");
    ui.onlineSummary.textContent = count ? count + " online: " + users.join(", ") + (more > 0 ? " and " + more + " more" : "") : "";
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

  // ---- actions -------------------------------------------------------------

  function select(name) {
    if (!rooms.has(name)) {
      addRoom(name);
      if (connected) join(name);
    }
    current = name;
    rooms.get(name).unread = 0;
    save();
    ui.title.textContent = "#" + name;
    ui.list.setAttribute("aria-label", "Messages in #" + name);
    ui.text.placeholder = "Message #" + name;
    renderMessages();
    renderRooms();
    renderOnline();
    const drawer = closeDrawer();
    if (drawer && narrow.matches) ui.title.focus();
    else ui.text.focus();
  }

  function openDrawer() {
    ui.sidebar.classList.add("open");
    ui.layout.classList.add("drawer-open");
    ui.toggle.setAttribute("aria-expanded", "true");
    // What the drawer covers is out of reach until it closes.
    for (const e of ui.covered) e.inert = true;
    requestRooms();
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
    const r = rooms.get(current);
    if (!connected) { showNotice("Not connected. Your message is kept: send it again once the connection is back."); return; }
    if (!r.ready) { showNotice("Still joining #" + current + ". Your message is kept: send it again in a moment."); return; }
    if (send({ type: "send", room: current, text: t })) {
      pending.push({ room: current, text: t, socket: socketNo });
      ui.text.value = "";
      ui.notice.textContent = "";
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
    if (!ROOM_NAME.test(name)) { showNotice("A room name is 1 to 64 of a-z, 0-9, - and _."); return; }
    ui.joinInput.value = "";
    filterRooms("");
    select(name);
  });
  ui.joinInput.addEventListener("input", () => filterRooms(ui.joinInput.value));
  ui.sidebar.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-room]");
    if (b) select(b.dataset.room);
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
    stick = atBottom();
    if (newBelow && stick) setNewBelow(0);
    loadOlderIfNeeded();
  }, { passive: true });
  if (window.ResizeObserver) {
    new ResizeObserver(() => { if (stick) ui.list.scrollTop = ui.list.scrollHeight; }).observe(ui.list);
  }
  ui.hint.addEventListener("click", () => { scrollToBottom(); ui.text.focus(); });
  ui.retry.addEventListener("click", retryNow);
  window.addEventListener("online", retryNow);
  window.addEventListener("pagehide", () => { leaving = true; });
  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted) { leaving = false; retryNow(); }
  });

  // ---- session -------------------------------------------------------------

  // The session cookie expires; while someone uses the page, it renews the
  // cookie (and, on the server, the socket's life) halfway to each expiry. An
  // idle page is left to expire: its socket then closes with 4401.
  const csrf = document.querySelector('form.logout input[name="_csrf"]');
  let refreshDue = true, refreshing = false, refreshTimer = 0;

  async function refreshSession() {
    refreshDue = false;
    refreshing = true;
    try {
      const res = await fetch("/session/refresh", {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { Accept: "application/json" }, body: new URLSearchParams({ _csrf: csrf ? csrf.value : "" }),
      });
      if (res.status === 401) { toLogin(); return; }
      if (!res.ok) return;
      const expires = new Date((await res.json()).expires);
      if (isNaN(expires)) return;
      clearTimeout(refreshTimer);
      // At most 24 days: beyond that setTimeout fires at once.
      const half = Math.min(Math.max(1000, (expires - Date.now()) / 2), 2 ** 31 - 1);
      refreshTimer = setTimeout(() => { refreshDue = true; }, half);
    } catch { refreshDue = true; /* try again on the next activity */ } finally { refreshing = false; }
  }

  function active() {
    if (refreshDue && !refreshing && !leaving) refreshSession();
  }
  document.addEventListener("keydown", active, { passive: true });
  document.addEventListener("pointerdown", active, { passive: true });

  // ---- start ---------------------------------------------------------------

  addRoom(GENERAL);
  let restored = [];
  try { restored = JSON.parse(saved("rooms") || "[]"); } catch { /* ignore */ }
  if (Array.isArray(restored)) for (const name of restored) if (typeof name === "string" && ROOM_NAME.test(name)) addRoom(name);
  const last = saved("current");
  current = last && rooms.has(last) ? last : GENERAL;
  ui.title.textContent = "#" + current;
  ui.list.setAttribute("aria-label", "Messages in #" + current);
  ui.text.placeholder = "Message #" + current;
  renderMessages();
  renderRooms();
  renderOnline();
  connect();
})();
