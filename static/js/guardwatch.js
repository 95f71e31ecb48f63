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
})();
