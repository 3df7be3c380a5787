"""What the layout shows around every page: the entities in the navigation and the unit chooser.

Computed once per request (kept on `g`) from the core: the effective
configuration of the user's unit and the entities the principal may read.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g
from flask_login import current_user

from blueprints.context import (
    capabilities_of_all,
    current_configuration,
    current_principal,
    unit,
)
from blueprints.i18n import current_language
from crm_platform.metadata.model import localize


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


def my_units() -> list[UnitChoice]:
    """The user's primary unit and every unit they hold a role at, in that order."""
    if not current_user.is_authenticated:
        return []
    if "crm_my_units" not in g:
        principal = current_principal()
        ids = list(
            dict.fromkeys(
                [current_user.primary_unit_id, *(grant.unit_id for grant in principal.assignments)]
            )
        )
        language = current_language()
        g.crm_my_units = [
            UnitChoice(
                unit_id,
                localize(unit(unit_id).name, language),
                unit_id == principal.unit_id,
            )
            for unit_id in ids
        ]
    found: list[UnitChoice] = g.crm_my_units
    return found


def unit_choices() -> list[UnitChoice]:
    """The units a user may switch their work to; empty when there is only one."""
    if not current_user.is_authenticated:
        return []
    principal = current_principal()
    if len({current_user.primary_unit_id, *(a.unit_id for a in principal.assignments)}) < 2:
        return []  # one unit only: no chooser, and no need to look up any unit's name
    return my_units()


def navigation() -> list[NavItem]:
    """The entities the user may read, in the configured order, with localized plural labels."""
    if not current_user.is_authenticated:
        return []
    if "crm_navigation" not in g:
        configuration = current_configuration()
        language = current_language()
        entities = configuration.entities_in_nav_order()
        allowed = capabilities_of_all([entity.key for entity in entities])
        g.crm_navigation = [
            NavItem(entity.key, localize(entity.plural_label, language))
            for entity in entities
            if allowed[entity.key].readable
        ]
    found: list[NavItem] = g.crm_navigation
    return found
