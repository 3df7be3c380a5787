"""Record forms from form metadata: the screen model, live conditions, and reading a submission.

The form's layout (sections, columns, placements) comes from the configuration;
each placement becomes a `FieldView` with the widget of its type and the user's
access level. Conditions (visible_when, readonly_when) travel to the browser as
JSON for `conditions.js` and are evaluated again here, with the core's
`evaluate`, on the values a submission would leave, so the browser and the
server agree on which fields a save may change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from blueprints.fields import PICKED, WIDGETS, Show, display, input_value, read
from crm_platform.metadata.conditions import ConditionContext, ConditionError, evaluate
from crm_platform.metadata.field_types import SYSTEM_FIELDS
from crm_platform.metadata.model import (
    EntityDef,
    FieldDef,
    FieldPlacement,
    FormDef,
    FormSection,
    localize,
)
from crm_platform.runtime.principal import Principal

CURRENCIES = ("CNY", "HKD", "TWD", "USD", "EUR", "JPY", "GBP")
ORIGINAL_KEY = "_orig"
VERSION_KEY = "_version"
MERGE_PREFIX = "merge."


@dataclass
class FieldView:
    """One field on a form as the template renders it."""

    field: FieldDef
    label: str
    help: str
    widget: str
    level: str
    value: Any
    text: str
    readonly: bool
    required: bool
    locked: bool = False
    shown: bool = True
    visible_when: str = ""
    readonly_when: str = ""
    errors: list[str] = dataclass_field(default_factory=list)
    options: list[tuple[str, str]] = dataclass_field(default_factory=list)
    currency: str = ""
    chosen_title: str = ""
    """For a picker (reference, user, org unit): the name of the chosen record, user or unit."""

    @property
    def key(self) -> str:
        """The field key (also the input's name)."""
        return self.field.key

    @property
    def value_json(self) -> str:
        """The value as JSON, for conditions over fields the user cannot edit (masked: null)."""
        if self.level == "masked":
            return "null"
        if self.field.type == "boolean":
            return json.dumps(bool(self.value))
        return json.dumps(self.value if self.value != "" else None, default=str)


@dataclass
class SectionView:
    """A titled block of the form with its columns of fields."""

    key: str
    label: str
    columns: list[list[FieldView]]


def fallback_form(entity: EntityDef) -> FormDef:
    """The form of an entity whose configuration has none: every field, two columns."""
    placements = [FieldPlacement(f.key) for f in entity.fields]
    half = (len(placements) + 1) // 2
    section = FormSection(
        key="fields",
        label=entity.label,
        columns=(tuple(placements[:half]), tuple(placements[half:])),
    )
    return FormDef(key="_all", entity=entity.key, label=entity.label, sections=(section,))


def field_types(entity: EntityDef) -> dict[str, str]:
    """Field key -> type of every field conditions may name (declared and system)."""
    types = {key: f.type for key, f in SYSTEM_FIELDS.items()}
    types.update({f.key: f.type for f in entity.fields})
    return types


@dataclass(frozen=True)
class FormLogic:
    """Evaluates a form's conditions for one principal, as the browser does."""

    entity: EntityDef
    context: ConditionContext

    @classmethod
    def of(
        cls,
        entity: EntityDef,
        principal: Principal,
        subtree: Callable[[int], frozenset[int]] | None = None,
    ) -> FormLogic:
        """Conditions evaluated with the principal's user, unit and units."""
        unit_ids = principal.team_ids or ((principal.unit_id,) if principal.unit_id else ())
        context = ConditionContext(
            user_id=principal.user_id,
            unit_id=principal.unit_id,
            unit_ids=unit_ids,
            today=datetime.now(UTC).date(),
            subtree=subtree,
        )
        return cls(entity, context)

    def holds(self, condition: Mapping[str, Any] | None, values: Mapping[str, Any]) -> bool | None:
        """The condition over `values`; None when absent or when a value cannot be compared."""
        if condition is None:
            return None
        try:
            return evaluate(condition, values, field_types(self.entity), self.context)
        except (ConditionError, TypeError, ValueError, ArithmeticError):
            # A value the user typed that is not yet valid for its type: the service will
            # report it; the condition neither hides nor locks anything meanwhile.
            return None

    def visible(self, placement: FieldPlacement, values: Mapping[str, Any]) -> bool:
        """False only when `visible_when` is present and does not hold."""
        return self.holds(placement.visible_when, values) is not False

    def readonly(self, placement: FieldPlacement, values: Mapping[str, Any]) -> bool:
        """True when placed read-only or when `readonly_when` holds."""
        return placement.readonly or self.holds(placement.readonly_when, values) is True


def build_sections(
    form: FormDef,
    entity: EntityDef,
    record: Mapping[str, Any],
    levels: Mapping[str, str],
    logic: FormLogic,
    show: Show,
    errors: Mapping[str, Sequence[str]] | None = None,
    raw: MultiDict[str, str] | None = None,
) -> list[SectionView]:
    """The form's sections for `record`; `raw` (a rejected submission) refills the inputs."""
    language = show.language
    sections: list[SectionView] = []
    for section in form.sections:
        columns: list[list[FieldView]] = []
        for column in section.columns:
            views: list[FieldView] = []
            for placement in column:
                field_def = entity.find_field(placement.field, include_system=False)
                level = levels.get(placement.field, "edit")
                if field_def is None or level == "hidden":
                    continue
                views.append(
                    _field_view(placement, field_def, level, record, logic, show, raw, language)
                )
                views[-1].errors = list((errors or {}).get(field_def.key, ()))
            columns.append(views)
        sections.append(SectionView(section.key, localize(section.label, language), columns))
    return sections


def _field_view(
    placement: FieldPlacement,
    field_def: FieldDef,
    level: str,
    record: Mapping[str, Any],
    logic: FormLogic,
    show: Show,
    raw: MultiDict[str, str] | None,
    language: str,
) -> FieldView:
    stored = record.get(field_def.key)
    value = input_value(stored, field_def, show.timezone)
    currency = ""
    if field_def.type == "money":
        chosen = stored.get("currency") if isinstance(stored, Mapping) else None
        currency = chosen or field_def.currency or "CNY"
    if raw is not None and level == "edit":
        if field_def.type == "multi_choice":
            value = raw.getlist(field_def.key)
        elif field_def.type == "boolean":
            value = raw.get(field_def.key) in ("on", "true", "1", "yes")
        else:
            value = raw.get(field_def.key, "")
        if field_def.type == "money":
            currency = raw.get(field_def.key + "_currency", currency)
    chosen = _picked_id(value) if field_def.type in PICKED else None
    return FieldView(
        field=field_def,
        label=localize(field_def.label, language),
        help=localize(field_def.help, language) if field_def.help else "",
        widget=WIDGETS[field_def.type],
        level=level,
        value=value if value is not None else "",
        text=display(stored, field_def, show, level),
        readonly=level != "edit" or placement.readonly,
        required=field_def.required,
        locked=logic.holds(placement.readonly_when, record) is True,
        shown=logic.visible(placement, record),
        visible_when=_condition_json(placement.visible_when),
        readonly_when=_condition_json(None if placement.readonly else placement.readonly_when),
        options=[(o.key, localize(o.label, language)) for o in field_def.options],
        currency=currency,
        chosen_title=display(chosen, field_def, show) if chosen is not None else "",
    )


def _picked_id(value: Any) -> int | None:
    """The id a picker holds (stored as int, or as typed in a rejected submission), if any."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    text = str(value).strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def submitted_ids(entity: EntityDef, submitted: MultiDict[str, str] | None) -> dict[str, int]:
    """The ids a rejected submission's pickers hold, so the form can show them by name again."""
    if submitted is None:
        return {}
    found: dict[str, int] = {}
    for field_def in entity.fields:
        if field_def.type in PICKED:
            chosen = _picked_id(submitted.get(field_def.key, ""))
            if chosen is not None:
                found[field_def.key] = chosen
    return found


def _condition_json(condition: Mapping[str, Any] | None) -> str:
    return json.dumps(condition, ensure_ascii=False, separators=(",", ":")) if condition else ""


def original_values(sections: Sequence[SectionView]) -> str:
    """The inputs' starting values as JSON, so a save sends only what the user changed."""
    values: dict[str, Any] = {}
    for section in sections:
        for column in section.columns:
            for view in column:
                if view.readonly:
                    continue
                values[view.key] = _raw_of_value(view)
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=str)


def _raw_of_value(view: FieldView) -> Any:
    if view.field.type == "multi_choice":
        return sorted(str(item) for item in (view.value or []))
    if view.field.type == "boolean":
        return bool(view.value)
    if view.field.type == "money":
        return [str(view.value), view.currency]
    return str(view.value)


def _raw_of_submission(form: MultiDict[str, str], field_def: FieldDef) -> Any:
    if field_def.type == "multi_choice":
        return sorted(item for item in form.getlist(field_def.key) if item)
    if field_def.type == "boolean":
        return form.get(field_def.key) in ("on", "true", "1", "yes")
    if field_def.type == "money":
        amount = form.get(field_def.key, "")
        return [amount, form.get(field_def.key + "_currency", "")]
    return form.get(field_def.key, "")


def read_submission(
    form_def: FormDef,
    entity: EntityDef,
    levels: Mapping[str, str],
    logic: FormLogic,
    submitted: MultiDict[str, str],
    stored: Mapping[str, Any],
    timezone: str,
    only_changed: bool,
) -> dict[str, Any]:
    """The values a submission asks the record service to write.

    Only fields the user may edit, that are visible and not read-only once the
    submission's own values are taken into account (as the browser shows them);
    with `only_changed`, only fields whose input differs from where it started.
    """
    editable: dict[str, FieldDef] = {}
    for placement in form_def.placements:
        field_def = entity.find_field(placement.field, include_system=False)
        if field_def is not None and levels.get(field_def.key, "edit") == "edit":
            editable.setdefault(field_def.key, field_def)
    values = {
        key: read(submitted, field_def, timezone)
        for key, field_def in editable.items()
        # A disabled input (locked live by a condition) is not submitted: keep what is stored.
        if key in submitted or field_def.type in ("boolean", "multi_choice")
    }
    merged = {**stored, **values}
    originals = _originals(submitted) if only_changed else {}
    changes: dict[str, Any] = {}
    for placement in form_def.placements:
        key = placement.field
        if key not in values or key in changes:
            continue
        if not logic.visible(placement, merged) or logic.readonly(placement, merged):
            continue
        if only_changed and key in originals:
            if _raw_of_submission(submitted, editable[key]) == originals[key]:
                continue
        if not only_changed and values[key] is None:
            continue
        changes[key] = values[key]
    return changes


def _originals(submitted: MultiDict[str, str]) -> dict[str, Any]:
    try:
        found = json.loads(submitted.get(ORIGINAL_KEY, "") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def merge_choices(submitted: MultiDict[str, str]) -> dict[str, str]:
    """On a conflict page, which side the user kept for each field: ``mine`` or ``theirs``."""
    return {
        key[len(MERGE_PREFIX) :]: value
        for key, value in submitted.items()
        if key.startswith(MERGE_PREFIX) and value in ("mine", "theirs")
    }
