"""Reading a list page's query string: quick search, sort, cursor, scope and typed filters.

The query string is turned into the record service's arguments (a condition
tree, a sort, a cursor); the service decides which rows the user may see.
Filters are built per field type from a registry of small classes, so adding a
type's filter is one entry, not a branch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from werkzeug.datastructures import MultiDict

from crm_platform.metadata.model import EntityDef, FieldDef, ListViewDef


@dataclass(frozen=True)
class FilterControl:
    """One filter on the page: its kind (which template block), field and what was entered."""

    kind: str
    field: FieldDef
    values: Mapping[str, str]


class FilterKind(Protocol):
    """Builds the condition of one field's filter from the query string."""

    kind: str
    params: tuple[str, ...]

    def condition(self, field_def: FieldDef, values: Mapping[str, str]) -> list[dict[str, Any]]:
        """The comparisons the entered values stand for (empty when nothing usable was entered)."""
        ...


def _iso_date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None


def _number(raw: str) -> str | None:
    try:
        value = Decimal(raw.strip().replace(",", ""))
    except InvalidOperation:
        return None
    return str(value) if value.is_finite() else None


class ChoiceFilter:
    """One option of a choice (or an option held by a multi-choice)."""

    kind = "choice"
    params: tuple[str, ...] = ("",)

    def condition(self, field_def: FieldDef, values: Mapping[str, str]) -> list[dict[str, Any]]:
        """``field eq option`` for a known option."""
        chosen = values.get("", "")
        if chosen not in field_def.option_keys:
            return []
        return [{"field": field_def.key, "op": "eq", "value": chosen}]


class DateRangeFilter:
    """From and to dates, both inclusive."""

    kind = "date_range"
    params: tuple[str, ...] = ("from", "to")

    def condition(self, field_def: FieldDef, values: Mapping[str, str]) -> list[dict[str, Any]]:
        """``gte from`` and ``lte to`` (``lt`` the next day for date-times)."""
        comparisons: list[dict[str, Any]] = []
        start, end = _iso_date(values.get("from", "")), _iso_date(values.get("to", ""))
        if start is not None:
            comparisons.append({"field": field_def.key, "op": "gte", "value": start.isoformat()})
        if end is not None:
            if field_def.type == "datetime":
                after = (end + timedelta(days=1)).isoformat()
                comparisons.append({"field": field_def.key, "op": "lt", "value": after})
            else:
                comparisons.append({"field": field_def.key, "op": "lte", "value": end.isoformat()})
        return comparisons


class NumberRangeFilter:
    """A minimum and a maximum, both inclusive."""

    kind = "number_range"
    params: tuple[str, ...] = ("min", "max")

    def condition(self, field_def: FieldDef, values: Mapping[str, str]) -> list[dict[str, Any]]:
        """``gte min`` and ``lte max`` for the numbers that parse."""
        comparisons: list[dict[str, Any]] = []
        low, high = _number(values.get("min", "")), _number(values.get("max", ""))
        if low is not None:
            comparisons.append({"field": field_def.key, "op": "gte", "value": low})
        if high is not None:
            comparisons.append({"field": field_def.key, "op": "lte", "value": high})
        return comparisons


class BooleanFilter:
    """Yes or no."""

    kind = "boolean"
    params: tuple[str, ...] = ("",)

    def condition(self, field_def: FieldDef, values: Mapping[str, str]) -> list[dict[str, Any]]:
        """``field eq true`` or ``field eq false``."""
        chosen = values.get("", "")
        if chosen not in ("yes", "no"):
            return []
        return [{"field": field_def.key, "op": "eq", "value": chosen == "yes"}]


class OwnerFilter:
    """Records owned by the signed-in user (for user fields such as the owner)."""

    kind = "user"
    params: tuple[str, ...] = ("",)

    def condition(self, field_def: FieldDef, values: Mapping[str, str]) -> list[dict[str, Any]]:
        """``field eq $user.id`` when "me" is chosen."""
        if values.get("", "") != "me":
            return []
        return [{"field": field_def.key, "op": "eq", "value": "$user.id"}]


class UnitSubtreeFilter:
    """Records of a unit and every unit below it (for org unit fields such as the owning unit)."""

    kind = "unit_subtree"
    params: tuple[str, ...] = ("",)

    def condition(self, field_def: FieldDef, values: Mapping[str, str]) -> list[dict[str, Any]]:
        """``field in_unit_subtree unit`` for a unit id."""
        raw = values.get("", "").strip()
        if not raw.isdigit():
            return []
        return [{"field": field_def.key, "op": "in_unit_subtree", "value": int(raw)}]


FILTERS: Mapping[str, FilterKind] = {
    "choice": ChoiceFilter(),
    "multi_choice": ChoiceFilter(),
    "date": DateRangeFilter(),
    "datetime": DateRangeFilter(),
    "integer": NumberRangeFilter(),
    "decimal": NumberRangeFilter(),
    "money": NumberRangeFilter(),
    "percent": NumberRangeFilter(),
    "boolean": BooleanFilter(),
    "user": OwnerFilter(),
    "org_unit": UnitSubtreeFilter(),
}
"""The filter each field type gets on a list page; types not listed get none."""

SCOPES: Mapping[str, dict[str, Any] | None] = {
    "": None,
    "mine": {"field": "owner_user_id", "op": "eq", "value": "$user.id"},
    "unit": {"field": "owning_unit_id", "op": "eq", "value": "$user.unit"},
    "subtree": {"field": "owning_unit_id", "op": "in_unit_subtree", "value": "$user.unit"},
}
"""Owner and unit filters: everything visible, mine, my unit, my unit and everything below it."""


def _param(key: str, suffix: str) -> str:
    return f"f.{key}" + (f".{suffix}" if suffix else "")


@dataclass(frozen=True)
class ListRequest:
    """What a list page was asked for, parsed and checked against the fields the user may use."""

    search: str = ""
    sort: tuple[str, str] | None = None
    cursor: str | None = None
    scope: str = ""
    filters: tuple[FilterControl, ...] = ()
    conditions: tuple[dict[str, Any], ...] = field(default=())

    def condition(self, view: ListViewDef | None) -> dict[str, Any] | None:
        """The filter for the record service: the view's default filter AND everything entered."""
        parts = list(self.conditions)
        if view is not None and view.default_filter is not None:
            parts.insert(0, dict(view.default_filter))
        scope = SCOPES.get(self.scope)
        if scope is not None:
            parts.append(scope)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"all": parts}

    def service_sort(self, view: ListViewDef | None) -> list[tuple[str, str]] | None:
        """The sort for the record service: the clicked column, else the view's default."""
        if self.sort is not None:
            return [self.sort]
        if view is not None and view.default_sort:
            return [(key.field, key.direction) for key in view.default_sort]
        return None

    def query(self, **changes: Any) -> dict[str, str]:
        """The query string of this request with some parameters changed (None removes one)."""
        params: dict[str, str] = {}
        if self.search:
            params["q"] = self.search
        if self.sort is not None:
            params["sort"] = ("-" if self.sort[1] == "desc" else "") + self.sort[0]
        if self.scope:
            params["scope"] = self.scope
        for control in self.filters:
            for suffix, value in control.values.items():
                if value:
                    params[_param(control.field.key, suffix)] = value
        if self.cursor:
            params["cursor"] = self.cursor
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return params


def filterable_fields(
    entity: EntityDef, view: ListViewDef | None, levels: Mapping[str, str]
) -> list[FieldDef]:
    """The fields a list offers filters on: the view's filterable columns the user sees in clear."""
    keys = view.columns if view is not None else entity.field_keys
    fields = [entity.find_field(key) for key in keys]
    # Masked values are offered no filter either: a range filter would reveal them.
    return [
        f
        for f in fields
        if f is not None and f.type in FILTERS and levels.get(f.key) not in ("hidden", "masked")
    ]


def parse_list_request(
    query: MultiDict[str, str],
    entity: EntityDef,
    view: ListViewDef | None,
    levels: Mapping[str, str],
    sortable: frozenset[str],
) -> ListRequest:
    """Read a list page's query string; unknown or unusable parameters are ignored."""
    # The first value of each parameter, in a plain dict: a MultiDict's `get` of an absent
    # key raises and catches an HTTP exception, and most of a page's parameters are absent.
    args = query.to_dict()
    sort: tuple[str, str] | None = None
    raw_sort = args.get("sort", "").strip()
    if raw_sort:
        name = raw_sort.lstrip("-")
        if name in sortable:
            sort = (name, "desc" if raw_sort.startswith("-") else "asc")
    scope = args.get("scope", "")
    controls: list[FilterControl] = []
    conditions: list[dict[str, Any]] = []
    for field_def in filterable_fields(entity, view, levels):
        kind = FILTERS[field_def.type]
        values = {suffix: args.get(_param(field_def.key, suffix), "") for suffix in kind.params}
        controls.append(FilterControl(kind.kind, field_def, values))
        conditions.extend(kind.condition(field_def, values))
    return ListRequest(
        search=args.get("q", "").strip()[:200],
        sort=sort,
        cursor=args.get("cursor") or None,
        scope=scope if scope in SCOPES else "",
        filters=tuple(controls),
        conditions=tuple(conditions),
    )


def columns_of(
    entity: EntityDef, view: ListViewDef | None, levels: Mapping[str, str]
) -> list[FieldDef]:
    """The list's columns: the view's, else the title and the first fields; hidden ones dropped."""
    keys: Sequence[str] = (
        view.columns
        if view is not None
        else list(dict.fromkeys([entity.title_field, *entity.field_keys[:5]]))
    )
    fields = [entity.find_field(key) for key in keys]
    return [f for f in fields if f is not None and levels.get(f.key) != "hidden"]
