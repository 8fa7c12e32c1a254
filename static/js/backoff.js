// How long the page waits before it reconnects. Without word from the server
// (it is down, or the socket closed): exponential backoff with full jitter, a
// random wait between 0 and min(cap, base * 2^attempt). When a server
// restarts, every page it had comes back; with full jitter they come back
// spread over the whole window instead of in waves at the same instants
// (which "equal jitter", half fixed and half random, still makes).
//
// A busy server's 503 says when to come back instead: its Retry-After is a
// reservation, a time of this page's own at the pace the server admits
// handshakes, so the page comes back then and not later. Retry-After is in
// whole seconds, so the page adds a random share of at most one second to
// spread the pages given the same second over it.

export const BASE_MS = 500; // the first attempt's window
export const CAP_MS = 15000; // the widest window
export const ABUSE_WAIT_MS = 30000; // after 1008 (the server saw abuse): never sooner
export const RESERVATION_SPREAD_MS = 1000; // Retry-After's unit: the pages given one second spread over it
const MAX_RETRY_AFTER_MS = 5 * 60 * 1000; // a Retry-After past this is taken as this

// backoffDelay returns the milliseconds to wait before attempt (0 for the
// first retry), at least floorMs. random is Math.random or a test's stand-in.
export function backoffDelay(attempt, floorMs = 0, random = Math.random) {
  const window = Math.min(CAP_MS, BASE_MS * 2 ** Math.min(attempt, 30));
  return floorMs + random() * window;
}

// reservationDelay returns the milliseconds to wait for a server's
// Retry-After (in ms): that, plus a random share of at most a second.
export function reservationDelay(retryAfterMs, random = Math.random) {
  return retryAfterMs + random() * RESERVATION_SPREAD_MS;
}

// retryAfterMs reads a Retry-After header given in seconds (the form the
// server sends) as milliseconds; 0 when it is absent or not a number of seconds.
export function retryAfterMs(header) {
  if (!header || !/^\s*\d+\s*$/.test(header)) return 0;
  return Math.min(Number(header) * 1000, MAX_RETRY_AFTER_MS);
}
