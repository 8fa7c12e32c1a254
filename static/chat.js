// securechat page script: one socket, many rooms, resume by the last id seen in
// each room. The session cookie is HttpOnly: this script never sees the token.
(() => {
  "use strict";
  const me = document.body.dataset.user;
  const $ = (id) => document.getElementById(id);
  const list = $("messages"), roomsEl = $("rooms"), onlineEl = $("online");
  const banner = $("banner"), title = $("room-title"), text = $("text");

  // rooms: name -> {lastId, oldestId, unread, msgs: Map(id -> message), users, noMore}
  const rooms = new Map();
  let current = "general";
  let ws = null, attempts = 0, everConnected = false, loadingOlder = false;

  const saved = () => { try { return JSON.parse(localStorage.getItem("securechat.rooms") || "[]"); } catch { return []; } };
  const save = () => localStorage.setItem("securechat.rooms", JSON.stringify([...rooms.keys()]));

  function room(name) {
    let r = rooms.get(name);
    if (!r) {
      r = { lastId: 0, oldestId: 0, unread: 0, msgs: new Map(), users: [], noMore: false };
      rooms.set(name, r);
      save();
      renderRooms();
    }
    return r;
  }

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/ws");
    ws.onmessage = (ev) => {
      for (const line of String(ev.data).split("\n")) {
        if (!line) continue;
        let f;
        try { f = JSON.parse(line); } catch { continue; }
        handle(f);
      }
    };
    ws.onclose = (ev) => {
      ws = null;
      if (ev.code === 4401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
      banner.hidden = false;
      const delay = Math.min(15000, 500 * 2 ** attempts++) * (0.5 + Math.random() / 2);
      setTimeout(connect, delay);
    };
  }

  function handle(f) {
    switch (f.type) {
      case "welcome":
        attempts = 0;
        banner.hidden = true;
        // Resume every room where we left it; general was joined by the server.
        for (const [name, r] of rooms) {
          if (name === "general" && !everConnected) continue;
          send(r.lastId ? { type: "join", room: name, since: r.lastId } : { type: "join", room: name });
        }
        if (!everConnected) for (const name of saved()) if (!rooms.has(name)) { room(name); send({ type: "join", room: name }); }
        everConnected = true;
        room("general");
        break;
      case "message": add(f, true); break;
      case "history": {
        const r = room(f.room);
        if (f.messages.length === 0) r.noMore = true;
        for (const m of f.messages) add(m, false);
        loadingOlder = false;
        if (f.room === current) renderMessages(f.messages.length > 0 && r.oldestId === f.messages[0].id ? "keep" : "bottom");
        break;
      }
      case "joined": room(f.room); break;
      case "presence": {
        room(f.room).users = f.users;
        if (f.room === current) renderOnline();
        break;
      }
      case "error": notice(f.message); break;
    }
  }

  function add(m, live) {
    const r = room(m.room);
    if (r.msgs.has(m.id)) return;
    r.msgs.set(m.id, m);
    if (m.id > r.lastId) r.lastId = m.id;
    if (!r.oldestId || m.id < r.oldestId) r.oldestId = m.id;
    if (!live) return;
    if (m.room === current) {
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      list.append(item(m));
      if (atBottom || m.user === me) list.scrollTop = list.scrollHeight;
    } else if (m.user !== me) {
      r.unread++;
      renderRooms();
    }
  }

  function item(m) {
    const li = document.createElement("li");
    li.className = "msg" + (m.user === me ? " mine" : "");
    li.dataset.id = m.id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const who = document.createElement("span");
    who.className = "author";
    who.textContent = m.user;
    const when = document.createElement("time");
    when.dateTime = m.ts;
    when.textContent = new Date(m.ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    meta.append(who, when);
    const body = document.createElement("div");
    body.className = "text";
    body.textContent = m.text; // text, never HTML
    li.append(meta, body);
    return li;
  }

  function renderMessages(scroll) {
    const r = room(current);
    const before = list.scrollHeight - list.scrollTop;
    list.replaceChildren(...[...r.msgs.values()].sort((a, b) => a.id - b.id).map(item));
    if (scroll === "keep") list.scrollTop = list.scrollHeight - before;
    else list.scrollTop = list.scrollHeight;
  }

  function renderRooms() {
    roomsEl.replaceChildren(...[...rooms.entries()].map(([name, r]) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.room = name;
      if (name === current) b.setAttribute("aria-current", "true");
      const label = document.createElement("span");
      label.textContent = "#" + name;
      b.append(label);
      if (r.unread > 0) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = r.unread;
        badge.setAttribute("aria-label", r.unread + " unread");
        b.append(badge);
      }
      b.onclick = () => select(name);
      li.append(b);
      return li;
    }));
  }

  function renderOnline() {
    onlineEl.replaceChildren(...room(current).users.map((u) => {
      const li = document.createElement("li");
      li.textContent = u;
      return li;
    }));
  }

  function select(name) {
    current = name;
    const r = room(name);
    r.unread = 0;
    title.textContent = "#" + name;
    renderRooms(); renderMessages("bottom"); renderOnline();
    $("sidebar").classList.remove("open");
    $("rooms-toggle").setAttribute("aria-expanded", "false");
    text.focus();
  }

  function notice(msg) {
    const li = document.createElement("li");
    li.className = "notice";
    li.setAttribute("role", "alert");
    li.textContent = msg;
    list.append(li);
    list.scrollTop = list.scrollHeight;
  }

  $("send-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = text.value.trim();
    if (!t) return;
    if (send({ type: "send", room: current, text: t })) text.value = "";
    else notice("Not connected; your message was kept. Send it again when the banner goes away.");
  });
  text.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $("send-form").requestSubmit();
    }
  });
  $("join-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("join-room");
    const name = input.value.trim().toLowerCase();
    if (!/^[a-z0-9_-]{1,64}$/.test(name)) { notice("A room name is 1 to 64 of a-z, 0-9, - and _."); return; }
    if (!rooms.has(name)) { room(name); send({ type: "join", room: name }); }
    input.value = "";
    select(name);
  });
  $("rooms-toggle").addEventListener("click", () => {
    const open = $("sidebar").classList.toggle("open");
    $("rooms-toggle").setAttribute("aria-expanded", String(open));
  });
  list.addEventListener("scroll", () => {
    const r = room(current);
    if (list.scrollTop < 60 && !loadingOlder && !r.noMore && r.oldestId) {
      loadingOlder = send({ type: "history", room: current, before: r.oldestId, limit: 50 });
    }
  });

  room("general");
  connect();
})();
