"""What the layout shows around every page: the entities in the navigation and the unit chooser.

Computed once per request (kept on `g`) from the core: the effective
configuration of the user's unit and the entities the principal may read.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g
from flask_login import current_user

from blueprints.context import capabilities, current_configuration, current_principal, db
from blueprints.i18n import current_language
from crm_platform.metadata.model import localize
from crm_platform.runtime.org import get_unit


@dataclass(frozen=True)
class NavItem:
    """One entity in the navigation: its key and plural label in the user's language."""

    key: str
    label: str


@dataclass(frozen=True)
class UnitChoice:
    """A unit the user may work in, labelled in their language; `current` marks the chosen one."""

    unit_id: int
    label: str
    current: bool


def unit_choices() -> list[UnitChoice]:
    """The user's primary unit and every unit they hold a role at, in that order."""
    if not current_user.is_authenticated:
        return []
    if "crm_unit_choices" not in g:
        principal = current_principal()
        ids = list(
            dict.fromkeys(
                [current_user.primary_unit_id, *(grant.unit_id for grant in principal.assignments)]
            )
        )
        choices: list[UnitChoice] = []
        if len(ids) > 1:
            language = current_language()
            for unit_id in ids:
                unit = get_unit(db(), principal.tenant_id, unit_id)
                label = localize(unit.name, language)
                choices.append(UnitChoice(unit_id, label, unit_id == principal.unit_id))
        g.crm_unit_choices = choices
    found: list[UnitChoice] = g.crm_unit_choices
    return found


def navigation() -> list[NavItem]:
    """The entities the user may read, in the configured order, with localized plural labels."""
    if not current_user.is_authenticated:
        return []
    if "crm_navigation" not in g:
        configuration = current_configuration()
        language = current_language()
        g.crm_navigation = [
            NavItem(entity.key, localize(entity.plural_label, language))
            for entity in configuration.entities_in_nav_order()
            if capabilities(entity.key).readable
        ]
    found: list[NavItem] = g.crm_navigation
    return found
