"""What the layout shows around every page: the entities in the navigation and the unit chooser.

Computed once per request (kept on `g`) from the core: the effective
configuration of the user's unit and the entities the principal may read.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, url_for
from flask_login import current_user

from blueprints.context import (
    capabilities_of_all,
    current_configuration,
    current_principal,
    unit,
    units,
)
from blueprints.i18n import current_language
from crm_platform.metadata.model import localize


@dataclass(frozen=True)
class NavItem:
    """One entity in the navigation: its key, plural label in the user's language, list URL."""

    key: str
    label: str
    url: str


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
        found_units = units(ids)  # one query for all of them
        g.crm_my_units = [
            UnitChoice(
                unit_id,
                localize((found_units.get(unit_id) or unit(unit_id)).name, language),
                unit_id == principal.unit_id,
            )
            for unit_id in ids
        ]
    found: list[UnitChoice] = g.crm_my_units
    return found


def unit_choices() -> list[UnitChoice]:
    """The units a user may switch their work to; empty when there is only one."""
    user = current_user._get_current_object()
    if not user.is_authenticated:
        return []
    principal = current_principal()
    if len({user.primary_unit_id, *(a.unit_id for a in principal.assignments)}) < 2:
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
        readable = [entity for entity in entities if allowed[entity.key].readable]
        urls = list_urls([entity.key for entity in readable])
        g.crm_navigation = [
            NavItem(entity.key, localize(entity.plural_label, language), urls[entity.key])
            for entity in readable
        ]
    found: list[NavItem] = g.crm_navigation
    return found


_MARKER = "entity_key_marker"


def list_urls(entity_keys: list[str]) -> dict[str, str]:
    """Each entity's list page URL, from one `url_for` rather than one per entity.

    Entity keys are lower-case letters, digits and underscores (the metadata
    schema), which a URL path carries unquoted, so every URL is the same
    around the key.
    """
    sample = url_for("records.list_records", entity=_MARKER)
    head, found, tail = sample.partition(_MARKER)
    if not found:
        raise RuntimeError(
            f"the list page's URL {sample!r} does not carry the entity key as it is; "
            "build the navigation's URLs with url_for each"
        )
    return {key: f"{head}{key}{tail}" for key in entity_keys}
