// GuardWatch's only script besides htmx. No inline handlers: CSP forbids them.
(function () {
  "use strict";
  // Plain (non-htmx) forms ask for confirmation with data-confirm="…".
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
  // "Select all" checkboxes: <input type="checkbox" data-select-all="name-of-row-checkboxes">.
  document.addEventListener("change", function (event) {
    var box = event.target;
    var name = box.getAttribute && box.getAttribute("data-select-all");
    if (!name) { return; }
    document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (row) {
      row.checked = box.checked;
    });
  });
  // Action bars: a field marked data-for="assign status" shows (and is sent) only while its form's
  // <select data-action-select> chooses one of those actions.
  function showActionFields(select) {
    var action = select.value;
    select.form.querySelectorAll("[data-for]").forEach(function (field) {
      var show = action !== "" && field.getAttribute("data-for").split(" ").indexOf(action) !== -1;
      field.hidden = !show;
      field.querySelectorAll("input, select, textarea").forEach(function (input) { input.disabled = !show; });
    });
  }
  function showAllActionFields(root) {
    (root || document).querySelectorAll("select[data-action-select]").forEach(showActionFields);
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-action-select]")) {
      showActionFields(event.target);
    }
  });
  document.addEventListener("htmx:load", function (event) { showAllActionFields(event.detail.elt); });
  showAllActionFields(document);
  // Copy buttons: <button type="button" data-copy="id-of-element">; copies its text, trimmed, and says so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
    });
  });
})();
