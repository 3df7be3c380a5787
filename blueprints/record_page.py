"""The record page's parts: its fields by form section, related records, the audit timeline,
and the administrators' "explain access" panel.

Everything is read through the record service as the signed-in principal, so a
related list shows only records the user may read and the timeline leaves out
hidden fields and masks masked ones, exactly as the service returns them. The
explain panel is the exception by design: an administrator asks the core why
any user of the organisation may (or may not) do what with this record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_login import current_user

from blueprints.context import (
    capabilities,
    current_configuration,
    current_principal,
    db,
    services,
)
from blueprints.fields import Show, display
from blueprints.forms import FormLogic
from blueprints.i18n import current_language
from blueprints.listing import columns_of
from blueprints.presenting import resolve
from crm_platform.errors import CrmPlatformError
from crm_platform.metadata.model import EntityDef, FieldDef, FormDef, UnknownMetadataItem, localize
from crm_platform.runtime.audit import AuditRecord
from crm_platform.runtime.errors import RecordNotFound
from crm_platform.runtime.explain import AccessExplanation, explain_record
from crm_platform.runtime.field_security import FieldSource
from crm_platform.runtime.users import display_names

RELATED_PAGE = 5
EXPLAIN_USER_KEY = "explain_user"
"""The record page's query parameter naming the user whose access the panel explains."""
_MAX_ID_DIGITS = 18  # a larger number is no id any database here stores


@dataclass(frozen=True)
class ShownField:
    """A field on the record page: label, value as text, whether it is masked."""

    key: str
    label: str
    text: str
    masked: bool
    link: tuple[str, int] | None = None


@dataclass(frozen=True)
class ShownSection:
    """A form section on the record page."""

    key: str
    label: str
    fields: list[ShownField]


@dataclass(frozen=True)
class RelatedList:
    """Records of another entity that point at this one through `via`."""

    entity: str
    label: str
    via: str
    via_label: str
    columns: list[str]
    rows: list[dict[str, Any]]
    more: bool


@dataclass(frozen=True)
class Change:
    """One field's change in an audit entry, as text."""

    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Event:
    """One audit entry on the timeline."""

    action: str
    actor: str
    at: Any
    changes: list[Change]


def sections_of(
    form: FormDef,
    entity: EntityDef,
    record: Mapping[str, Any],
    logic: FormLogic,
    show: Show,
) -> list[ShownSection]:
    """The record's fields grouped as its form groups them; hidden and invisible ones left out."""
    caps = capabilities(entity.key)
    sections = []
    for section in form.sections:
        shown = []
        for placement in section.placements:
            field_def = entity.find_field(placement.field, include_system=False)
            level = caps.level(placement.field)
            if field_def is None or level == "hidden" or not logic.visible(placement, record):
                continue
            value = record.get(field_def.key)
            link = None
            if field_def.type == "reference" and isinstance(value, int) and field_def.target:
                # Only titles the record service returned are links: those records are readable.
                if (field_def.target, value) in show.lookups.titles:
                    link = (field_def.target, value)
            shown.append(
                ShownField(
                    field_def.key,
                    localize(field_def.label, show.language),
                    display(value, field_def, show, level),
                    level == "masked",
                    link,
                )
            )
        if shown:
            sections.append(
                ShownSection(section.key, localize(section.label, show.language), shown)
            )
    return sections


def related_lists(entity: EntityDef, record_id: int, show: Show) -> list[RelatedList]:
    """For each entity with a reference field to `entity`, its first records pointing here."""
    configuration = current_configuration()
    principal = current_principal()
    service = services().records
    found: list[RelatedList] = []
    for other in configuration.entities_in_nav_order():
        for via in other.fields:
            if via.type != "reference" or via.target != entity.key:
                continue
            try:
                caps = capabilities(other.key)
                if caps.level(via.key) == "hidden":
                    continue
                view = configuration.default_list_view(other.key)
                page = service.list(
                    principal,
                    other.key,
                    filter={"field": via.key, "op": "eq", "value": record_id},
                    page_size=RELATED_PAGE,
                )
            except CrmPlatformError:
                continue  # an entity the user may not read at all is simply not listed
            columns = [c for c in columns_of(other, view, caps.field_levels) if c.key != via.key][
                :4
            ]
            resolve(show, other, page.rows, [c.key for c in columns])
            found.append(
                RelatedList(
                    entity=other.key,
                    label=localize(other.plural_label, show.language),
                    via=via.key,
                    via_label=localize(via.label, show.language),
                    columns=[localize(c.label, show.language) for c in columns],
                    rows=[
                        {
                            "id": row["id"],
                            "cells": [
                                display(row.get(c.key), c, show, caps.level(c.key)) for c in columns
                            ],
                        }
                        for row in page.rows
                    ],
                    more=page.next_cursor is not None,
                )
            )
    return found


def timeline(
    entity: EntityDef, entries: Sequence[AuditRecord], show: Show, actors: Mapping[int, str]
) -> list[Event]:
    """The audit entries newest first, each change as "label: before -> after"."""
    caps = capabilities(entity.key)
    events = []
    for entry in reversed(entries):
        changes = []
        for key, (before, after) in entry.changes.items():
            field_def: FieldDef | None = entity.find_field(key)
            if field_def is None:
                continue
            level = caps.level(key)
            changes.append(
                Change(
                    localize(field_def.label, show.language),
                    _audit_text(before, field_def, show, level),
                    _audit_text(after, field_def, show, level),
                )
            )
        actor = actors.get(entry.actor_id, "") if entry.actor_id is not None else ""
        events.append(Event(entry.action, actor, entry.at, changes))
    return events


def _audit_text(value: Any, field_def: FieldDef, show: Show, level: str) -> str:
    try:
        return display(value, field_def, show, level)
    except (TypeError, ValueError, ArithmeticError):
        # An entry written under an older definition of the field: show it as stored.
        return str(value)


@dataclass(frozen=True)
class ExplainedField:
    """One field's effective level for the explained user, with the roles it comes from."""

    key: str
    label: str
    level: str
    sources: tuple[FieldSource, ...]


@dataclass(frozen=True)
class ExplainPanel:
    """The explain panel: whose access it shows, and the explanation or why there is none."""

    user_id: int | None
    user_name: str
    access: AccessExplanation | None = None
    fields: tuple[ExplainedField, ...] = ()
    problem: str = ""


def explain_panel(entity: EntityDef, record_id: int, asked_user: str | None) -> ExplainPanel:
    """Why the user `asked_user` (an id; the signed-in user when empty) may use this record.

    For administrators only (the core refuses anyone else). Another user is
    explained at their primary unit, as they are when they sign in; an id that
    is not a user of this organisation gets a message, never another tenant's user.
    """
    principal = current_principal()
    chosen = (asked_user or "").strip()
    subject = principal.user_id
    if chosen and chosen != str(principal.user_id):
        if not (chosen.isascii() and chosen.isdigit() and len(chosen) <= _MAX_ID_DIGITS):
            return ExplainPanel(None, "", problem=_("Choose a user from the list."))
        subject = int(chosen)
    name = str(current_user.display_name)
    if subject != principal.user_id and subject is not None:
        name = display_names(db(), principal.tenant_id, [subject]).get(subject, "")
    try:
        explained = explain_record(services().records, principal, entity.key, record_id, subject)
    except RecordNotFound as missing:
        if missing.entity != "user":
            raise
        return ExplainPanel(None, "", problem=_("There is no such user in your organisation."))
    except UnknownMetadataItem:
        # An entity a unit layer adds does not exist where the chosen user works.
        return ExplainPanel(
            subject,
            name,
            problem=_("Records of this kind do not exist where %(user)s works.", user=name),
        )
    language = current_language()
    fields = []
    # The explained user's fields: a unit layer may add fields the signed-in admin's form lacks.
    for key, grant in explained.fields.fields.items():
        field_def = entity.find_field(key)
        label = localize(field_def.label, language) if field_def is not None else key
        fields.append(ExplainedField(key, label, grant.level, grant.sources))
    return ExplainPanel(subject, name, explained.access, tuple(fields))
