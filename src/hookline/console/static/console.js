// Hookline console: the few behaviours plain HTML lacks. No inline scripts (the CSP forbids
// them), so everything is bound here, by delegation, to content htmx swaps in later too.
"use strict";

document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) {
    return;
  }
  var source = document.getElementById(button.getAttribute("data-copy"));
  var status = button.parentElement.querySelector(".copied");
  if (!source || !navigator.clipboard) {
    if (status) { status.textContent = "Copy is not available here: select the text instead."; }
    return;
  }
  navigator.clipboard.writeText(source.textContent.trim()).then(
    function () { if (status) { status.textContent = "Copied"; } },
    function () { if (status) { status.textContent = "Could not copy: select the text instead."; } }
  );
});
