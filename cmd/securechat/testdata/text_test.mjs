// Checks how the page turns a message's text into nodes (static/js/text.js):
// links only for http and https, mentions of the reader marked, nothing else
// made markup; and the typing line's wording (view.js). A minimal document
// stands in for the browser's. Run by TestPageText (pagetext_test.go); it
// prints "ok" and exits 0, or prints what failed and exits 1.

class Node {
  constructor(tag, text) { this.tag = tag; this.text = text || ""; this.attrs = {}; }
  set textContent(v) { this.text = String(v); }
  get textContent() { return this.text; }
}
globalThis.document = {
  createElement: (tag) => new Node(tag),
  createTextNode: (text) => new Node("#text", text),
};

const { textNodes, mentionsIn, safeHref } = await import("../../../static/js/text.js");
const { typingText } = await import("../../../static/js/view.js");

const failures = [];
function check(what, got, want) {
  if (got !== want) failures.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

// shape writes nodes as text: [a href|text], [mark|text], plain text as is.
const shape = (nodes) => nodes.map((n) =>
  n.tag === "#text" ? n.text : n.tag === "a" ? `[a ${n.href} ${n.rel} ${n.target}|${n.text}]` : `[${n.tag}.${n.className}|${n.text}]`).join("");

for (const [text, want] of [
  ["see https://example.com/a?b=1.", "see [a https://example.com/a?b=1 noopener noreferrer _blank|https://example.com/a?b=1]."],
  ["(http://x.org/p)", "([a http://x.org/p noopener noreferrer _blank|http://x.org/p])"],
  ["javascript:alert(1)", "javascript:alert(1)"],
  ["JavaScript://%0aalert(1)", "JavaScript://%0aalert(1)"],
  ["data:text/html,<script>x</script>", "data:text/html,<script>x</script>"],
  ["xhttps://evil.example", "xhttps://evil.example"],
  ["ftp://files.example", "ftp://files.example"],
  ["<b>bold</b> https://a.example/<b>", "<b>bold</b> [a https://a.example/ noopener noreferrer _blank|https://a.example/]<b>"],
  ["@bob look", "[mark.mention|@bob] look"],
  ["@Bob, and @bobby and bob@bob.org", "[mark.mention|@Bob], and @bobby and bob@bob.org"],
  ["hi @alice", "hi @alice"],
  ["https://x.example/@bob @bob", "[a https://x.example/@bob noopener noreferrer _blank|https://x.example/@bob] [mark.mention|@bob]"],
  ["line one\nline two", "line one\nline two"],
]) {
  check(`textNodes(${JSON.stringify(text)})`, shape(textNodes(text, "bob")), want);
  check(`textNodes(${JSON.stringify(text)}) keeps the text`, textNodes(text, "bob").map((n) => n.text).join(""), text);
}
check("mentionsIn", mentionsIn("@Alice @bob-2 mail@x.org @" + "a".repeat(33)).join(" "), "alice bob-2");
check("safeHref javascript", safeHref("javascript:alert(1)"), "");
check("safeHref https", safeHref("https://example.com/x"), "https://example.com/x");

for (const [names, want] of [
  [[], ""], [["alice"], "alice is typing…"], [["alice", "bob"], "alice and bob are typing…"],
  [["a", "b", "c"], "a, b and c are typing…"], [["a", "b", "c", "d"], "Several people are typing…"],
]) {
  check(`typingText(${names})`, typingText(names), want);
}

if (failures.length) {
  console.log(failures.join("\n"));
  process.exit(1);
}
console.log("ok");
