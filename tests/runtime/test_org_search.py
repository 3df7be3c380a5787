"""Searching org units for a picker: by key or name in any UI language, with the path above."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, Engine

from crm_platform.runtime import org
from crm_platform.runtime.errors import InvalidOperation
from crm_platform.runtime.tenants import create_tenant


@dataclass
class Units:
    tenant_id: int
    other_tenant_id: int
    ids: dict[str, int]


def _name(en: str, hans: str, hant: str) -> dict[str, str]:
    return {"en": en, "zh-Hans": hans, "zh-Hant": hant}


@pytest.fixture
def units(engine: Engine) -> Iterator[tuple[Connection, Units]]:
    """group > {bu_east > {br_east_1, br_old (inactive)}, bu_west > br_west_1}; another tenant."""
    acme = create_tenant(engine, "acme", {"en": "Acme"})
    other = create_tenant(engine, "other", {"en": "Other"})
    with engine.begin() as connection:
        ids: dict[str, int] = {}

        def add(key: str, name: dict[str, str], parent: str | None) -> None:
            parent_id = ids[parent] if parent else None
            unit = org.create_unit(connection, acme.id, key, name, "unit", parent_id)
            ids[key] = unit.id

        add("group", _name("Acme Group", "艾克米集团", "艾克米集團"), None)
        add("bu_east", _name("East Division", "华东事业部", "華東事業部"), "group")
        add("br_east_1", _name("Hangzhou Branch", "杭州分公司", "杭州分公司"), "bu_east")
        add("br_old", _name("Old Hangzhou Office", "杭州旧办事处", "杭州舊辦事處"), "bu_east")
        add("bu_west", _name("West Division", "西部事业部", "西部事業部"), "group")
        add("br_west_1", _name("Chengdu Branch", "成都分公司", "成都分公司"), "bu_west")
        org.deactivate_unit(connection, acme.id, ids["br_old"])
        org.create_unit(connection, other.id, "hangzhou", {"en": "Hangzhou Branch"}, "unit")
    with engine.begin() as connection:
        yield connection, Units(acme.id, other.id, ids)


def test_unit_search_matches_names_in_every_ui_language_and_keys(units) -> None:
    connection, found = units
    for query in ("hangzhou", "杭州", "BR_EAST"):
        matches = org.search_units(connection, found.tenant_id, query, "en")
        assert [m.key for m in matches] == ["br_east_1"], query


def test_unit_search_names_the_unit_and_its_path_in_the_asked_language(units) -> None:
    connection, found = units
    [match] = org.search_units(connection, found.tenant_id, "chengdu", "zh-Hant")
    assert match.id == found.ids["br_west_1"]
    assert match.name == "成都分公司"
    assert match.ancestors == ("艾克米集團", "西部事業部")
    [root] = org.search_units(connection, found.tenant_id, "acme", "en")
    assert (root.name, root.ancestors) == ("Acme Group", ())


def test_unit_search_leaves_out_inactive_units_and_other_tenants(units) -> None:
    connection, found = units
    assert [m.key for m in org.search_units(connection, found.tenant_id, "office", "en")] == []
    others = org.search_units(connection, found.other_tenant_id, "hangzhou", "en")
    assert [m.key for m in others] == ["hangzhou"]


def test_unit_search_puts_starting_matches_first_then_tree_order(units) -> None:
    connection, found = units
    # Only "East Division" starts with "e"; the rest follow the tree, each unit above its own.
    assert [m.key for m in org.search_units(connection, found.tenant_id, "e", "en")] == [
        "bu_east", "group", "br_east_1", "bu_west", "br_west_1",
    ]  # fmt: skip
    assert [m.key for m in org.search_units(connection, found.tenant_id, "ch", "en")] == [
        "br_west_1", "br_east_1",
    ]  # fmt: skip


def test_empty_unit_search_lists_active_units_in_tree_order_up_to_the_limit(units) -> None:
    connection, found = units
    every = org.search_units(connection, found.tenant_id, "", "en")
    assert [m.key for m in every] == ["group", "bu_east", "br_east_1", "bu_west", "br_west_1"]
    assert len(org.search_units(connection, found.tenant_id, "", "en", limit=2)) == 2


def test_unit_search_refuses_overlong_text(units) -> None:
    connection, found = units
    with pytest.raises(InvalidOperation, match="use at most 100"):
        org.search_units(connection, found.tenant_id, "x" * 101, "en")
