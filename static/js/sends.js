// Messages sent and not yet acknowledged (the stored message coming back).
// A refused one goes back into the message box, so nothing typed is lost.

import { clip, el } from "./view.js";

// createSends tracks the pending sends; ui.text is the message box.
export function createSends(ui, state, view) {
  const pending = []; // {ref, room, text, socket}
  let refs = 0; // names the sends of this page: the server echoes a send's ref on its answers

  return {
    // newRef names the next send.
    newRef() {
      return String(++refs);
    },

    // add records a message sent with ref on socket number socket.
    add(ref, room, text, socket) {
      pending.push({ ref, room, text, socket });
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

    // refused drops the send an error frame answered, named by its ref; it
    // reports whether there was one.
    refused(ref, why) {
      if (typeof ref !== "string" || !pending.some((p) => p.ref === ref)) return false;
      notSent((p) => p.ref === ref, why);
      return true;
    },

    // lostBefore drops the sends of sockets before socket: what an earlier
    // socket sent and never saw come back was lost with it.
    lostBefore(socket, why) {
      notSent((p) => p.socket < socket, why);
    },
  };

  // notSent drops the pending sends that match and puts the newest of them
  // back in the message box, if the box is empty, so nothing typed is lost.
  function notSent(match, why) {
    const lost = pending.filter(match);
    if (!lost.length) return;
    for (const p of lost) pending.splice(pending.indexOf(p), 1);
    const p = lost[lost.length - 1];
    const head = (lost.length > 1 ? lost.length + " messages were not sent: " : "Your message was not sent: ") +
      (why || "the server refused it.");
    if (!ui.text.value && p.room === state.current) {
      ui.text.value = p.text;
      view.showNotice(head + " It is back in the message box.");
    } else {
      // The text sits in a sentence: <bdi> keeps a bidirectional override in
      // it from reordering the words after it.
      view.showNotice(head + " It was: “", el("bdi", "", clip(p.text, 80)), "” in #" + p.room + ".");
    }
  }
}
