// The session cookie expires; while someone uses the page, it renews the
// cookie (and, on the server, the socket's life) halfway to each expiry. An
// idle page is left to expire: its socket then closes with 4401.

// keepSessionAlive renews the session on the user's activity; conn is the socket
// (for leaving and toLogin).
export function keepSessionAlive(conn) {
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
      if (res.status === 401) { conn.toLogin(); return; }
      if (!res.ok) return;
      const expires = new Date((await res.json()).expires);
      if (isNaN(expires)) return;
      clearTimeout(refreshTimer);
      // At most 24 days: beyond that setTimeout fires at once.
      const half = Math.min(Math.max(1000, (expires - Date.now()) / 2), 2 ** 31 - 1);
      refreshTimer = setTimeout(() => { refreshDue = true; }, half);
    } catch { refreshDue = true; /* try again on the next activity */ } finally { refreshing = false; }
  }

  function active(ev) {
    // A press on "Log out" is not activity: a renewal racing the logout
    // would come back 401 after it.
    if (ev.target instanceof Element && ev.target.closest("form.logout")) return;
    if (refreshDue && !refreshing && !conn.leaving) refreshSession();
  }
  document.addEventListener("keydown", active, { passive: true });
  document.addEventListener("pointerdown", active, { passive: true });
}
