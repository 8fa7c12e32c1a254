// The page's one socket: connecting, reconnecting with backoff, and telling
// a server that is down from a session that has ended. Frames are handed to
// the caller; this module knows nothing of rooms.

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

  // probe tells a server that is down (keep trying) from a session that has
  // ended while the socket was away (log in again).
  async function probe() {
    try {
      const res = await fetch("/", { redirect: "manual", cache: "no-store", credentials: "same-origin" });
      if (res.type === "opaqueredirect" || res.status === 401) { conn.toLogin(); return; }
    } catch { /* not reachable: retry */ }
    retryLater(0);
  }

  // retryLater reconnects after an exponential backoff with jitter.
  function retryLater(code) {
    if (conn.leaving || retryTimer || ws) return;
    // 1008: the server saw abuse; do not come straight back.
    const base = code === 1008 ? 60000 : Math.min(15000, 500 * 2 ** attempts);
    attempts = Math.min(attempts + 1, 10);
    retryTimer = setTimeout(connect, base / 2 + Math.random() * base / 2);
  }

  return conn;
}
