"""Walking a condition tree: its comparisons, the fields it reads, its context references.

A condition is the JSON tree defined by ``common.schema.json#/$defs/condition``:
``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}`` or a comparison
``{"field", "op", "value"}``. These helpers never need a field list or a context,
so the semantic validator can use them on any document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from crm_platform.errors import ErrorCode
from crm_platform.metadata.errors import MetadataError

_CONTEXT_REF = re.compile(
    r"^\$(?:(?P<user>user\.(?:id|unit|units))|record\.(?P<field>[a-z][a-z0-9_]*)|(?P<today>today))$"
)


class ConditionError(MetadataError):
    """A condition cannot be evaluated or compiled; `pointer` says where inside it."""

    code = ErrorCode.INVALID_CONFIGURATION

    def __init__(self, pointer: str, problem: str, reason: str = "condition.invalid"):
        self.pointer = pointer
        self.problem = problem
        self.reason = reason
        super().__init__(f"condition at {pointer or '/'}: {problem}")


@dataclass(frozen=True)
class ContextRef:
    """A value taken from the evaluation context: ``$user.id``, ``$record.amount``, ``$today``.

    `name` is ``user.id``, ``user.unit``, ``user.units``, ``today`` or ``record``;
    `field` is the referenced field key for ``record``.
    """

    name: str
    field: str | None = None


def context_ref(value: Any) -> ContextRef | None:
    """The context reference `value` spells, or None when it is a plain literal."""
    if not isinstance(value, str) or not value.startswith("$"):
        return None
    match = _CONTEXT_REF.match(value)
    if match is None:
        return None
    if match["field"] is not None:
        return ContextRef("record", match["field"])
    return ContextRef(match["user"] or "today")


def is_comparison(node: Mapping[str, Any]) -> bool:
    """True for a `{field, op, value}` leaf, false for an `all` / `any` / `not` node."""
    return "op" in node or "field" in node


def iter_comparisons(condition: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (JSON pointer, comparison) for every comparison in the tree, depth first.

    `pointer` is the location of `condition` itself (say ``/condition``); yielded
    pointers extend it (``/condition/all/1/not``). A malformed node raises
    `ConditionError` naming it, so callers never walk into a half-understood tree.
    """
    if not isinstance(condition, Mapping):
        raise ConditionError(
            pointer,
            "expected an object with all, any, not, or field and op",
            "condition.malformed",
        )
    if is_comparison(condition):
        yield pointer, dict(condition)
        return
    if len(condition) != 1:
        raise ConditionError(
            pointer,
            "a group has exactly one of all, any or not; nest groups to combine them",
            "condition.malformed",
        )
    ((kind, children),) = condition.items()
    if kind == "not":
        yield from iter_comparisons(children, f"{pointer}/not")
        return
    if kind not in ("all", "any") or not isinstance(children, list) or not children:
        raise ConditionError(
            f"{pointer}/{kind}",
            f"{kind!r} is not a condition group; use all or any with a non-empty list, or not",
            "condition.malformed",
        )
    for index, child in enumerate(children):
        yield from iter_comparisons(child, f"{pointer}/{kind}/{index}")


def iter_value_refs(comparison: Mapping[str, Any]) -> Iterator[tuple[str, ContextRef]]:
    """Yield (pointer suffix, reference) for each context reference in a comparison's value."""
    value = comparison.get("value")
    if isinstance(value, list):
        for index, item in enumerate(value):
            ref = context_ref(item)
            if ref is not None:
                yield f"/value/{index}", ref
        return
    ref = context_ref(value)
    if ref is not None:
        yield "/value", ref


def referenced_fields(condition: Any) -> frozenset[str]:
    """Every field key the condition reads: compared fields and ``$record.<field>`` values."""
    keys: set[str] = set()
    for _pointer, comparison in iter_comparisons(condition):
        field = comparison.get("field")
        if isinstance(field, str):
            keys.add(field)
        for _suffix, ref in iter_value_refs(comparison):
            if ref.field is not None:
                keys.add(ref.field)
    return frozenset(keys)
