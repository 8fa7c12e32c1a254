// @ completion in the message box: typing @ and the start of a name offers
// the shown room's people (a public room: who is online in it; a private
// room or dm: its members). Arrows move, Enter or Tab takes one, Escape
// closes the list; the mouse works too.

import { el } from "./view.js";

const maxShown = 8;
// The name being written just before the caret: @ not inside a word.
const atCaret = /(?<![A-Za-z0-9_-])@([A-Za-z0-9_-]{0,32})$/;

// createCompletion wires box (the textarea) to list (a listbox element).
// people() returns the names to offer.
export function createCompletion(box, list, people) {
  let names = [];
  let active = 0;
  let start = -1; // where the @ is in box.value

  box.setAttribute("aria-autocomplete", "list");
  box.setAttribute("aria-controls", list.id);
  box.setAttribute("aria-expanded", "false");

  function update() {
    const caret = box.selectionStart;
    const m = box.selectionEnd === caret ? atCaret.exec(box.value.slice(0, caret)) : null;
    if (!m) { close(); return; }
    const prefix = m[1].toLowerCase();
    const next = people().filter((u) => u.toLowerCase().startsWith(prefix)).sort().slice(0, maxShown);
    if (!next.length || (next.length === 1 && next[0].toLowerCase() === prefix)) { close(); return; }
    start = caret - m[0].length;
    if (next.join() !== names.join()) active = 0;
    names = next;
    render();
  }

  function render() {
    list.replaceChildren(...names.map((u, i) => {
      const li = el("li", i === active ? "option active" : "option", "@" + u);
      li.id = list.id + "-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === active));
      li.dataset.user = u;
      return li;
    }));
    list.hidden = false;
    box.setAttribute("aria-expanded", "true");
    box.setAttribute("aria-activedescendant", list.id + "-" + active);
  }

  function close() {
    if (list.hidden) return;
    names = [];
    list.hidden = true;
    list.replaceChildren();
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-activedescendant");
  }

  function take(u) {
    const caret = box.selectionStart;
    const before = box.value.slice(0, start) + "@" + u + " ";
    box.value = before + box.value.slice(caret);
    box.setSelectionRange(before.length, before.length);
    close();
    box.focus();
  }

  box.addEventListener("input", update);
  box.addEventListener("click", update);
  box.addEventListener("blur", () => setTimeout(close, 150));
  // Registered before the page's own Enter handler (main.js wires this
  // first): with the list open, Enter takes a name instead of sending.
  box.addEventListener("keydown", (ev) => {
    if (list.hidden || ev.isComposing) return;
    switch (ev.key) {
      case "ArrowDown": active = (active + 1) % names.length; break;
      case "ArrowUp": active = (active + names.length - 1) % names.length; break;
      case "Enter":
      case "Tab":
        if (ev.shiftKey) return;
        take(names[active]);
        break;
      case "Escape": close(); break;
      default: return;
    }
    ev.preventDefault();
    ev.stopImmediatePropagation();
    if (!list.hidden) render();
  });
  // mousedown, not click: the box keeps its focus.
  list.addEventListener("mousedown", (ev) => {
    const li = ev.target.closest("li[data-user]");
    if (!li) return;
    ev.preventDefault();
    take(li.dataset.user);
  });

  return { close };
}
