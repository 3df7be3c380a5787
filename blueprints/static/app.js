// The platform's only script: progressive enhancement of server-rendered pages.
// Loaded from 'self' (the Content-Security-Policy forbids inline scripts); every page works without it.
"use strict";
(function () {
  document.documentElement.classList.add("js-enabled");

  function onReady(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  // Selects marked data-autosubmit submit their form when changed (unit chooser, page size).
  function autosubmit(root) {
    root.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit(); });
    });
  }

  // Row selection of a list: "select all", and a count of the selected rows.
  function selectAll(root) {
    var counter = root.querySelector("[data-selection-count]");
    function count() {
      if (!counter) { return; }
      var n = root.querySelectorAll("input[name='selected']:checked").length;
      counter.textContent = n ? counter.getAttribute("data-selected-template").replace("%(n)s", String(n))
                              : counter.getAttribute("data-none");
    }
    root.querySelectorAll("input[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        root.querySelectorAll("input[name='selected']").forEach(function (row) { row.checked = box.checked; });
        count();
      });
    });
    root.querySelectorAll("input[name='selected']").forEach(function (row) { row.addEventListener("change", count); });
  }

  // Buttons that ask before doing something irreversible.
  function confirmations(root) {
    root.querySelectorAll("[data-confirm]").forEach(function (el) {
      el.addEventListener("click", function (event) {
        if (!window.confirm(el.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  window.CRM = window.CRM || {};
  window.CRM.onReady = onReady;
  onReady(function () {
    autosubmit(document);
    selectAll(document);
    confirmations(document);
  });
})();
