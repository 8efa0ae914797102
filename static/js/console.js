// Small behaviours shared by every page. No framework: htmx does the rest.
(function () {
  "use strict";

  // The project switcher posts to the chosen project's switch URL.
  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-switch-select]");
    if (!select) return;
    var form = select.closest("form");
    form.action = select.value;
    form.submit();
  });

  // Plain (non-htmx) forms that need a confirmation.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // Typed confirmation: the submit button stays disabled until the exact word is typed.
  document.addEventListener("input", function (event) {
    var input = event.target.closest("[data-confirm-word]");
    if (!input) return;
    var button = input.form && input.form.querySelector("[data-confirm-submit]");
    if (button) button.disabled = input.value !== input.getAttribute("data-confirm-word");
  });

  // <dialog> openers: <button data-open-dialog="id">.
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog) dialog.showModal();
      return;
    }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").close();
  });
})();
