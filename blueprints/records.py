"""The runtime UI: generated forms and record pages for every entity in the configuration.

Views parse the request, call the record service, and render. What a user may
see or change is decided by the service; a record they may not read is 404.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from blueprints.context import (
    capabilities,
    current_configuration,
    current_principal,
    db,
    entity_or_404,
    is_administrator,
    record_capabilities,
    services,
)
from blueprints.errors import Refused
from blueprints.fields import display
from blueprints.forms import (
    CURRENCIES,
    VERSION_KEY,
    FormLogic,
    build_sections,
    fallback_form,
    field_types,
    merge_choices,
    original_values,
    read_submission,
    submitted_ids,
)
from blueprints.i18n import current_language
from blueprints.presenting import label, resolve, show
from blueprints.record_page import (
    EXPLAIN_USER_KEY,
    explain_panel,
    related_lists,
    sections_of,
    timeline,
)
from blueprints.record_routes import bp
from crm_platform.metadata.model import EntityDef, FormDef, localize
from crm_platform.runtime.errors import RecordInvalid, StaleVersion
from crm_platform.runtime.org import subtree_ids

# -- forms ---------------------------------------------------------------------------------------


def _form_of(entity_def: EntityDef) -> FormDef:
    return current_configuration().default_form(entity_def.key) or fallback_form(entity_def)


def _logic(entity_def: EntityDef) -> FormLogic:
    def subtree(unit_id: int) -> frozenset[int]:
        # in_unit_subtree in a form condition: the unit and its descendants, from the closure.
        return frozenset(subtree_ids(db(), unit_id))

    return FormLogic.of(entity_def, current_principal(), subtree)


def _render_form(
    entity_def: EntityDef,
    record: Mapping[str, Any],
    *,
    errors: Mapping[str, Sequence[str]] | None = None,
    raw: MultiDict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    form_def = _form_of(entity_def)
    caps = capabilities(entity_def.key)
    values = show()
    resolve(values, entity_def, [record, submitted_ids(entity_def, raw)], form_def.field_keys)
    sections = build_sections(
        form_def, entity_def, record, caps.field_levels, _logic(entity_def), values, errors, raw
    )
    placed = {view.key for section in sections for column in section.columns for view in column}
    general = [
        message
        for key, messages in (errors or {}).items()
        if key not in placed
        for message in messages
    ]
    language = current_language()
    editing = "id" in record
    page = render_template(
        "records/form.html",
        entity=entity_def,
        entity_label=localize(entity_def.label, language),
        record=record,
        title=_record_title(entity_def, record) if editing else "",
        editing=editing,
        sections=sections,
        general_errors=general,
        original=original_values(sections) if editing else "",
        currencies=CURRENCIES,
        condition_context=_condition_context_json(),
        field_types=json.dumps(field_types(entity_def)),
        active_entity=entity_def.key,
    )
    return page, status


def _condition_context_json() -> str:
    principal = current_principal()
    units = list(principal.team_ids or ((principal.unit_id,) if principal.unit_id else ()))
    return json.dumps(
        {
            "user": {"id": principal.user_id, "unit": principal.unit_id, "units": units},
            "today": datetime.now(UTC).date().isoformat(),
        }
    )


def _record_title(entity_def: EntityDef, record: Mapping[str, Any]) -> str:
    title = record.get(entity_def.title_field)
    return str(title) if title not in (None, "") else f"#{record.get('id')}"


def _defaults(entity_def: EntityDef) -> dict[str, Any]:
    return {
        f.key: list(f.default) if isinstance(f.default, tuple) else f.default
        for f in entity_def.fields
        if f.default is not None
    }


def _creatable(entity: str) -> EntityDef:
    """The entity if the user may create its records; 404 if unreadable, `Refused` (403) if not.

    Asked of the core's capabilities before a form is shown or a submission read,
    so nobody fills in a form the record service would refuse to save.
    """
    entity_def = entity_or_404(entity)
    if not capabilities(entity).holds("create"):
        raise Refused(entity, "create")
    return entity_def


def _updatable(entity: str, record_id: int) -> EntityDef:
    """The entity if the user may update this record; 404 if it is unreadable, else `Refused`."""
    entity_def = entity_or_404(entity)
    if not record_capabilities(entity, record_id).holds("update"):
        raise Refused(entity, "update", record_id)
    return entity_def


@bp.get("/r/<entity>/new")
@login_required
def new_record(entity: str) -> tuple[str, int]:
    """An empty form for a new record, with the fields' defaults filled in."""
    entity_def = _creatable(entity)
    return _render_form(entity_def, _defaults(entity_def))


@bp.post("/r/<entity>/new")
@login_required
def create_record(entity: str) -> Response | tuple[str, int]:
    """Create the record; invalid values come back beside their fields."""
    entity_def = _creatable(entity)
    form_def = _form_of(entity_def)
    caps = capabilities(entity)
    logic = _logic(entity_def)
    timezone = current_app.config["BABEL_DEFAULT_TIMEZONE"]
    values = read_submission(
        form_def,
        entity_def,
        caps.field_levels,
        logic,
        request.form,
        _defaults(entity_def),
        timezone,
        only_changed=False,
    )
    try:
        record = services().records.create(current_principal(), entity, values)
    except RecordInvalid as invalid:
        return _render_form(
            entity_def, _defaults(entity_def), errors=invalid.errors, raw=request.form, status=422
        )
    flash(_("Saved."), "info")
    return redirect(url_for("records.show_record", entity=entity, record_id=record["id"]))


@bp.get("/r/<entity>/<int:record_id>/edit")
@login_required
def edit_record(entity: str, record_id: int) -> tuple[str, int]:
    """The record's form, filled in, carrying the version it was read at."""
    entity_def = _updatable(entity, record_id)
    record = services().records.get(current_principal(), entity, record_id)
    return _render_form(entity_def, record)


@bp.post("/r/<entity>/<int:record_id>/edit")
@login_required
def update_record(entity: str, record_id: int) -> Response | tuple[str, int]:
    """Save the fields the user changed; a stale version shows the conflict page instead."""
    entity_def = _updatable(entity, record_id)
    principal = current_principal()
    service = services().records
    stored = service.get(principal, entity, record_id)
    try:
        expected = int(request.form.get(VERSION_KEY, ""))
    except ValueError:
        abort(400)
    caps = capabilities(entity)
    changes = read_submission(
        _form_of(entity_def),
        entity_def,
        caps.field_levels,
        _logic(entity_def),
        request.form,
        stored,
        current_app.config["BABEL_DEFAULT_TIMEZONE"],
        only_changed=True,
    )
    for key, side in merge_choices(request.form).items():
        if side == "theirs":
            changes.pop(key, None)
    try:
        service.update(principal, entity, record_id, changes, expected)
    except RecordInvalid as invalid:
        return _render_form(entity_def, stored, errors=invalid.errors, raw=request.form, status=422)
    except StaleVersion as stale:
        return _render_conflict(entity_def, stale, changes)
    flash(_("Saved."), "info")
    return redirect(url_for("records.show_record", entity=entity, record_id=record_id))


def _render_conflict(
    entity_def: EntityDef, stale: StaleVersion, changes: Mapping[str, Any]
) -> tuple[str, int]:
    caps = capabilities(entity_def.key)
    theirs = stale.current
    values = show()
    mine_record = {**theirs, **changes}
    resolve(values, entity_def, [theirs, mine_record], list(changes))
    rows = []
    for key in changes:
        field_def = entity_def.find_field(key, include_system=False)
        if field_def is None:
            continue
        level = caps.level(key)
        their_text = display(theirs.get(key), field_def, values, level)
        my_text = display(changes[key], field_def, values, level)
        rows.append(
            {
                "key": key,
                "label": label(field_def),
                "theirs": their_text,
                "mine": my_text,
                "differs": their_text != my_text,
            }
        )
    carried = [
        (key, value)
        for key, value in request.form.items(multi=True)
        if key not in ("csrf_token", VERSION_KEY) and not key.startswith("merge.")
    ]
    page = render_template(
        "records/conflict.html",
        entity=entity_def,
        entity_label=localize(entity_def.label, current_language()),
        title=_record_title(entity_def, theirs),
        record_id=stale.record_id,
        current_version=theirs.get("version"),
        rows=rows,
        carried=carried,
        active_entity=entity_def.key,
    )
    return page, 409


@bp.post("/r/<entity>/<int:record_id>/delete")
@login_required
def delete_record(entity: str, record_id: int) -> Response | tuple[str, int]:
    """Delete the record (softly: it keeps its history and can be restored)."""
    entity_def = entity_or_404(entity)
    try:
        expected = int(request.form.get(VERSION_KEY, ""))
    except ValueError:
        abort(400)
    try:
        services().records.delete(current_principal(), entity, record_id, expected)
    except StaleVersion as stale:
        return _render_conflict(entity_def, stale, {})
    flash(_("Deleted."), "info")
    return redirect(url_for("records.list_records", entity=entity))


# -- the record page -----------------------------------------------------------------------------


@bp.get("/r/<entity>/<int:record_id>")
@login_required
def show_record(entity: str, record_id: int) -> str:
    """The record: its fields, owner and unit, related records and its history."""
    entity_def = entity_or_404(entity)
    principal = current_principal()
    service = services().records
    record = service.get(principal, entity, record_id)
    history = service.history(principal, entity, record_id)
    # Only the actions the policy grants on this very record are offered.
    allowed = record_capabilities(entity, record_id)
    values = show()
    form_def = _form_of(entity_def)
    audit_values = [
        {key: side} for entry in history for key, pair in entry.changes.items() for side in pair
    ]
    resolve(
        values,
        entity_def,
        [record, *audit_values, *({"created_by": e.actor_id} for e in history)],
        [*form_def.field_keys, "owner_user_id", "owning_unit_id", "created_by", "updated_by"],
    )
    system = {key: entity_def.field(key) for key in ("owner_user_id", "owning_unit_id")}
    # Explaining access is an administrator's tool; for anyone else ?explain= is ignored.
    administrator = is_administrator()
    explanation = None
    if administrator and request.args.get("explain"):
        # Asked for explicitly: it runs one query per source of access.
        explanation = explain_panel(entity_def, record_id, request.args.get(EXPLAIN_USER_KEY))
    return render_template(
        "records/record.html",
        entity=entity_def,
        entity_label=localize(entity_def.label, current_language()),
        record=record,
        title=_record_title(entity_def, record),
        sections=sections_of(form_def, entity_def, record, _logic(entity_def), values),
        owner=display(record.get("owner_user_id"), system["owner_user_id"], values),
        owning_unit=display(record.get("owning_unit_id"), system["owning_unit_id"], values),
        created_at=record.get("created_at"),
        updated_at=record.get("updated_at"),
        related=related_lists(entity_def, record_id, values),
        events=timeline(entity_def, history, values, values.lookups.users),
        explain_offered=administrator,
        explanation=explanation,
        explain_user_key=EXPLAIN_USER_KEY,
        may_update=allowed.holds("update"),
        may_delete=allowed.holds("delete"),
        active_entity=entity,
    )
