// The condition language in the browser: the same semantics as crm_platform.metadata.conditions
// `evaluate`, so a form hides and locks fields live exactly as the server will decide on save.
// evaluate(condition, record, types, context) returns true, false, or null when a value cannot be
// compared yet (a half-typed number); the server then neither hides nor locks on that condition.
"use strict";
(function (root) {
  var NUMERIC = { integer: 1, decimal: 1, money: 1, percent: 1 };
  var IDS = { reference: 1, user: 1, org_unit: 1 };
  var STRINGS = { text: 1, long_text: 1, email: 1, phone: 1, url: 1, region: 1, uscc: 1, choice: 1 };

  function Unknown() {}

  function foldCase(text) {
    // A-Z only, exactly as the server and the SQL side fold.
    return String(text).replace(/[A-Z]/g, function (c) { return c.toLowerCase(); });
  }

  // A value as the operators compare it, or null when empty.
  function coerce(type, raw) {
    if (raw === null || raw === undefined) { return null; }
    if (type === "multi_choice") { return Array.isArray(raw) ? raw.map(String) : [String(raw)]; }
    if (type === "boolean") {
      if (typeof raw === "boolean") { return raw; }
      throw new Unknown();
    }
    if (NUMERIC[type] || IDS[type]) {
      if (typeof raw === "object" && raw !== null && "amount" in raw) { raw = raw.amount; }
      if (raw === "") { return null; }
      var number = Number(String(raw).replace(/,/g, "").trim());
      if (!isFinite(number) || String(raw).trim() === "") { throw new Unknown(); }
      if (IDS[type] || type === "integer") {
        if (Math.floor(number) !== number) { throw new Unknown(); }
      }
      return number;
    }
    if (type === "date") {
      var day = String(raw).slice(0, 10);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) { throw new Unknown(); }
      return day;
    }
    if (type === "datetime") {
      var moment = String(raw);
      if (/^\d{4}-\d{2}-\d{2}$/.test(moment)) { return moment + "T00:00"; }
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(moment)) { throw new Unknown(); }
      return moment.slice(0, 16);
    }
    return String(raw);
  }

  function isEmpty(type, value) {
    if (value === null) { return true; }
    if (STRINGS[type] || type === "multi_choice") { return value.length === 0; }
    return false;
  }

  // Resolve one operand: a literal or a context reference ($user.id, $record.x, $today...).
  function operand(type, raw, record, types, context) {
    if (typeof raw === "string" && raw.charAt(0) === "$") {
      if (raw === "$user.id") { return [context.user.id]; }
      if (raw === "$user.unit") { return [context.user.unit]; }
      if (raw === "$user.units") { return context.user.units.slice(); }
      if (raw === "$today") { return [coerce(type, context.today)]; }
      if (raw.indexOf("$record.") === 0) {
        var other = raw.slice(8);
        return [coerce(types[other] || type, record[other] === undefined ? null : record[other])];
      }
    }
    if (raw === null) { return [null]; }
    // An operand of a multi-choice field is one option key, never a list.
    if (type === "multi_choice") { return [String(raw)]; }
    return [coerce(type, raw)];
  }

  function operands(type, value, record, types, context) {
    var list = Array.isArray(value) ? value : [value];
    var out = [];
    list.forEach(function (item) { out = out.concat(operand(type, item, record, types, context)); });
    return out;
  }

  function equal(type, value, other) {
    if (value === null || other === null) { return false; }
    if (type === "multi_choice") { return value.indexOf(other) >= 0; }
    return value === other;
  }

  var OPERATORS = {
    eq: function (t, v, o) { return equal(t, v, o[0]); },
    ne: function (t, v, o) { return !equal(t, v, o[0]); },
    in: function (t, v, o) { return o.some(function (x) { return equal(t, v, x); }); },
    not_in: function (t, v, o) { return !o.some(function (x) { return equal(t, v, x); }); },
    gt: function (t, v, o) { return v !== null && o[0] !== null && v > o[0]; },
    gte: function (t, v, o) { return v !== null && o[0] !== null && v >= o[0]; },
    lt: function (t, v, o) { return v !== null && o[0] !== null && v < o[0]; },
    lte: function (t, v, o) { return v !== null && o[0] !== null && v <= o[0]; },
    between: function (t, v, o) { return v !== null && o[0] !== null && o[1] !== null && o[0] <= v && v <= o[1]; },
    contains: function (t, v, o) {
      if (v === null) { return false; }
      if (t === "multi_choice") { return v.indexOf(o[0]) >= 0; }
      return foldCase(v).indexOf(foldCase(o[0])) >= 0;
    },
    starts_with: function (t, v, o) { return v !== null && foldCase(v).indexOf(foldCase(o[0])) === 0; },
    is_empty: function (t, v) { return isEmpty(t, v); },
    is_not_empty: function (t, v) { return !isEmpty(t, v); },
    in_unit_subtree: function (t, v, o, context) {
      if (v === null) { return false; }
      // The page does not carry the org tree: undecided here, the server decides on save.
      if (!context.subtree) { throw new Unknown(); }
      var subtree = context.subtree;
      return o.some(function (unit) { return unit !== null && (subtree[unit] || []).indexOf(v) >= 0; });
    }
  };

  function test(node, record, types, context) {
    if (node.all) { return node.all.every(function (c) { return test(c, record, types, context); }); }
    if (node.any) { return node.any.some(function (c) { return test(c, record, types, context); }); }
    if (node.not) { return !test(node.not, record, types, context); }
    var type = types[node.field];
    var op = OPERATORS[node.op];
    if (!type || !op) { throw new Unknown(); }
    var value = coerce(type, record[node.field] === undefined ? null : record[node.field]);
    if ((node.op === "eq" || node.op === "ne") && node.value === null) {
      return node.op === "eq" ? isEmpty(type, value) : !isEmpty(type, value);
    }
    var ops = node.op === "is_empty" || node.op === "is_not_empty" ? [] : operands(type, node.value, record, types, context);
    return op(type, value, ops, context);
  }

  function evaluate(condition, record, types, context) {
    try {
      return test(condition, record, types, context);
    } catch (error) {
      if (error instanceof Unknown) { return null; }
      throw error;
    }
  }

  root.CRMConditions = { evaluate: evaluate };
})(window);
