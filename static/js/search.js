// Searching messages (docs/PROTOCOL.md, Search): the search box over the
// message list, its results (room, author, time, the text with what matched
// marked), more of them on demand, and a result opened in its room.

import { el, clip, roomText } from "./view.js";

const when = new Intl.DateTimeFormat([], { dateStyle: "medium", timeStyle: "short" });
const pageSize = 20;

// createSearch wires the search box (ui.searchForm, ui.search) and the
// results panel (ui.searchPanel, ui.results, ui.searchMore, ui.searchClose,
// ui.searchHeading). send(frame) sends on the socket (false when offline);
// open(message) shows a result in its room.
export function createSearch(ui, state, send, open) {
  let query = "";
  let ref = "";
  let refs = 0;
  let last = 0; // the oldest result shown: the next page is before it
  const shown = new Map(); // id -> result message, for the click

  function ask(before) {
    ref = "s-" + ++refs;
    const f = { type: "search", query, limit: pageSize, ref };
    if (before) f.before = before;
    return send(f);
  }

  ui.searchForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = ui.search.value.trim();
    if (!q) { close(); return; }
    query = q;
    last = 0;
    shown.clear();
    ui.results.replaceChildren();
    ui.searchMore.hidden = true;
    ui.searchPanel.hidden = false;
    ui.searchHeading.textContent = ask(0) ? "Searching for “" + q + "”…" : "Not connected: search again once the connection is back.";
  });
  ui.searchMore.addEventListener("click", () => {
    if (last && ask(last)) ui.searchMore.disabled = true;
  });
  ui.searchClose.addEventListener("click", () => { close(); ui.search.focus(); });
  ui.searchPanel.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { ev.stopPropagation(); close(); ui.search.focus(); }
  });
  ui.search.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && !ui.searchPanel.hidden) { ev.stopPropagation(); close(); }
  });
  ui.results.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-id]");
    const m = b && shown.get(Number(b.dataset.id));
    if (!m) return;
    close();
    open(m);
  });

  function close() {
    ref = "";
    ui.searchPanel.hidden = true;
  }

  // results takes a results frame: the answer to the latest search only.
  function results(f) {
    if (f.ref !== ref || !Array.isArray(f.messages)) return;
    const first = !last;
    const items = [];
    for (const m of f.messages) {
      if (!m || !Number.isInteger(m.id) || typeof m.room !== "string" || shown.has(m.id)) continue;
      shown.set(m.id, m);
      items.push(item(m));
      if (!last || m.id < last) last = m.id;
    }
    ui.results.append(...items);
    const n = shown.size;
    ui.searchHeading.textContent = n ? n + (f.more ? "+" : "") + (n === 1 ? " result" : " results") + " for “" + query + "”" : "Nothing found for “" + query + "”";
    ui.searchMore.hidden = !f.more || !last;
    ui.searchMore.disabled = false;
    if (first && items.length) items[0].querySelector("button").focus({ preventScroll: true });
  }

  function item(m) {
    const li = el("li", "result");
    const b = el("button", "result-open");
    b.type = "button";
    b.dataset.id = m.id;
    const meta = el("span", "result-meta");
    meta.append(el("span", "result-room", roomText(state.rooms.get(m.room), m.room)), el("span", "author", m.user || ""));
    const d = new Date(m.ts);
    if (!isNaN(d)) {
      const t = el("time", "", when.format(d));
      t.dateTime = m.ts;
      meta.append(t);
    }
    const text = el("span", "result-text");
    text.append(...marked(typeof m.text === "string" ? m.text : "", query));
    b.append(meta, text);
    li.append(b);
    return li;
  }

  return { results, close };
}

// marked returns text (cut around the first match when long) as text nodes,
// each place a word of q matches in a <mark>.
export function marked(text, q) {
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  const lower = text.toLowerCase();
  // Case folding can change lengths outside ASCII: then nothing is marked.
  if (lower.length !== text.length) return [document.createTextNode(clip(text, 300))];
  let start = 0;
  const firstAt = Math.min(...words.map((w) => { const i = lower.indexOf(w); return i < 0 ? Infinity : i; }));
  if (firstAt !== Infinity && firstAt > 80) start = firstAt - 60;
  const end = Math.min(text.length, start + 300);
  const spans = [];
  for (const w of words) {
    for (let i = lower.indexOf(w, start); i >= 0 && i < end; i = lower.indexOf(w, i + w.length)) spans.push([i, Math.min(end, i + w.length)]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  const out = [];
  let at = start;
  if (start > 0) out.push(document.createTextNode("…"));
  for (const [i, j] of spans) {
    if (i < at) continue;
    if (i > at) out.push(document.createTextNode(text.slice(at, i)));
    out.push(el("mark", "", text.slice(i, j)));
    at = j;
  }
  if (at < end) out.push(document.createTextNode(text.slice(at, end)));
  if (end < text.length) out.push(document.createTextNode("…"));
  return out;
}
