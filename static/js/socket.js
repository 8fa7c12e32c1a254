// The page's one socket: connecting, reconnecting with backoff, and telling
// a server that is down or busy from a session that has ended. Frames are
// handed to the caller; this module knows nothing of rooms.

import { backoffDelay, reservationDelay, retryAfterMs, ABUSE_WAIT_MS } from "./backoff.js";

// createSocket returns the connection. on has the caller's handlers:
// frame(f) for each frame, batch() after each socket message's frames,
// closed(code) when the socket closes (before any reconnecting).
export function createSocket(on) {
  let ws = null;
  let attempts = 0, retryTimer = 0;

  const conn = {
    connected: false, // the server has said welcome on this socket
    leaving: false, // the page is going away: no reconnecting
    socketNo: 0, // counts the sockets this page has opened

    // send sends obj on the socket; it reports whether it went out.
    send(obj) {
      if (ws && conn.connected) { ws.send(JSON.stringify(obj)); return true; }
      return false;
    },

    // welcomed marks the connection up once the server has said welcome.
    welcomed() {
      conn.connected = true;
      attempts = 0;
    },

    connect,

    retryNow() {
      if (ws || conn.leaving) return;
      attempts = 0;
      connect();
    },

    toLogin() {
      if (conn.leaving) return;
      conn.leaving = true;
      location.replace("/login?next=" + encodeURIComponent(location.pathname + location.search));
    },
  };

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    let opened = false;
    conn.socketNo++;
    const sock = new WebSocket((location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/ws");
    ws = sock;
    sock.onopen = () => { opened = true; };
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      for (const line of String(ev.data).split("\n")) {
        if (!line) continue;
        let f;
        try { f = JSON.parse(line); } catch { continue; }
        on.frame(f);
      }
      on.batch();
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      conn.connected = false;
      on.closed(ev.code);
      if (conn.leaving) return;
      if (ev.code === 4401) { conn.toLogin(); return; }
      if (opened) retryLater(ev.code);
      else probe(); // the handshake failed: the server is down, or the session is over
    };
  }

  // probe asks why a handshake failed, since a WebSocket shows the page
  // neither the status nor the headers of a refused one: GET /ws/ready
  // answers as the handshake would have, without waiting. 401: the session
  // has ended (log in again); 503: too many sockets are opening at once
  // (come back at its Retry-After, the place the server reserved for this
  // page); no answer: the server is down (keep trying).
  async function probe() {
    let reserved = 0;
    try {
      const res = await fetch("/ws/ready", { cache: "no-store", credentials: "same-origin" });
      if (res.status === 401) { conn.toLogin(); return; }
      if (res.status === 503) reserved = retryAfterMs(res.headers.get("Retry-After"));
    } catch { /* not reachable: retry */ }
    retryLater(0, reserved);
  }

  // retryLater reconnects: reserved ms later (a busy server's Retry-After),
  // plus a random share of at most a second; without one, after an
  // exponential backoff with full jitter.
  function retryLater(code, reserved = 0) {
    if (conn.leaving || retryTimer || ws) return;
    let delay;
    if (reserved > 0) delay = reservationDelay(reserved);
    // 1008: the server saw abuse; do not come straight back.
    else if (code === 1008) delay = backoffDelay(attempts, ABUSE_WAIT_MS);
    else delay = backoffDelay(attempts);
    attempts = Math.min(attempts + 1, 30);
    retryTimer = setTimeout(connect, delay);
  }

  return conn;
}
