// Node pools page: the action preview opens in a dialog; "tick every node".
(function () {
  "use strict";
  if (window.__nodepoolsLoaded) return;
  window.__nodepoolsLoaded = true;

  // A preview (or a refusal) swapped into the dialog shows it.
  document.addEventListener("htmx:load", function (event) {
    var el = event.detail.elt;
    if (!el || el.id !== "node-action") return;
    var dialog = el.closest("dialog[data-htmx-dialog]");
    if (dialog && !dialog.open) dialog.showModal();
    var focus = el.querySelector("[data-confirm-word]") || el.querySelector("[data-confirm-submit]");
    if (focus) focus.focus();
  });

  // Cancel/Close: inside the dialog it just closes; on the full preview page it is a link back.
  document.addEventListener("click", function (event) {
    var cancel = event.target.closest("[data-dialog-cancel]");
    if (cancel) {
      var dialog = cancel.closest("dialog");
      if (dialog) {
        event.preventDefault();
        dialog.close();
      }
      return;
    }
  });

  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-tick-all]");
    if (!all) return;
    var table = all.closest("table");
    table.querySelectorAll("input[type=checkbox][name=node]").forEach(function (box) {
      box.checked = all.checked;
    });
  });
})();
