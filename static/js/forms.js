// Every page's fields with a rule (a pattern or a minimum length) say the
// app's own rule when a value breaks it, not only the browser's "Please
// match the requested format": the rule is the input's data-rule, shown in
// the browser's message (setCustomValidity) and in the hint the input is
// described by (aria-describedby), which is marked while the value is wrong.

for (const input of document.querySelectorAll("input[data-rule]")) {
  const hints = (input.getAttribute("aria-describedby") || "").split(/\s+/)
    .map((id) => document.getElementById(id)).filter(Boolean);
  const check = () => {
    input.setCustomValidity("");
    const v = input.validity;
    const wrong = input.value !== "" && (v.patternMismatch || v.tooShort || v.tooLong);
    input.setCustomValidity(wrong ? input.dataset.rule : "");
    if (wrong) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    for (const h of hints) h.classList.toggle("invalid", wrong);
  };
  input.addEventListener("input", check);
  input.addEventListener("invalid", check);
  check();
}
