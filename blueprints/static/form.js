// Record forms: live conditions, USCC check characters, pickers (records, users, org units), the region picker.
// Everything here only helps the person typing; the server checks every value again on save.
"use strict";
(function () {
  var USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  var USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

  // GB 32100-2015: 18 characters, the last a check character over the first 17.
  function usccValid(code) {
    if (!/^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$/.test(code)) { return false; }
    var total = 0;
    for (var i = 0; i < 17; i++) { total += USCC_ALPHABET.indexOf(code.charAt(i)) * USCC_WEIGHTS[i]; }
    return USCC_ALPHABET.charAt((31 - (total % 31)) % 31) === code.charAt(17);
  }
  window.CRM = window.CRM || {};
  window.CRM.usccValid = usccValid;

  function parseJson(text, fallback) {
    try { return text ? JSON.parse(text) : fallback; } catch (e) { return fallback; }
  }

  // -- conditions ------------------------------------------------------------------------------

  function fieldValue(block) {
    var key = block.getAttribute("data-field");
    var shown = block.querySelector("[data-readonly]");
    if (shown) { return parseJson(shown.getAttribute("data-value"), null); }
    var inputs = block.querySelectorAll("[name='" + key + "']");
    if (!inputs.length) { return null; }
    if (inputs[0].type === "checkbox" && inputs[0].hasAttribute("value") && block.querySelector(".checkbox-group")) {
      return Array.prototype.filter.call(inputs, function (i) { return i.checked; }).map(function (i) { return i.value; });
    }
    if (inputs[0].type === "checkbox") { return inputs[0].checked; }
    var value = inputs[0].value;
    return value === "" ? null : value;
  }

  function setLocked(block, locked) {
    var editable = block.querySelector(".editable");
    var text = block.querySelector("[data-readonly-text]");
    if (!editable) { return; }
    editable.hidden = false;
    if (text) { text.hidden = true; }
    editable.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = locked; });
    block.classList.toggle("locked", locked);
  }

  function conditions(form) {
    var context = parseJson(form.getAttribute("data-condition-context"), null);
    var types = parseJson(form.getAttribute("data-field-types"), {});
    if (!context || !window.CRMConditions) { return; }
    var blocks = form.querySelectorAll(".field[data-field]");
    var ruled = Array.prototype.filter.call(blocks, function (b) {
      return b.hasAttribute("data-visible-when") || b.hasAttribute("data-readonly-when");
    });
    if (!ruled.length) { return; }
    function apply() {
      var record = {};
      blocks.forEach(function (b) { record[b.getAttribute("data-field")] = fieldValue(b); });
      ruled.forEach(function (block) {
        var visible = parseJson(block.getAttribute("data-visible-when"), null);
        var readonly = parseJson(block.getAttribute("data-readonly-when"), null);
        if (visible) { block.hidden = window.CRMConditions.evaluate(visible, record, types, context) === false; }
        if (readonly) { setLocked(block, window.CRMConditions.evaluate(readonly, record, types, context) === true); }
      });
    }
    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    apply();
  }

  // -- USCC ------------------------------------------------------------------------------------

  function uscc(form) {
    form.querySelectorAll("input[data-uscc]").forEach(function (input) {
      var message = document.getElementById("live-error-" + input.name);
      function check() {
        var code = input.value.trim().toUpperCase();
        var bad = code.length > 0 && (code.length === 18 ? !usccValid(code) : false);
        var incomplete = code.length > 0 && code.length !== 18;
        input.setAttribute("aria-invalid", bad ? "true" : "false");
        input.closest(".field").classList.toggle("has-error", bad);
        if (message) {
          message.hidden = !bad;
          message.textContent = bad ? input.getAttribute("data-uscc-message") : "";
        }
        input.classList.toggle("incomplete", incomplete);
      }
      input.addEventListener("input", check);
      input.addEventListener("blur", function () {
        var code = input.value.trim().toUpperCase();
        if (code.length && code.length !== 18 && message) {
          message.hidden = false;
          message.textContent = input.getAttribute("data-uscc-message");
          input.closest(".field").classList.add("has-error");
        }
      });
    });
  }

  // -- pickers: a record (reference), a user or an org unit ---------------------------------------
  // The search box shows a name; the hidden input beside it holds the id that is submitted.
  // The lookup URL answers ?q= with {"results": [{"id", "title", "detail"?}]}; the detail (an
  // email, a unit's path) tells apart two results with the same name.

  function resultButton(item, choose) {
    var button = document.createElement("button");
    button.type = "button";
    button.setAttribute("data-id", item.id);
    button.appendChild(document.createTextNode(item.title));
    if (item.detail) {
      var detail = document.createElement("span");
      detail.className = "muted result-detail";
      detail.textContent = item.detail;
      button.appendChild(document.createTextNode(" "));
      button.appendChild(detail);
    }
    button.addEventListener("click", function () { choose(item); });
    return button;
  }

  function referencePickers(root) {
    root.querySelectorAll(".reference-picker").forEach(function (picker) {
      var url = picker.getAttribute("data-lookup-url");
      var hidden = picker.querySelector("[data-reference-value]");
      var search = picker.querySelector("[data-reference-search]");
      var list = picker.querySelector(".reference-results");
      var timer = null;
      var serial = 0;
      function close() { list.hidden = true; list.textContent = ""; }
      function choose(item) {
        hidden.value = String(item.id);
        search.value = item.title;
        close();
        hidden.dispatchEvent(new Event("change", { bubbles: true }));
      }
      function lookup() {
        var mine = ++serial;
        fetch(url + "?q=" + encodeURIComponent(search.value.trim()), { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : { results: [] }; })
          .then(function (data) {
            if (mine !== serial) { return; }
            list.textContent = "";
            data.results.forEach(function (item) {
              var li = document.createElement("li");
              li.appendChild(resultButton(item, choose));
              list.appendChild(li);
            });
            list.hidden = data.results.length === 0;
          });
      }
      search.addEventListener("input", function () {
        if (!search.value.trim()) { hidden.value = ""; }
        clearTimeout(timer);
        timer = setTimeout(lookup, 200);
      });
      search.addEventListener("focus", function () { if (!search.value) { lookup(); } });
      search.addEventListener("keydown", function (event) { if (event.key === "Escape") { close(); } });
      document.addEventListener("click", function (event) { if (!picker.contains(event.target)) { close(); } });
    });
  }

  // -- region picker: province -> city -> district ----------------------------------------------

  function regionPickers(form) {
    form.querySelectorAll(".region-picker").forEach(function (picker) {
      var code = picker.querySelector("[data-region-code]");
      var childrenUrl = picker.getAttribute("data-regions-url");
      var pathUrl = picker.getAttribute("data-path-url");
      var labels = parseJson(picker.getAttribute("data-labels"), ["", "", ""]);
      var selects = labels.map(function (label, level) {
        var select = document.createElement("select");
        select.setAttribute("aria-label", label);
        select.setAttribute("data-region-level", String(level));
        select.hidden = level > 0;
        picker.appendChild(select);
        return select;
      });
      code.hidden = true;
      function fill(select, regions, chosen) {
        select.textContent = "";
        var blank = document.createElement("option");
        blank.value = "";
        blank.textContent = "—";
        select.appendChild(blank);
        regions.forEach(function (region) {
          var option = document.createElement("option");
          option.value = region.code;
          option.textContent = region.label;
          if (region.code === chosen) { option.selected = true; }
          select.appendChild(option);
        });
        select.hidden = regions.length === 0;
      }
      function load(level, parent, chosen) {
        var url = childrenUrl + (parent ? "?parent=" + encodeURIComponent(parent) : "");
        return fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
          fill(selects[level], data.regions, chosen);
        });
      }
      selects.forEach(function (select, level) {
        select.addEventListener("change", function () {
          for (var deeper = level + 1; deeper < selects.length; deeper++) { fill(selects[deeper], [], null); }
          var chosen = select.value || (level > 0 ? selects[level - 1].value : "");
          code.value = chosen;
          code.dispatchEvent(new Event("change", { bubbles: true }));
          if (select.value && level + 1 < selects.length) { load(level + 1, select.value, null); }
        });
      });
      if (code.value) {
        fetch(pathUrl.replace("000000", encodeURIComponent(code.value)), { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (data) {
            var chain = data.path;
            var steps = [load(0, null, chain[0] ? chain[0].code : null)];
            chain.forEach(function (region, index) {
              if (index + 1 < selects.length) { steps.push(load(index + 1, region.code, chain[index + 1] ? chain[index + 1].code : null)); }
            });
            return Promise.all(steps);
          });
      } else {
        load(0, null, null);
      }
    });
  }

  window.CRM.onReady(function () {
    // Pickers appear outside record forms too (the record page's access explainer).
    referencePickers(document);
    document.querySelectorAll("form.record-form").forEach(function (form) {
      uscc(form);
      regionPickers(form);
      conditions(form);
    });
  });
})();
