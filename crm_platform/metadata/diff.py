"""Structured diff between two configuration document sets.

Documents are matched by `(kind, key)`. Inside a changed document, objects are
compared member by member and lists of keyed items (fields, options, sections,
form placements, sort orders) by their key, so inserting a field at the top does
not report every following field as changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

ITEM_IDENTITIES = ("key", "field")
"""Members that identify an item of a list, tried in this order."""


class ChangeKind(StrEnum):
    """What happened to a document or to one value inside it."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    REORDERED = "reordered"


@dataclass(frozen=True)
class ValueChange:
    """One value that differs inside a document.

    `pointer` is a JSON pointer into the new document (the old one for removals);
    `path` names the same place by item keys (``/fields[industry]/label``), which
    stays meaningful when items move. `old`/`new` are None when absent.
    """

    change: ChangeKind
    pointer: str
    path: str
    old: Any = None
    new: Any = None

    def render(self) -> str:
        """One line: the path and the old and new values."""
        if self.change is ChangeKind.ADDED:
            return f"{self.path}: added {_short(self.new)}"
        if self.change is ChangeKind.REMOVED:
            return f"{self.path}: removed {_short(self.old)}"
        if self.change is ChangeKind.REORDERED:
            return f"{self.path}: order {_short(self.old)} -> {_short(self.new)}"
        return f"{self.path}: {_short(self.old)} -> {_short(self.new)}"


@dataclass(frozen=True)
class DocumentChange:
    """A document added, removed or changed; `values` details a change."""

    kind: str
    key: str
    change: ChangeKind
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None
    values: tuple[ValueChange, ...] = ()

    def render(self) -> str:
        """A heading line for the document and one indented line per changed value."""
        sign = {ChangeKind.ADDED: "+", ChangeKind.REMOVED: "-"}.get(self.change, "~")
        lines = [f"{sign} {self.kind}/{self.key} ({self.change})"]
        lines.extend(f"    {value.render()}" for value in self.values)
        return "\n".join(lines)


@dataclass(frozen=True)
class ConfigDiff:
    """Every document that differs between two document sets, ordered by (kind, key)."""

    changes: tuple[DocumentChange, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changes)

    @property
    def added(self) -> tuple[DocumentChange, ...]:
        """Documents only in the new set."""
        return tuple(c for c in self.changes if c.change is ChangeKind.ADDED)

    @property
    def removed(self) -> tuple[DocumentChange, ...]:
        """Documents only in the old set."""
        return tuple(c for c in self.changes if c.change is ChangeKind.REMOVED)

    @property
    def changed(self) -> tuple[DocumentChange, ...]:
        """Documents in both sets whose content differs."""
        return tuple(c for c in self.changes if c.change is ChangeKind.CHANGED)

    def get(self, kind: str, key: str) -> DocumentChange | None:
        """The change of one document, or None when it is unchanged."""
        return next((c for c in self.changes if (c.kind, c.key) == (kind, key)), None)

    def render(self) -> str:
        """The diff as text for the command line; "no changes" when empty."""
        if not self.changes:
            return "no changes"
        return "\n".join(change.render() for change in self.changes)


def diff_documents(
    old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]
) -> ConfigDiff:
    """Compare two document sets by (kind, key) and, inside changed documents, by value."""
    before = _by_identity(old)
    after = _by_identity(new)
    changes: list[DocumentChange] = []
    for identity in sorted(before.keys() | after.keys()):
        kind, key = identity
        old_doc, new_doc = before.get(identity), after.get(identity)
        if old_doc is None:
            changes.append(DocumentChange(kind, key, ChangeKind.ADDED, None, new_doc))
        elif new_doc is None:
            changes.append(DocumentChange(kind, key, ChangeKind.REMOVED, old_doc, None))
        elif old_doc != new_doc:
            values = tuple(diff_values(old_doc, new_doc))
            changes.append(DocumentChange(kind, key, ChangeKind.CHANGED, old_doc, new_doc, values))
    return ConfigDiff(tuple(changes))


def diff_values(old: Any, new: Any, pointer: str = "", path: str = "") -> Iterator[ValueChange]:
    """Yield every value that differs between two JSON values, recursing into containers."""
    if old == new:
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        yield from _diff_objects(old, new, pointer, path)
    elif isinstance(old, list) and isinstance(new, list) and _common_identity(old, new):
        yield from _diff_keyed_lists(old, new, pointer, path)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (old_item, new_item) in enumerate(zip(old, new, strict=True)):
            yield from diff_values(old_item, new_item, f"{pointer}/{index}", f"{path}/{index}")
    else:
        yield ValueChange(ChangeKind.CHANGED, pointer, path or "/", old, new)


def _diff_objects(
    old: Mapping[str, Any], new: Mapping[str, Any], pointer: str, path: str
) -> Iterator[ValueChange]:
    for member in sorted(old.keys() | new.keys()):
        escaped = _escape(member)
        child_pointer, child_path = f"{pointer}/{escaped}", f"{path}/{escaped}"
        if member not in old:
            yield ValueChange(ChangeKind.ADDED, child_pointer, child_path, None, new[member])
        elif member not in new:
            yield ValueChange(ChangeKind.REMOVED, child_pointer, child_path, old[member], None)
        else:
            yield from diff_values(old[member], new[member], child_pointer, child_path)


def _diff_keyed_lists(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], pointer: str, path: str
) -> Iterator[ValueChange]:
    identity = _common_identity(old, new)
    assert identity is not None  # the caller checked that the lists are keyed
    old_items = {item[identity]: (index, item) for index, item in enumerate(old)}
    new_items = {item[identity]: (index, item) for index, item in enumerate(new)}
    for item_key, (index, item) in old_items.items():
        if item_key not in new_items:
            where = f"{path}[{item_key}]"
            yield ValueChange(ChangeKind.REMOVED, f"{pointer}/{index}", where, item, None)
    for item_key, (index, item) in new_items.items():
        where = f"{path}[{item_key}]"
        if item_key not in old_items:
            yield ValueChange(ChangeKind.ADDED, f"{pointer}/{index}", where, None, item)
        else:
            yield from diff_values(old_items[item_key][1], item, f"{pointer}/{index}", where)
    kept_old = [key for key in old_items if key in new_items]
    kept_new = [key for key in new_items if key in old_items]
    if kept_old != kept_new:
        yield ValueChange(ChangeKind.REORDERED, pointer, path or "/", kept_old, kept_new)


def _common_identity(old: Sequence[Any], new: Sequence[Any]) -> str | None:
    """The identifying member both lists share; an empty list takes the other's."""
    old_identity, new_identity = _identity_of(old), _identity_of(new)
    if old and new:
        return old_identity if old_identity == new_identity else None
    return old_identity or new_identity


def _identity_of(items: Sequence[Any]) -> str | None:
    """The member that identifies every item of a list uniquely, if there is one."""
    if not items or not all(isinstance(item, Mapping) for item in items):
        return None
    for member in ITEM_IDENTITIES:
        values = [item.get(member) for item in items]
        if all(isinstance(v, str) for v in values) and len(set(values)) == len(values):
            return member
    return None


def _by_identity(documents: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Any]:
    return {(str(doc.get("kind")), str(doc.get("key"))): doc for doc in documents}


def _escape(member: str) -> str:
    return member.replace("~", "~0").replace("/", "~1")


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
