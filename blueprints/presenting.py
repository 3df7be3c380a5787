"""Turning records into what a page shows: names for the ids they hold, formatted values.

Names come from the core: referenced records' titles through the record service
(so a user only learns titles of records they may read), users and units from
the runtime. One query per referenced entity, one for all the users, and one per
distinct unit not yet read in the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import current_app

from blueprints.context import current_configuration, current_principal, db, services, unit
from blueprints.fields import Lookups, Show, display
from blueprints.i18n import current_language
from crm_platform.errors import CrmPlatformError
from crm_platform.metadata.model import EntityDef, FieldDef, localize
from crm_platform.runtime.errors import RecordNotFound
from crm_platform.runtime.users import display_names

_LOOKUP_LIMIT = 500


def show() -> Show:
    """How values are shown in this request: language and time zone, with fresh lookups."""
    return Show(current_language(), current_app.config["BABEL_DEFAULT_TIMEZONE"], Lookups())


def resolve(
    view: Show, entity: EntityDef, records: Iterable[Mapping[str, Any]], keys: Iterable[str]
) -> None:
    """Fill `view.lookups` with the names of everything the `keys` of `records` point at."""
    fields = [f for f in (entity.find_field(key) for key in keys) if f is not None]
    rows = list(records)
    principal = current_principal()
    language = view.language
    wanted: dict[str, set[int]] = {}
    users: set[int] = set()
    for field_def in fields:
        ids = {int(row[field_def.key]) for row in rows if _is_id(row.get(field_def.key))}
        if not ids:
            continue
        if field_def.type == "reference" and field_def.target:
            wanted.setdefault(field_def.target, set()).update(ids)
        elif field_def.type == "user":
            users.update(ids - view.lookups.users.keys())
        elif field_def.type == "org_unit":
            for unit_id in ids - view.lookups.units.keys():
                view.lookups.units[unit_id] = _unit_name(unit_id, language)
    if users:
        # Every user field of every row at once: a page names its owners in one query.
        names = display_names(db(), principal.tenant_id, users)
        view.lookups.users.update({user_id: names.get(user_id, f"#{user_id}") for user_id in users})
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


def cell(view: Show, record: Mapping[str, Any], field_def: FieldDef, level: str) -> str:
    """One value of a record as text, respecting masking."""
    return display(record.get(field_def.key), field_def, view, level)


def label(field_def: FieldDef) -> str:
    """A field's label in the request's language."""
    return localize(field_def.label, current_language())


def _unit_name(unit_id: int, language: str) -> str:
    try:
        return localize(unit(unit_id).name, language)
    except RecordNotFound:
        return f"#{unit_id}"


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
