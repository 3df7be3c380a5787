"""Turning records into what a page shows: names for the ids they hold, formatted values.

Names come from the core: referenced records' titles through the record service
(so a user only learns titles of records they may read), users and units from
the runtime. One query per referenced entity, one for all the users, and one for
all the units not yet read in the request.

A list page writes every value of a column the same way, so it asks for each
column's formatter once (`column_formatter`) instead of dispatching on the field
type and looking up the locale for each cell. The formatters write exactly what
`blueprints.fields.display` writes (a test compares them for every field type).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from flask import current_app

from blueprints.compiled_formats import date_formatter, datetime_formatter
from blueprints.context import current_configuration, current_principal, db, services, units
from blueprints.fields import DISPLAY, Lookups, Show, display
from blueprints.i18n import babel_locale, current_language
from crm_platform.errors import CrmPlatformError
from crm_platform.metadata.model import EntityDef, FieldDef, localize
from crm_platform.runtime import regions
from crm_platform.runtime.users import display_names

_LOOKUP_LIMIT = 500
_NAMED_TYPES = frozenset({"reference", "user", "org_unit"})
"""The field types whose values are ids that a page shows by name."""


def show() -> Show:
    """How values are shown in this request: language and time zone, with fresh lookups."""
    return Show(current_language(), current_app.config["BABEL_DEFAULT_TIMEZONE"], Lookups())


def resolve(
    view: Show, entity: EntityDef, records: Iterable[Mapping[str, Any]], keys: Iterable[str]
) -> None:
    """Fill `view.lookups` with the names of everything the `keys` of `records` point at."""
    fields = [
        f
        for f in (entity.find_field(key) for key in keys)
        if f is not None and f.type in _NAMED_TYPES
    ]
    rows = list(records)
    wanted: dict[str, set[int]] = {}
    users: set[int] = set()
    unit_ids: set[int] = set()
    for field_def in fields:
        ids = {int(row[field_def.key]) for row in rows if _is_id(row.get(field_def.key))}
        if not ids:
            continue
        if field_def.type == "reference" and field_def.target:
            wanted.setdefault(field_def.target, set()).update(ids)
        elif field_def.type == "user":
            users.update(ids - view.lookups.users.keys())
        elif field_def.type == "org_unit":
            unit_ids.update(ids - view.lookups.units.keys())
    _name_units(view, unit_ids)
    _name_users(view, users)
    _name_records(view, wanted)


def _name_units(view: Show, unit_ids: set[int]) -> None:
    """Every unit field of every row at once: a page names its owning units in one query."""
    if not unit_ids:
        return
    found = units(unit_ids)
    for unit_id in unit_ids:
        named = found.get(unit_id)
        view.lookups.units[unit_id] = (
            localize(named.name, view.language) if named is not None else f"#{unit_id}"
        )


def _name_users(view: Show, users: set[int]) -> None:
    """Every user field of every row at once: a page names its owners in one query."""
    if not users:
        return
    names = display_names(db(), current_principal().tenant_id, users)
    view.lookups.users.update({user_id: names.get(user_id, f"#{user_id}") for user_id in users})


def _name_records(view: Show, wanted: dict[str, set[int]]) -> None:
    """Referenced records' titles, through the record service: only those the user may read."""
    if not wanted:
        return
    principal = current_principal()
    configuration = current_configuration()
    for target, ids in wanted.items():
        if not configuration.has_entity(target):
            continue
        title = configuration.entity(target).title_field
        for chunk in _chunks(sorted(ids), _LOOKUP_LIMIT):
            try:
                page = services().records.list(
                    principal,
                    target,
                    filter={"field": "id", "op": "in", "value": chunk},
                    page_size=len(chunk),
                )
            except CrmPlatformError:
                continue  # an entity the user cannot read at all: its ids stay unnamed
            for row in page.rows:
                view.lookups.titles[(target, int(row["id"]))] = str(row.get(title) or row["id"])


Formatter = Callable[[Any], str]
"""Writes one stored value of a column as text."""


def column_formatter(view: Show, field_def: FieldDef, level: str) -> Formatter:
    """How a column writes its values, as `display` would, decided once for the whole column."""
    if level == "masked":
        return lambda value: display(value, field_def, view, level)
    # `write` sees non-empty values only; `formatted` answers "" for the empty ones.
    build = _FORMATTERS.get(field_def.type)
    write: Formatter = (
        build(field_def, view)
        if build is not None
        else lambda value: DISPLAY[field_def.type](value, field_def, view)
    )

    def formatted(value: Any) -> str:
        if value is None or value in ("", []):
            return ""
        return write(value)

    return formatted


def _as_text(_field: FieldDef, _view: Show) -> Formatter:
    return str


def _option_labels(field_def: FieldDef, language: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for option in field_def.options:
        labels.setdefault(option.key, localize(option.label, language))  # the first one wins
    return labels


def _choice(field_def: FieldDef, view: Show) -> Formatter:
    labels = _option_labels(field_def, view.language)

    def write(value: Any) -> str:
        key = str(value)
        return labels.get(key, key)

    return write


def _multi_choice(field_def: FieldDef, view: Show) -> Formatter:
    labels = _option_labels(field_def, view.language)
    return lambda value: ", ".join(labels.get(str(item), str(item)) for item in value)


def _datetime(_field: FieldDef, view: Show) -> Formatter:
    write = datetime_formatter(babel_locale(view.language), view.timezone)
    return lambda value: write(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _date(_field: FieldDef, view: Show) -> Formatter:
    write = date_formatter(babel_locale(view.language))
    return lambda value: write(date.fromisoformat(value[:10]) if isinstance(value, str) else value)


def _region(_field: FieldDef, view: Show) -> Formatter:
    language = view.language
    return lambda value: _region_text(str(value), language)


@lru_cache(maxsize=8192)
def _region_text(code: str, language: str) -> str:
    """A region code as its province / city / district names (GB/T 2260: static data)."""
    chain = regions.path(code)
    return " / ".join(item.label(language) for item in chain) if chain else code


def _user(_field: FieldDef, view: Show) -> Formatter:
    names = view.lookups.users  # filled by `resolve`, before or after this is built
    return lambda value: names.get(int(value), f"#{value}")


def _unit(_field: FieldDef, view: Show) -> Formatter:
    names = view.lookups.units
    return lambda value: names.get(int(value), f"#{value}")


def _reference(field_def: FieldDef, view: Show) -> Formatter:
    titles, target = view.lookups.titles, field_def.target or ""
    return lambda value: titles.get((target, int(value)), f"#{value}")


_FORMATTERS: Mapping[str, Callable[[FieldDef, Show], Formatter]] = {
    "text": _as_text,
    "long_text": _as_text,
    "email": _as_text,
    "phone": _as_text,
    "url": _as_text,
    "uscc": _as_text,
    "choice": _choice,
    "multi_choice": _multi_choice,
    "datetime": _datetime,
    "date": _date,
    "region": _region,
    "user": _user,
    "org_unit": _unit,
    "reference": _reference,
}
"""Column formatters of the types a list shows most; other types call `DISPLAY` per value."""


def label(field_def: FieldDef) -> str:
    """A field's label in the request's language."""
    return localize(field_def.label, current_language())


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
