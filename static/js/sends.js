// Messages sent and not yet acknowledged (the stored message coming back).
// A refused one goes back into the message box, so nothing typed is lost.

import { clip, el } from "./view.js";

// createSends tracks the pending sends; ui.text is the message box.
export function createSends(ui, state, view) {
  const pending = []; // {ref, room, text, socket}
  // Edits and deletes sent and not yet answered: ref -> {type, room, id, text}.
  // An answer on a socket since closed never comes: they are bounded by what
  // one person clicks, and forgotten on the next socket.
  const changes = new Map();
  let refs = 0; // names the sends of this page: the server echoes a send's ref on its answers
  // Refused sends kept for the user: texts put back in the message box (in
  // order; the box holds them joined by newlines until the user changes
  // it), and the others, quoted in the notice. A new send starts afresh.
  let restored = [];
  let quoted = [];

  return {
    // newRef names the next send.
    newRef() {
      return String(++refs);
    },

    // add records a message sent with ref on socket number socket.
    add(ref, room, text, socket) {
      pending.push({ ref, room, text, socket });
      quoted = [];
    },

    // acknowledged drops the pending send m is the stored copy of: the one
    // m's ref names. A copy without ref (a replay after a reconnect, or a copy
    // the server filled from its store) is matched by room and text.
    acknowledged(m) {
      const i = typeof m.ref === "string" ?
        pending.findIndex((p) => p.ref === m.ref) :
        pending.findIndex((p) => p.room === m.room && p.text === m.text);
      if (i >= 0) pending.splice(i, 1);
    },

    // refused drops the send an error frame f answered, named by its ref;
    // it reports whether there was one.
    refused(ref, f) {
      if (typeof ref !== "string" || !pending.some((p) => p.ref === ref)) return false;
      const why = f.code === "rate_limited" ? rateLimited(f) : (n) => notSentHead(n, f.message);
      notSent((p) => p.ref === ref, why);
      return true;
    },

    // addChange records an edit or delete sent with ref.
    addChange(ref, change) {
      changes.set(ref, change);
    },

    // changeDone forgets the change ref named: its edited or deleted frame came.
    changeDone(ref) {
      changes.delete(ref);
    },

    // takeChange returns the change an error's ref names, forgetting it; null if none.
    takeChange(ref) {
      const c = typeof ref === "string" ? changes.get(ref) : undefined;
      if (!c) return null;
      changes.delete(ref);
      return c;
    },

    // forgetChanges forgets the changes of a socket that closed.
    forgetChanges() {
      changes.clear();
    },

    // lostBefore drops the sends of sockets before socket: what an earlier
    // socket sent and never saw come back was lost with it.
    lostBefore(socket, why) {
      notSent((p) => p.socket < socket, (n) => notSentHead(n, why));
    },
  };

  // notSent drops the pending sends that match. Every refused text is kept:
  // those of the shown room go back in the message box, after the ones
  // already put back (one per line), unless the user has typed something
  // else there; the others are quoted in the notice, with those quoted
  // before it. head(n) is the notice's first sentence, for n messages.
  function notSent(match, head) {
    const lost = pending.filter(match);
    if (!lost.length) return;
    for (const p of lost) pending.splice(pending.indexOf(p), 1);
    if (!ui.text.value) restored = [];
    const toBox = ui.text.value === restored.join("\n") ? lost.filter((p) => p.room === state.current) : [];
    if (toBox.length) {
      restored.push(...toBox.map((p) => p.text));
      ui.text.value = restored.join("\n");
    }
    quoted.push(...lost.filter((p) => !toBox.includes(p)));
    const parts = [head(restored.length + quoted.length)];
    if (restored.length) {
      parts.push(restored.length > 1 ? " Your " + restored.length + " messages are back in the message box." : " It is back in the message box.");
    }
    if (quoted.length) {
      parts.push(quoted.length > 1 ? " Not sent:" : " It was:");
      // The text sits in a sentence: <bdi> keeps a bidirectional override in
      // it from reordering the words after it.
      quoted.forEach((p, i) => parts.push(i ? "; “" : " “", el("bdi", "", clip(p.text, 80)), "” in #" + p.room));
      parts.push(".");
    }
    view.showNotice(...parts);
  }
}

// notSentHead is a refusal's first sentence.
function notSentHead(n, why) {
  return (n > 1 ? n + " messages were not sent: " : "Your message was not sent: ") + (why || "the server refused it.");
}

// rateLimited returns the first sentence of a refusal by the message rate:
// when sending works again, in whole units rounded up, never "0.0s".
function rateLimited(f) {
  let secs = Number(f.retry_after);
  if (!Number.isFinite(secs) || secs <= 0) {
    const m = /wait ([0-9.]+)\s*s/.exec(f.message || ""); // a server without retry_after
    secs = m ? Number(m[1]) : 1;
  }
  secs = Math.max(1, Math.ceil(secs));
  const [n, unit] = secs < 60 ? [secs, "second"] : secs < 3600 ? [Math.ceil(secs / 60), "minute"] : [Math.ceil(secs / 3600), "hour"];
  const sentence = "Slow down: you can send again in " + n + " " + unit + (n === 1 ? "" : "s") + ".";
  return () => sentence;
}
