"""Load the JSON Schemas of the metadata kinds and validate documents against them.

The schema files in ``schemas/`` are the single source of truth for the shape of
metadata; this module only loads them into a `referencing` registry (by their
``$id``) and turns every jsonschema error into a `Problem` an analyst can act on.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from crm_platform.errors import Problem

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

KINDS: tuple[str, ...] = (
    "entity",
    "entity_extension",
    "form",
    "list_view",
    "role",
    "field_security",
    "sharing_rule",
    "restriction_rule",
    "unit_kinds",
)

_KEY_PATTERN = "^[a-z][a-z0-9_]{0,62}$"
_PATTERN_HINTS: Mapping[str, str] = {
    _KEY_PATTERN: (
        "is not a valid key: use lower-case letters, digits and underscores, "
        "starting with a letter, at most 63 characters (for example 'credit_limit')"
    ),
    "^[A-Z]{3}$": "is not a currency code: use three capital letters (ISO 4217), such as 'CNY'",
    "^[0-9a-f]{64}$": "is not a sha256 digest: 64 lower-case hexadecimal digits",
    "^layers/[a-z][a-z0-9_]*$": "is not a layer directory: use 'layers/<unit key>'",
}
_JSON_TYPES: Mapping[type, str] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "true/false",
    int: "a whole number",
    float: "a number",
    type(None): "null",
}


def _load_schemas() -> dict[str, dict[str, Any]]:
    return {
        path.name.removesuffix(".schema.json"): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(SCHEMA_DIR.glob("*.schema.json"))
    }


_SCHEMAS = _load_schemas()
REGISTRY: Registry = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema)) for schema in _SCHEMAS.values()
)


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        _SCHEMAS[name], registry=REGISTRY, format_checker=FormatChecker(formats=("regex",))
    )


def schema_for(kind: str) -> dict[str, Any]:
    """A copy of the JSON Schema of a kind (or of ``common``, ``manifest``, ``org_units``)."""
    if kind not in _SCHEMAS:
        raise KeyError(
            f"there is no schema for kind {kind!r}; known: {', '.join(sorted(_SCHEMAS))}"
        )
    return copy.deepcopy(_SCHEMAS[kind])


def validate_document(document: Mapping[str, Any], document_name: str = "") -> list[Problem]:
    """Every schema problem of one layer document, dispatching on its ``kind``."""
    if not isinstance(document, Mapping):
        return [
            Problem(
                "",
                "schema.type",
                f"a configuration document must be a JSON object, found {_describe_type(document)}",
                document_name,
            )
        ]
    kind = document.get("kind")
    if kind not in KINDS:
        if "kind" not in document:
            pointer, what = "", "the document has no 'kind'"
        else:
            pointer, what = "/kind", f"{kind!r} is not a kind of configuration document"
        return [
            Problem(
                pointer,
                "schema.unknown_kind",
                f"{what}; use one of: {', '.join(KINDS)}{_suggest(kind, KINDS)}",
                document_name,
            )
        ]
    return _problems(kind, document, document_name)


def validate_org_units(document: Any, document_name: str = "org_units.json") -> list[Problem]:
    """Every schema problem of a bundle's ``org_units.json``."""
    return _problems("org_units", document, document_name)


def validate_manifest(document: Any, document_name: str = "manifest.json") -> list[Problem]:
    """Every schema problem of a bundle's ``manifest.json``."""
    return _problems("manifest", document, document_name)


def _problems(schema_name: str, document: Any, document_name: str) -> list[Problem]:
    try:
        canonical = json.dumps(document, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return list(_uncached_problems(schema_name, document, document_name))
    # Publishing validates every unit's chain; most documents are unchanged between calls.
    return list(_cached_problems(schema_name, canonical, document_name))


@lru_cache(maxsize=4096)
def _cached_problems(schema_name: str, canonical: str, document_name: str) -> tuple[Problem, ...]:
    return _uncached_problems(schema_name, json.loads(canonical), document_name)


def _uncached_problems(schema_name: str, document: Any, document_name: str) -> tuple[Problem, ...]:
    found: list[Problem] = []
    for error in _validator(schema_name).iter_errors(document):
        for pointer, code, message in _explain(error, schema_name):
            problem = Problem(pointer, code, message, document_name)
            if problem not in found:
                found.append(problem)
    return tuple(found)


# --- turning jsonschema errors into problems -------------------------------------------------

Explained = tuple[str, str, str]


def _explain(error: ValidationError, root: str) -> Iterator[Explained]:
    """One or more (pointer, code, message) for a jsonschema error, alternatives resolved."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        branch = _likeliest_branch(error)
        if branch is not None:
            for sub in branch:
                yield from _explain(sub, root)
            return
    explain = _EXPLAINERS.get(str(error.validator), _explain_generic)
    yield from explain(error, root)


def _likeliest_branch(error: ValidationError) -> list[ValidationError] | None:
    """The alternative the author most likely meant: the one that got furthest into the value.

    A condition ``{"field": "x", "op": "like"}`` fails every branch of the oneOf; the
    comparison branch fails deeper (at ``/op``) than the ``all``/``any``/``not``
    branches (at the object itself), so its errors are the useful ones. Returns None
    when no branch got past the value itself, so the alternatives are listed instead.
    """
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    base = len(error.absolute_path)

    def depth(errors: Sequence[ValidationError]) -> int:
        return max(
            len(e.absolute_path) - base if not e.context else max(depth(e.context), 0)
            for e in errors
        )

    def score(errors: list[ValidationError]) -> tuple[int, int]:
        return (depth(errors), -len(errors))

    best = max(branches.values(), key=score)
    ranked = sorted((score(errors) for errors in branches.values()), reverse=True)
    if depth(best) == 0 and len(ranked) > 1 and ranked[0] == ranked[1]:
        return None
    return best


def _pointer(path: Sequence[Any]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _describe_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(value: Any, candidates: Sequence[Any]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, [c for c in candidates if isinstance(c, str)], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _where(pointer: str) -> str:
    return f"the object at {pointer}" if pointer else "the document"


def _walk(root: str, path: Sequence[Any]) -> Any:
    """The subschema at `path` (an absolute schema path) of schema `root`, through $refs.

    jsonschema leaves ``$ref`` out of schema paths, so a step the current node lacks
    is taken after following the node's ``$ref``.
    """
    node: Any = _SCHEMAS[root]
    resolver = REGISTRY.resolver(base_uri=node["$id"])
    for step in path:
        while isinstance(node, Mapping) and step not in node and "$ref" in node:
            resolved = resolver.lookup(node["$ref"])
            node, resolver = resolved.contents, resolved.resolver
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _branch_rule(error: ValidationError, root: str) -> tuple[bool, str, list[Any], Any] | None:
    """For an error raised in an if/then/else: does "<property> is one of <values>" hold there?

    Returns (holds, property, values, actual value), read from the schema's ``if``,
    so messages explain the rule the schema states instead of restating it in Python.
    """
    path = list(error.absolute_schema_path)
    branch = next(
        (i for i in range(len(path) - 1, 0, -1) if path[i] in ("then", "else")),
        None,
    )
    if branch is None:
        return None
    holder = _walk(root, path[:branch])
    condition = holder.get("if", {}) if isinstance(holder, Mapping) else {}
    properties = condition.get("properties", {})
    if len(properties) != 1:
        return None
    ((name, rule),) = properties.items()
    negated = "not" in rule
    rule = rule.get("not", rule)
    values = rule.get("enum", [rule["const"]] if "const" in rule else None)
    if values is None:
        return None
    holds = (path[branch] == "then") != negated
    actual = error.instance.get(name) if isinstance(error.instance, Mapping) else None
    return holds, name, list(values), actual


def _values(values: Sequence[Any]) -> str:
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _rule_hint(error: ValidationError, root: str, effect: str) -> str:
    """Why the schema asks this here, from its if/then/else: `effect` is what the rule does.

    ``required``: a property is needed; ``forbidden``: a property must go;
    ``constraint``: a value is bounded or shaped only in this case.
    """
    rule = _branch_rule(error, root)
    if rule is None:
        return ""
    holds, name, values, actual = rule
    case = f"{name} is {_values(values)}"
    here = f"; here {name} is {actual!r}" if actual is not None else ""
    sentences = {
        ("required", True): f" (needed when {case})",
        ("required", False): f" (needed unless {case}{here})",
        ("forbidden", True): f": it does not apply when {case}{here}",
        ("forbidden", False): f": it applies only when {case}{here}",
        ("constraint", True): f" when {case}",
        ("constraint", False): f" unless {case}",
    }
    return sentences[(effect, holds)]


def _description_hint(error: ValidationError, name: str) -> str:
    """The schema's own description of a missing property (or of its object)."""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    described = schema.get("properties", {}).get(name, {})
    text = described.get("description") if isinstance(described, Mapping) else None
    text = text or schema.get("description")
    return f" ({text[0].lower()}{text[1:].rstrip('.')})" if text else ""


def _explain_required(error: ValidationError, root: str) -> Iterator[Explained]:
    pointer = _pointer(error.absolute_path)
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    for name in error.validator_value:
        if name not in instance:
            yield (
                pointer,
                "schema.required",
                f"{_where(pointer)} is missing the required property {name!r}; add it"
                + (_rule_hint(error, root, "required") or _description_hint(error, name)),
            )


def _explain_additional(error: ValidationError, root: str) -> Iterator[Explained]:
    base = list(error.absolute_path)
    allowed = list(error.schema.get("properties", {}))
    extras = [name for name in error.instance if name not in allowed]
    for name in extras:
        where = _where(_pointer(base))
        yield (
            _pointer([*base, name]),
            "schema.additionalProperties",
            f"{name!r} is not a property of {where}; remove it or fix its spelling"
            + (_suggest(name, allowed) or f" (allowed: {', '.join(allowed)})"),
        )


def _explain_enum(error: ValidationError, root: str) -> Iterator[Explained]:
    allowed = list(error.validator_value)
    yield (
        _pointer(error.absolute_path),
        "schema.enum",
        f"{_show(error.instance)} is not allowed here; use one of: "
        f"{', '.join(str(a) for a in allowed)}{_suggest(error.instance, allowed)}",
    )


def _explain_const(error: ValidationError, root: str) -> Iterator[Explained]:
    yield (
        _pointer(error.absolute_path),
        "schema.const",
        f"expected {_show(error.validator_value)} here, found {_show(error.instance)}",
    )


def _explain_pattern(error: ValidationError, root: str) -> Iterator[Explained]:
    path = list(error.absolute_path)
    if "propertyNames" in error.schema_path:
        # jsonschema reports a bad property name at its object; point at the name itself.
        path.append(error.instance)
    hint = _PATTERN_HINTS.get(error.validator_value, f"does not match {error.validator_value!r}")
    yield (_pointer(path), "schema.pattern", f"{_show(error.instance)} {hint}")


def _explain_type(error: ValidationError, root: str) -> Iterator[Explained]:
    expected = error.validator_value
    names = expected if isinstance(expected, list) else [expected]
    yield (
        _pointer(error.absolute_path),
        "schema.type",
        f"expected {' or '.join(names)} here, found {_describe_type(error.instance)} "
        f"{_show(error.instance)}",
    )


def _explain_not(error: ValidationError, root: str) -> Iterator[Explained]:
    forbidden = _required_names(error.validator_value)
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    present = [name for name in forbidden if name in instance]
    if not present:
        yield from _explain_generic(error, root)
        return
    base = list(error.absolute_path)
    for name in present:
        yield (
            _pointer([*base, name]),
            "schema.not",
            f"remove {name!r}"
            + (_rule_hint(error, root, "forbidden") or ": it is not allowed here"),
        )


def _required_names(schema: Any) -> list[str]:
    """Property names a (negated) subschema requires, looking through anyOf/allOf."""
    if not isinstance(schema, Mapping):
        return []
    names = list(schema.get("required", ()))
    for combinator in ("anyOf", "allOf", "oneOf"):
        for sub in schema.get(combinator, ()):
            names.extend(_required_names(sub))
    return names


def _explain_format(error: ValidationError, root: str) -> Iterator[Explained]:
    if error.validator_value == "regex":
        try:
            re.compile(error.instance)
        except re.error as exc:
            reason = str(exc)
        else:  # pragma: no cover - the checker and re agree
            reason = "rejected by the regular-expression checker"
        # One mistake, one code: the analyst fixes the field's pattern either way.
        yield (
            _pointer(error.absolute_path),
            "field.bad_pattern",
            f"pattern {_show(error.instance)} is not a valid regular expression ({reason}); "
            "fix it or remove it",
        )
        return
    yield from _explain_generic(error, root)


def _explain_alternatives(error: ValidationError, root: str) -> Iterator[Explained]:
    pointer = _pointer(error.absolute_path)
    if error.context:
        message = (
            f"{_show(error.instance)} fits none of the allowed shapes; a condition is one of "
            '{"all": [...]}, {"any": [...]}, {"not": {...}} or {"field", "op", "value"}'
            if _is_condition(error.schema)
            else f"{_show(error.instance)} fits none of the allowed shapes"
        )
    else:
        message = f"{_show(error.instance)} fits more than one of the allowed shapes; make it one"
    yield (pointer, f"schema.{error.validator}", message)


def _is_condition(schema: Any) -> bool:
    return bool(schema == _SCHEMAS["common"]["$defs"]["condition"])


def _explain_unique(error: ValidationError, root: str) -> Iterator[Explained]:
    seen: list[Any] = []
    repeated = None
    for item in error.instance:
        if item in seen:
            repeated = item
            break
        seen.append(item)
    yield (
        _pointer(error.absolute_path),
        "schema.uniqueItems",
        f"{_show(repeated)} is listed more than once; list each item once",
    )


_BOUNDS: Mapping[str, str] = {
    "minItems": "needs at least {v} item(s)",
    "maxItems": "takes at most {v} item(s)",
    "minLength": "needs at least {v} character(s)",
    "maxLength": "takes at most {v} character(s)",
    "minimum": "must be at least {v}",
    "maximum": "must be at most {v}",
    "minProperties": "needs at least {v} entry(ies)",
    "maxProperties": "takes at most {v} entry(ies)",
}


def _explain_generic(error: ValidationError, root: str) -> Iterator[Explained]:
    pointer = _pointer(error.absolute_path)
    template = _BOUNDS.get(str(error.validator))
    if template:
        what = f"the value at {pointer}" if pointer else "the document"
        message = (
            f"{what} {template.format(v=error.validator_value)}"
            f"{_rule_hint(error, root, 'constraint')}"
        )
    else:
        message = f"{error.message} (at {pointer or '/'})"
    yield (pointer, f"schema.{error.validator}", message)


_EXPLAINERS: Mapping[str, Callable[[ValidationError, str], Iterator[Explained]]] = {
    "required": _explain_required,
    "additionalProperties": _explain_additional,
    "enum": _explain_enum,
    "const": _explain_const,
    "pattern": _explain_pattern,
    "type": _explain_type,
    "not": _explain_not,
    "format": _explain_format,
    "oneOf": _explain_alternatives,
    "anyOf": _explain_alternatives,
    "uniqueItems": _explain_unique,
}
