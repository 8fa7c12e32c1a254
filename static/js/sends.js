// Messages sent and not yet acknowledged (the stored message coming back).
// A refused one goes back into the message box, so nothing typed is lost.

import { clip, el } from "./view.js";

// createSends tracks the pending sends; ui.text is the message box.
export function createSends(ui, state, view) {
  const pending = []; // {room, text, socket}

  return {
    // add records a message sent on socket number socket.
    add(room, text, socket) {
      pending.push({ room, text, socket });
    },

    // acknowledged drops the pending send m is the stored copy of.
    acknowledged(m) {
      const i = pending.findIndex((p) => p.room === m.room && p.text === m.text);
      if (i >= 0) pending.splice(i, 1);
    },

    // refused drops the send an error frame answered. Errors carry no
    // reference; the newest send is the likeliest refused.
    refused(why) {
      if (!pending.length) return false;
      const p = pending[pending.length - 1];
      notSent((q) => q === p, why);
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
