// A message's text as page nodes: text nodes, links and the reader's
// mentions, built element by element (never innerHTML). The only markup a
// text can make is an <a> for an http or https URL and a <mark> for
// @reader; everything else, a javascript: or data: URL included, stays the
// characters it is.

// An account name after @, as the server reads mentions (app/chat/notify.go):
// not inside a word (an address such as bob@example.com mentions no one).
const mentionRe = /(?<![A-Za-z0-9_-])@([A-Za-z0-9_-]+)/g;
const maxName = 32;
// A link starts with http:// or https:// and runs to white space or a
// character that cannot be in a written URL; punctuation that ends a
// sentence is not part of it.
const linkRe = /\bhttps?:\/\/[^\s<>"'`\u0000-\u001f\u007f]+/gi;
const trailing = /[.,;:!?)\]}'"»”’]+$/;

// mentions lists the lower-cased names text mentions.
export function mentionsIn(text) {
  const out = [];
  for (const m of String(text).matchAll(mentionRe)) {
    if (m[1].length <= maxName) out.push(m[1].toLowerCase());
  }
  return out;
}

// mentionsUser reports whether text mentions user.
export function mentionsUser(text, user) {
  return !!user && mentionsIn(text).includes(user.toLowerCase());
}

// safeHref returns the URL if it is http or https, else "".
export function safeHref(s) {
  let u;
  try { u = new URL(s); } catch { return ""; }
  return u.protocol === "http:" || u.protocol === "https:" ? u.href : "";
}

// textNodes returns text as nodes: links clickable (opening in a new tab,
// telling the target neither this page nor where the reader came from) and
// @me marked.
export function textNodes(text, me) {
  const out = [];
  const s = String(text);
  let at = 0;
  for (const m of s.matchAll(linkRe)) {
    let url = m[0];
    const cut = url.match(trailing);
    if (cut) url = url.slice(0, url.length - cut[0].length);
    const href = safeHref(url);
    if (!href) continue;
    if (m.index > at) out.push(...mentionNodes(s.slice(at, m.index), me));
    const a = document.createElement("a");
    a.href = href;
    a.textContent = url;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    out.push(a);
    at = m.index + url.length;
  }
  if (at < s.length) out.push(...mentionNodes(s.slice(at), me));
  return out;
}

// mentionNodes returns s as text, with each @me in a <mark>.
function mentionNodes(s, me) {
  const out = [];
  const mine = (me || "").toLowerCase();
  let at = 0;
  for (const m of s.matchAll(mentionRe)) {
    if (!mine || m[1].toLowerCase() !== mine) continue;
    if (m.index > at) out.push(document.createTextNode(s.slice(at, m.index)));
    const mark = document.createElement("mark");
    mark.className = "mention";
    mark.textContent = m[0];
    out.push(mark);
    at = m.index + m[0].length;
  }
  if (at < s.length) out.push(document.createTextNode(s.slice(at)));
  return out;
}
