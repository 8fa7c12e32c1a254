// Telling the reader what needs them when they are not looking: the tab's
// title and icon carry the total unread, and a browser notification comes
// for a mention or a direct message while the page is hidden. Permission is
// asked for only when the user clicks the button for it, never on load.

// The icon is drawn as an SVG data: URL (the Content-Security-Policy allows
// data: images; no script runs in it): static/favicon.svg with a badge.
const iconBase = '<rect width="32" height="32" rx="7" fill="#2f6fde"/><path d="M8 10h16v9H14l-5 4v-4H8z" fill="#fff"/>';

// iconURL is the favicon with the count n in a red badge (none for 0).
export function iconURL(n) {
  let badge = "";
  if (n > 0) {
    const text = n > 99 ? "99+" : String(n);
    const size = text.length > 2 ? 11 : 14;
    badge = '<circle cx="22" cy="10" r="10" fill="#d93025"/>' +
      '<text x="22" y="10" dy=".35em" text-anchor="middle" font-family="Arial,sans-serif" font-weight="700" font-size="' + size + '" fill="#fff">' + text + "</text>";
  }
  return "data:image/svg+xml," + encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">' + iconBase + badge + "</svg>");
}

// createNotifier returns what shows the total and sends notifications.
// button is the "Enable notifications" control; open(room) shows a room.
export function createNotifier(button, open) {
  const baseTitle = document.title;
  let shown = -1;
  const link = document.querySelector('link[rel="icon"]');
  const notified = new Set(); // message ids already notified (a dm mention comes twice)

  // api is the browser's Notification, looked up on each use.
  const api = () => (typeof window.Notification === "function" ? window.Notification : null);

  function refreshButton() {
    const N = api();
    button.hidden = !N || N.permission === "granted";
    button.querySelector(".notify-label").textContent = N && N.permission === "denied" ? "Notifications blocked" : "Enable notifications";
    button.title = N && N.permission === "denied" ? "Allow notifications for this site in the browser's settings" : "Be told of mentions and direct messages while this page is in the background";
  }

  button.addEventListener("click", async () => {
    const N = api();
    if (!N) return;
    try { await N.requestPermission(); } catch { /* an old browser: a callback form; nothing to do */ }
    refreshButton();
  });
  refreshButton();

  return {
    // total shows n unread in the title and the icon.
    total(n) {
      if (n === shown) return;
      shown = n;
      document.title = n ? "(" + (n > 99 ? "99+" : n) + ") " + baseTitle : baseTitle;
      if (link) link.href = n ? iconURL(n) : "/static/favicon.svg";
    },

    // notify shows a notification for message id while the page is hidden:
    // title names the room and the author, body is the text.
    notify(id, room, title, body) {
      const N = api();
      if (document.visibilityState !== "hidden" || !N || N.permission !== "granted" || notified.has(id)) return;
      notified.add(id);
      if (notified.size > 500) notified.delete(notified.values().next().value);
      try {
        const n = new N(title, { body: body.length > 200 ? body.slice(0, 200) + "…" : body, tag: room + ":" + id });
        n.onclick = () => { window.focus(); open(room); n.close?.(); };
      } catch { /* a browser that only notifies from a service worker */ }
    },
  };
}
