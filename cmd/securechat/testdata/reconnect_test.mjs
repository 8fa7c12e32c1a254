// Checks the page's reconnecting (static/js/socket.js, backoff.js) in node,
// with the browser's WebSocket, fetch, timers and location replaced by
// recording stand-ins. Run by TestPageReconnect (pagescript_test.go); it prints
// "ok" and exits 0, or prints what failed and exits 1.
import { backoffDelay, reservationDelay, retryAfterMs, BASE_MS, CAP_MS, ABUSE_WAIT_MS, RESERVATION_SPREAD_MS } from "../../../static/js/backoff.js";

const failures = [];
function check(what, got, want) {
  if (got !== want) failures.push(`${what}: got ${got}, want ${want}`);
}

// ---- backoff.js: full jitter, and a server's reservation ------------------------
for (const [attempt, window] of [[0, BASE_MS], [1, 2 * BASE_MS], [3, 8 * BASE_MS], [5, CAP_MS], [40, CAP_MS]]) {
  check(`attempt ${attempt}, random 0 (full jitter may wait nothing)`, backoffDelay(attempt, 0, () => 0), 0);
  check(`attempt ${attempt}, random 1 (the window)`, backoffDelay(attempt, 0, () => 1), window);
  check(`attempt ${attempt}, a floor of 30s (after 1008)`, backoffDelay(attempt, ABUSE_WAIT_MS, () => 0.5), ABUSE_WAIT_MS + window / 2);
}
// A Retry-After is when to come back: that, plus at most a second to spread
// the pages given the same whole second; never the backoff window on top.
check("the spread is Retry-After's unit, a second", RESERVATION_SPREAD_MS, 1000);
for (const [ms, random, want] of [[1000, 0, 1000], [1000, 0.999, 1999], [7000, 0.5, 7500], [60000, 0.25, 60250]]) {
  check(`Retry-After ${ms}ms, random ${random}`, reservationDelay(ms, () => random), want);
}
for (const [header, ms] of [["1", 1000], [" 7 ", 7000], ["", 0], [null, 0], ["-3", 0], ["1.5", 0],
  ["Wed, 21 Oct 2015 07:28:00 GMT", 0], ["999999", 5 * 60 * 1000]]) {
  check(`Retry-After ${JSON.stringify(header)}`, retryAfterMs(header), ms);
}

// ---- socket.js: what a closed or refused socket does ----------------------------
const sockets = [];
class FakeWebSocket {
  constructor(url) { this.url = url; sockets.push(this); }
  send() {}
}
const timers = [];
let fetched = [], answer = null, replaced = null;
globalThis.WebSocket = FakeWebSocket;
globalThis.location = {
  protocol: "http:", host: "chat.test", pathname: "/", search: "",
  replace(u) { replaced = u; },
};
globalThis.setTimeout = (fn, ms) => { timers.push({ fn, ms }); return timers.length; };
globalThis.clearTimeout = () => {};
globalThis.fetch = async (url, opts) => {
  fetched.push(url);
  if (answer instanceof Error) throw answer;
  return answer;
};
Math.random = () => 0.5;
const settle = () => new Promise((r) => setImmediate(r));
const response = (status, headers = {}) => ({ status, headers: { get: (k) => headers[k] ?? null } });

const { createSocket } = await import("../../../static/js/socket.js");
const closes = [];
const conn = createSocket({ frame() {}, batch() {}, closed: (code) => closes.push(code) });

conn.connect();
check("the socket's URL", sockets[0].url, "ws://chat.test/ws");
// The server shut down (1001) an open socket: retry within the first window.
sockets[0].onopen();
conn.welcomed();
sockets[0].onclose({ code: 1001 });
check("fetches after a close of an open socket", fetched.length, 0);
check("first retry after 1001: half of the first window", timers.at(-1).ms, BASE_MS / 2);

// The handshake was refused (a busy server): /ws/ready says 503, Retry-After 3.
timers.at(-1).fn();
answer = response(503, { "Retry-After": "3" });
sockets[1].onclose({ code: 1006 });
await settle();
check("asks /ws/ready after a refused handshake", fetched.at(-1), "/ws/ready");
check("retry after 503: at its Retry-After, plus half the spread (not the window)", timers.at(-1).ms, 3000 + RESERVATION_SPREAD_MS / 2);

// The server is down: no answer; the window keeps doubling.
timers.at(-1).fn();
answer = new Error("connection refused");
sockets[2].onclose({ code: 1006 });
await settle();
check("retry with the server down: half of the third window", timers.at(-1).ms, 2 * BASE_MS);

// 1008: never sooner than ABUSE_WAIT_MS.
timers.at(-1).fn();
sockets[3].onopen();
sockets[3].onclose({ code: 1008 });
check("retry after 1008", timers.at(-1).ms, ABUSE_WAIT_MS + 4 * BASE_MS);

// A 503 without Retry-After (not the server's: a proxy's) is the backoff.
timers.at(-1).fn();
answer = response(503);
sockets[4].onclose({ code: 1006 });
await settle();
check("retry after a 503 without Retry-After: half of the fifth window", timers.at(-1).ms, 8 * BASE_MS);

// However many attempts came before, a reservation is kept as given.
timers.at(-1).fn();
answer = response(503, { "Retry-After": "12" });
sockets[5].onclose({ code: 1006 });
await settle();
check("retry after 503 at the sixth attempt: Retry-After plus half the spread", timers.at(-1).ms, 12000 + RESERVATION_SPREAD_MS / 2);

// The session ended while away: /ws/ready says 401, the page goes to log in.
timers.at(-1).fn();
const before = timers.length;
answer = response(401);
sockets[6].onclose({ code: 1006 });
await settle();
check("401 sends the page to log in", replaced, "/login?next=%2F");
check("no retry after 401", timers.length, before);
check("closed was reported for every socket", closes.length, 7);

if (failures.length) {
  console.log(failures.join("\n"));
  process.exit(1);
}
console.log("ok");
