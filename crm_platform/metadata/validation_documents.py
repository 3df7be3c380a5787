"""Semantic checks of one schema-valid document against the effective configuration around it.

One check function per kind, all with the signature of `Check`, registered in
`DOCUMENT_CHECKS`. Each yields ``(pointer, code, message)``; `validation` turns
those into `Problem`s named after the document. Messages say what to change.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from crm_platform.metadata.conditions import OPERATORS, iter_comparisons, iter_problems
from crm_platform.metadata.field_types import (
    FIELD_TYPES,
    RESERVED_FIELD_SUFFIX,
    SYSTEM_FIELDS,
    FieldDef,
    is_reserved_field_key,
)
from crm_platform.metadata.layers import KIND_NOUNS, describe_layer
from crm_platform.metadata.model import Configuration, EntityDef

Finding = tuple[str, str, str]


@dataclass(frozen=True)
class CheckContext:
    """What a document is checked against: the effective configuration of its unit.

    `units` are the org unit keys of the tenant, or None when they are not known
    (then unit references are not checked); `physical`, when known, lets a message
    say that a missing field exists in a layer this one does not inherit.
    """

    config: Configuration
    units: frozenset[str] | None = None
    physical: Configuration | None = None


Check = Callable[[Mapping[str, Any], CheckContext], Iterator[Finding]]


def escape(token: Any) -> str:
    """One JSON pointer reference token."""
    return str(token).replace("~", "~0").replace("/", "~1")


def did_you_mean(value: Any, candidates: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest candidate, or nothing."""
    if not isinstance(value, str):
        return ""
    options = list(candidates)
    by_case = {candidate.lower(): candidate for candidate in options}
    if value.lower() in by_case:
        return f"; did you mean {by_case[value.lower()]!r}?"
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _field_names(entity: EntityDef, include_system: bool) -> list[str]:
    names = list(entity.field_keys)
    return names + list(SYSTEM_FIELDS) if include_system else names


def _elsewhere(ctx: CheckContext, entity: EntityDef, key: str) -> str:
    """A hint when the field exists, but only in a layer the document's layer does not inherit."""
    if ctx.physical is None or not ctx.physical.has_entity(entity.key):
        return ""
    field = ctx.physical.entity(entity.key).find_field(key, include_system=False)
    if field is None:
        return ""
    return (
        f" here: it is added by {describe_layer(field.layer)}, which applies only to that "
        "unit and the units below it"
    )


def _missing_field(
    ctx: CheckContext, key: str, entity: EntityDef, include_system: bool = True
) -> str:
    """``which entity 'x' does not have`` with a spelling suggestion or a layer hint."""
    return (
        f"which entity {entity.key!r} does not have{_elsewhere(ctx, entity, key)}"
        f"{did_you_mean(key, _field_names(entity, include_system))}"
    )


def _unknown_field(
    ctx: CheckContext, owner: str, key: str, entity: EntityDef, include_system: bool = True
) -> str:
    return f"{owner} names field {key!r} {_missing_field(ctx, key, entity, include_system)}"


def _entity_or_finding(
    document: Mapping[str, Any], ctx: CheckContext, pointer: str = "/entity"
) -> tuple[EntityDef | None, list[Finding]]:
    key = document["entity"]
    entity = ctx.config.entities.get(key)
    if entity is not None:
        return entity, []
    owner = f"{KIND_NOUNS.get(document['kind'], document['kind'])} {document['key']!r}"
    return None, [
        (
            pointer,
            "ref.unknown_entity",
            f"{owner} is for entity {key!r}, which does not exist"
            f"{did_you_mean(key, ctx.config.entities)}",
        )
    ]


# --- values: defaults and literal condition values -------------------------------------------


def _is_date(value: Any) -> bool:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_datetime(value: Any) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_VALUE_CHECKS: Mapping[str, Callable[[Any, FieldDef], str | None]] = MappingProxyType(
    {
        "text": lambda v, f: None if isinstance(v, str) else "expected text",
        "integer": lambda v, f: (
            None if isinstance(v, int) and not isinstance(v, bool) else "expected a whole number"
        ),
        "decimal": lambda v, f: None if _is_number(v) else "expected a number",
        "boolean": lambda v, f: None if isinstance(v, bool) else "expected true or false",
        "date": lambda v, f: None if _is_date(v) else "expected a date such as 2024-03-31",
        "datetime": lambda v, f: (
            None if _is_datetime(v) else "expected a date-time such as 2024-03-31T08:00:00+08:00"
        ),
        "choice": lambda v, f: (
            None
            if v in f.option_keys
            else f"expected one of the option keys {', '.join(f.option_keys)}"
        ),
        "multi_choice": lambda v, f: (
            None
            if isinstance(v, list | tuple)
            and all(item in f.option_keys for item in v)
            and len(set(v)) == len(v)
            else f"expected a list of distinct option keys from {', '.join(f.option_keys)}"
        ),
        "id": lambda v, f: "a field that points to a record, user or unit has no fixed default",
    }
)
"""Why a literal does not fit a field's value kind, or None when it does."""


def value_problem(value: Any, field: FieldDef) -> str | None:
    """Why `value` cannot be a value of `field` (type, option, bounds, length, pattern), or None."""
    field_type = FIELD_TYPES[field.type]
    reason = _VALUE_CHECKS[field_type.value_kind](value, field)
    if reason is not None:
        return reason
    if _is_number(value):
        if field.min is not None and value < field.min:
            return f"it is below the field's min {field.min}"
        if field.max is not None and value > field.max:
            return f"it is above the field's max {field.max}"
    if isinstance(value, str):
        if field.max_length is not None and len(value) > field.max_length:
            return f"it is longer than the field's max_length {field.max_length}"
        for pattern, what in ((field.pattern, "pattern"), (field_type.value_pattern, "format")):
            if pattern and _full_match(pattern, value) is False:
                return f"it does not match the field's {what} {pattern!r}"
    return None


def _full_match(pattern: str, value: str) -> bool | None:
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return None  # a broken pattern is reported on its own


# --- fields -----------------------------------------------------------------------------------


def _check_fields(
    fields: list[Mapping[str, Any]], base: str, owner: str, ctx: CheckContext
) -> Iterator[Finding]:
    seen: set[str] = set()
    for index, field_doc in enumerate(fields):
        pointer = f"{base}/{index}"
        key = field_doc["key"]
        if key in seen:
            yield (
                f"{pointer}/key",
                "field.duplicate_key",
                f"{owner} defines field {key!r} twice; rename or remove one",
            )
        seen.add(key)
        yield from _check_field(field_doc, pointer, ctx)


def _check_field(
    field_doc: Mapping[str, Any], pointer: str, ctx: CheckContext
) -> Iterator[Finding]:
    field = FieldDef.from_document(field_doc)
    field_type = field.field_type
    key = field.key
    if is_reserved_field_key(key):
        why = (
            f"money fields store their currency in '<key>{RESERVED_FIELD_SUFFIX}'"
            if key.endswith(RESERVED_FIELD_SUFFIX)
            else "it is a system column of every record table"
        )
        yield (
            f"{pointer}/key",
            "field.reserved_key",
            f"field key {key!r} is reserved ({why}); choose another key",
        )
    if field.unique and not field_type.can_be_unique:
        yield (
            f"{pointer}/unique",
            "field.unique_unsupported",
            f"field {key!r} of type {field.type!r} cannot be unique; remove 'unique'",
        )
    seen_options: set[str] = set()
    for position, option in enumerate(field.options):
        if option.key in seen_options:
            yield (
                f"{pointer}/options/{position}/key",
                "option.duplicate_key",
                f"field {key!r} has option {option.key!r} twice; option keys must be unique",
            )
        seen_options.add(option.key)
    if field.min is not None and field.max is not None and field.min > field.max:
        yield (
            f"{pointer}/min",
            "field.min_above_max",
            f"field {key!r} has min {field.min} above max {field.max}; swap or correct them",
        )
    if field.pattern is not None and _full_match(field.pattern, "") is None:
        yield (
            f"{pointer}/pattern",
            "field.bad_pattern",
            f"pattern {field.pattern!r} of field {key!r} is not a valid regular expression",
        )
    if field.target is not None and field.target not in ctx.config.entities:
        yield (
            f"{pointer}/target",
            "ref.unknown_entity",
            f"reference field {key!r} points to entity {field.target!r}, which does not exist"
            f"{did_you_mean(field.target, ctx.config.entities)}",
        )
    if "default" in field_doc and field_doc["default"] is not None:
        default = field_doc["default"]
        reason = value_problem(default, field)
        if reason is not None:
            yield (
                f"{pointer}/default",
                "field.bad_default",
                f"default {default!r} does not fit field {key!r} of type {field.type!r}: {reason}",
            )


# --- conditions -------------------------------------------------------------------------------


def check_condition(
    condition: Any, pointer: str, entity: EntityDef, owner: str, ctx: CheckContext
) -> Iterator[Finding]:
    """Fields exist, operators fit their types, values fit (options, types, context refs)."""
    field_types = {f.key: f.type for f in SYSTEM_FIELDS.values()}
    field_types.update({f.key: f.type for f in entity.fields})
    for comparison_pointer, comparison in iter_comparisons(condition, pointer):
        key = comparison["field"]
        field = entity.find_field(key)
        if field is None:
            yield (
                f"{comparison_pointer}/field",
                "condition.unknown_field",
                f"the condition of {owner} tests field {key!r}, {_missing_field(ctx, key, entity)}",
            )
            continue
        operator = OPERATORS[comparison["op"]]
        if not operator.accepts(field.type):
            usable = [name for name, op in OPERATORS.items() if op.accepts(field.type)]
            yield (
                f"{comparison_pointer}/op",
                "condition.bad_operator",
                f"operator {operator.name!r} does not apply to field {key!r} of type "
                f"{field.type!r}; use one of: {', '.join(usable)}",
            )
            continue
        found_option_problem = False
        for value_pointer, value in _literal_values(comparison, comparison_pointer):
            if field.options and isinstance(value, str) and value not in field.option_keys:
                found_option_problem = True
                yield (
                    value_pointer,
                    "condition.unknown_option",
                    f"{value!r} is not an option of field {key!r}; use one of: "
                    f"{', '.join(field.option_keys)}{did_you_mean(value, field.option_keys)}",
                )
        if found_option_problem:
            continue
        for error in iter_problems(comparison, field_types, comparison_pointer):
            yield (error.pointer, error.reason, f"in {owner}: {error.problem}")


def _literal_values(comparison: Mapping[str, Any], pointer: str) -> Iterator[tuple[str, Any]]:
    value = comparison.get("value")
    if isinstance(value, list):
        for index, item in enumerate(value):
            if not (isinstance(item, str) and item.startswith("$")):
                yield f"{pointer}/value/{index}", item
    elif "value" in comparison and not (isinstance(value, str) and value.startswith("$")):
        yield f"{pointer}/value", value


# --- one check per kind -----------------------------------------------------------------------


def _check_entity(document: Mapping[str, Any], ctx: CheckContext) -> Iterator[Finding]:
    owner = f"entity {document['key']!r}"
    yield from _check_fields(document["fields"], "/fields", owner, ctx)
    entity = ctx.config.entities.get(document["key"])
    if entity is None or entity.layer != ctx.config.unit_key:
        # A redefinition (reported as layer.entity_redefined) is checked on its own terms.
        entity = EntityDef.from_document(document, ctx.config.unit_key)
    title = entity.find_field(document["title_field"], include_system=False)
    if title is None:
        yield (
            "/title_field",
            "ref.unknown_field",
            _unknown_field(
                ctx, f"the title_field of {owner}", document["title_field"], entity, False
            ),
        )
    elif not title.field_type.can_be_title:
        usable = [t.key for t in FIELD_TYPES.values() if t.can_be_title]
        yield (
            "/title_field",
            "entity.bad_title_field",
            f"title field {title.key!r} of {owner} has type {title.type!r}; a title is short "
            f"text that names a record: use a field of type {', '.join(usable)}",
        )
    for index, key in enumerate(document.get("search_fields", ())):
        field = entity.find_field(key)
        if field is None:
            yield (
                f"/search_fields/{index}",
                "ref.unknown_field",
                _unknown_field(ctx, f"the search_fields of {owner}", key, entity),
            )
        elif not field.field_type.textual:
            yield (
                f"/search_fields/{index}",
                "entity.bad_search_field",
                f"search field {key!r} of {owner} has type {field.type!r}; search looks in text, "
                "so list only text-like fields (text, email, phone, url, region, uscc...)",
            )
    for group, keys in enumerate(document.get("dedupe_keys", ())):
        for index, key in enumerate(keys):
            if entity.find_field(key, include_system=False) is None:
                yield (
                    f"/dedupe_keys/{group}/{index}",
                    "ref.unknown_field",
                    _unknown_field(ctx, f"dedupe key {group} of {owner}", key, entity, False),
                )


def _check_entity_extension(document: Mapping[str, Any], ctx: CheckContext) -> Iterator[Finding]:
    entity, findings = _entity_or_finding(document, ctx)
    yield from findings
    owner = f"entity_extension {document['key']!r}"
    yield from _check_fields(document.get("fields", []), "/fields", owner, ctx)
    if entity is None:
        return
    for key, override in document.get("field_overrides", {}).items():
        pointer = f"/field_overrides/{escape(key)}"
        field = entity.find_field(key, include_system=False)
        if field is None:
            yield (
                pointer,
                "ref.unknown_field",
                _unknown_field(ctx, f"{owner} overrides a field: it", key, entity, False),
            )
            continue
        added = override.get("add_options", ())
        if added and not field.options:
            yield (
                f"{pointer}/add_options",
                "field.options_not_applicable",
                f"field {key!r} of entity {entity.key!r} has type {field.type!r}, which has no "
                "options; remove add_options",
            )
            continue
        seen: set[str] = set()
        for position, option in enumerate(added):
            if option["key"] in seen:
                yield (
                    f"{pointer}/add_options/{position}/key",
                    "option.duplicate_key",
                    f"{owner} adds option {option['key']!r} to field {key!r} twice",
                )
            seen.add(option["key"])


def _check_placements(
    document: Mapping[str, Any], entity: EntityDef, owner: str, ctx: CheckContext
) -> Iterator[Finding]:
    placed: set[str] = set()
    sections: set[str] = set()
    for s_index, section in enumerate(document["sections"]):
        if section["key"] in sections:
            yield (
                f"/sections/{s_index}/key",
                "form.duplicate_section",
                f"{owner} has two sections with key {section['key']!r}; rename one",
            )
        sections.add(section["key"])
        for c_index, column in enumerate(section["columns"]):
            for p_index, placement in enumerate(column):
                pointer = f"/sections/{s_index}/columns/{c_index}/{p_index}"
                key = placement["field"]
                if entity.find_field(key) is None:
                    yield (
                        f"{pointer}/field",
                        "ref.unknown_field",
                        f"{owner} places field {key!r} {_missing_field(ctx, key, entity)}",
                    )
                elif key in placed:
                    yield (
                        f"{pointer}/field",
                        "form.duplicate_field",
                        f"{owner} places field {key!r} more than once; remove one placement",
                    )
                placed.add(key)
                for name in ("readonly_when", "visible_when"):
                    if name in placement:
                        yield from check_condition(
                            placement[name], f"{pointer}/{name}", entity, f"{owner} ({name})", ctx
                        )


def _check_form(document: Mapping[str, Any], ctx: CheckContext) -> Iterator[Finding]:
    entity, findings = _entity_or_finding(document, ctx)
    yield from findings
    if entity is not None:
        yield from _check_placements(document, entity, f"form {document['key']!r}", ctx)


def _check_list_view(document: Mapping[str, Any], ctx: CheckContext) -> Iterator[Finding]:
    entity, findings = _entity_or_finding(document, ctx)
    yield from findings
    if entity is None:
        return
    owner = f"list view {document['key']!r}"
    for index, key in enumerate(document["columns"]):
        if entity.find_field(key) is None:
            yield (
                f"/columns/{index}",
                "ref.unknown_field",
                _unknown_field(ctx, f"column {index} of {owner}", key, entity),
            )
    if "default_filter" in document:
        yield from check_condition(
            document["default_filter"], "/default_filter", entity, owner, ctx
        )
    sorted_by: set[str] = set()
    for index, sort in enumerate(document.get("default_sort", ())):
        pointer = f"/default_sort/{index}/field"
        field = entity.find_field(sort["field"])
        if field is None:
            yield (
                pointer,
                "ref.unknown_field",
                _unknown_field(ctx, f"the default_sort of {owner}", sort["field"], entity),
            )
        elif not field.field_type.sortable:
            yield (
                pointer,
                "list_view.unsortable",
                f"{owner} sorts by {field.key!r}, a {field.type!r} field, which cannot be sorted; "
                "sort by another field",
            )
        elif field.key in sorted_by:
            yield (
                pointer,
                "list_view.duplicate_sort",
                f"{owner} sorts by {field.key!r} twice; keep the first",
            )
        sorted_by.add(sort["field"])


def _check_role(document: Mapping[str, Any], ctx: CheckContext) -> Iterator[Finding]:
    owner = f"role {document['key']!r}"
    for entity_key, levels in document["privileges"].items():
        pointer = f"/privileges/{escape(entity_key)}"
        entity = ctx.config.entities.get(entity_key)
        if entity is None:
            yield (
                pointer,
                "ref.unknown_entity",
                f"{owner} grants privileges on entity {entity_key!r}, which does not exist"
                f"{did_you_mean(entity_key, ctx.config.entities)}",
            )
            continue
        for privilege, level in levels.items():
            if level == "own" and entity.ownership != "user_owned":
                yield (
                    f"{pointer}/{privilege}",
                    "role.own_without_owner",
                    f"{owner} grants {privilege} at level 'own' on {entity_key!r}, whose records "
                    f"are {entity.ownership} and have no owner user; use unit, unit_and_below, "
                    "tenant or none",
                )


def _check_field_security(document: Mapping[str, Any], ctx: CheckContext) -> Iterator[Finding]:
    owner = f"field security profile {document['key']!r}"
    if document["role"] not in ctx.config.roles:
        yield (
            "/role",
            "ref.unknown_role",
            f"{owner} is for role {document['role']!r}, which does not exist"
            f"{did_you_mean(document['role'], ctx.config.roles)}",
        )
    entity, findings = _entity_or_finding(document, ctx)
    yield from findings
    if entity is None:
        return
    for key, access in document["fields"].items():
        pointer = f"/fields/{escape(key)}"
        field = entity.find_field(key, include_system=False)
        if field is None:
            yield (pointer, "ref.unknown_field", _unknown_field(ctx, owner, key, entity, False))
        elif access == "masked" and not field.sensitive:
            yield (
                pointer,
                "field_security.mask_not_sensitive",
                f"{owner} masks field {key!r}, which is not marked sensitive; mark the field "
                "sensitive in its entity or use hidden or read",
            )
    for other in ctx.config.field_security.values():
        if other.key == document["key"]:
            break
        if other.role == document["role"] and other.entity == document["entity"]:
            yield (
                "/role",
                "field_security.duplicate_profile",
                f"role {document['role']!r} already has field security profile {other.key!r} "
                f"on entity {document['entity']!r}; merge them, or use key {other.key!r} to "
                "replace the inherited one",
            )
            break


def _unit_finding(unit: str, pointer: str, owner: str, ctx: CheckContext) -> Iterator[Finding]:
    if ctx.units is not None and unit not in ctx.units:
        yield (
            pointer,
            "ref.unknown_unit",
            f"{owner} names org unit {unit!r}, which does not exist{did_you_mean(unit, ctx.units)}",
        )


def _check_rule_condition(
    document: Mapping[str, Any], ctx: CheckContext, owner: str
) -> Iterator[Finding]:
    entity, findings = _entity_or_finding(document, ctx)
    yield from findings
    if entity is not None:
        yield from check_condition(document["condition"], "/condition", entity, owner, ctx)


def _check_sharing_rule(document: Mapping[str, Any], ctx: CheckContext) -> Iterator[Finding]:
    owner = f"sharing rule {document['key']!r}"
    yield from _check_rule_condition(document, ctx, owner)
    yield from _unit_finding(document["target"]["unit"], "/target/unit", owner, ctx)


def _check_restriction_rule(document: Mapping[str, Any], ctx: CheckContext) -> Iterator[Finding]:
    owner = f"restriction rule {document['key']!r}"
    yield from _check_rule_condition(document, ctx, owner)
    applies = document["applies_to"]
    for index, role in enumerate(applies.get("roles", ())):
        if role not in ctx.config.roles:
            yield (
                f"/applies_to/roles/{index}",
                "ref.unknown_role",
                f"{owner} applies to role {role!r}, which does not exist"
                f"{did_you_mean(role, ctx.config.roles)}",
            )
    for index, target in enumerate(applies.get("units", ())):
        yield from _unit_finding(target["unit"], f"/applies_to/units/{index}/unit", owner, ctx)


def _check_unit_kinds(document: Mapping[str, Any], ctx: CheckContext) -> Iterator[Finding]:
    seen: dict[str, str] = {}
    for doc in ctx.config.iter_documents("unit_kinds"):
        if doc["key"] == document["key"]:
            break
        seen.update({k["key"]: doc["key"] for k in doc["kinds"]})
    for index, kind in enumerate(document["kinds"]):
        if kind["key"] in seen:
            where = (
                "twice"
                if seen[kind["key"]] == document["key"]
                else f"already (in unit_kinds {seen[kind['key']]!r})"
            )
            yield (
                f"/kinds/{index}/key",
                "unit_kinds.duplicate_key",
                f"unit kind {kind['key']!r} is defined {where}; keep one",
            )
        seen[kind["key"]] = document["key"]


DOCUMENT_CHECKS: Mapping[str, Check] = MappingProxyType(
    {
        "entity": _check_entity,
        "entity_extension": _check_entity_extension,
        "form": _check_form,
        "list_view": _check_list_view,
        "role": _check_role,
        "field_security": _check_field_security,
        "sharing_rule": _check_sharing_rule,
        "restriction_rule": _check_restriction_rule,
        "unit_kinds": _check_unit_kinds,
    }
)
"""The semantic check of each kind: one function with the `Check` signature."""
