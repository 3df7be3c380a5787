"""`RecordService.list(fields=...)`: a page that reads only the columns it shows."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from crm_platform.runtime.entity_tables import SYSTEM_COLUMN_NAMES, build_tables
from crm_platform.runtime.errors import InvalidOperation
from crm_platform.runtime.record_checks import shape_of
from tests.runtime.profiled_policy import ProfiledPolicy
from tests.runtime.records_world import DATABASES, World, all_pages, open_world, tag

SYSTEM = frozenset(SYSTEM_COLUMN_NAMES)


@pytest.fixture(scope="module", params=DATABASES)
def world(request, tmp_path_factory) -> Iterator[World]:
    yield from open_world(request, tmp_path_factory)


def _accounts(world: World, count: int) -> tuple[dict[str, Any], list[int]]:
    name = tag()
    rows = [
        {
            "name": name,
            "city": f"city {n}",
            "secret": f"s{n}",
            "employees": n,
            "revenue": {"amount": Decimal(f"{n}.50"), "currency": "CNY"},
        }
        for n in range(count)
    ]
    ids = world.service.bulk_create(world.principal("alice"), "account", rows).ids
    return {"field": "name", "op": "eq", "value": name}, ids


def test_narrowed_list_holds_the_named_fields_and_the_system_columns_only(world: World):
    alice = world.principal("alice")
    only_these, _ = _accounts(world, 3)

    full = world.service.list(alice, "account", filter=only_these)
    narrow = world.service.list(alice, "account", filter=only_these, fields=("name", "revenue"))

    assert [set(row) for row in narrow.rows] == [SYSTEM | {"name", "revenue"}] * 3
    assert narrow.rows == [
        {key: row[key] for key in SYSTEM | {"name", "revenue"}} for row in full.rows
    ]
    assert (
        narrow.rows[0]["revenue"] == full.rows[0]["revenue"]
    )  # money still an amount and currency


def test_narrowed_list_pages_by_a_sort_field_it_does_not_show(world: World):
    alice = world.principal("alice")
    only_these, _ = _accounts(world, 5)
    by_city = [("city", "desc")]

    narrow = all_pages(world, alice, filter=only_these, sort=by_city, page_size=2, fields=("name",))
    full = all_pages(world, alice, filter=only_these, sort=by_city, page_size=2)

    assert [[row["id"] for row in page.rows] for page in narrow] == [
        [row["id"] for row in page.rows] for page in full
    ]
    assert [page.next_cursor for page in narrow] == [page.next_cursor for page in full]
    back = world.service.list(
        alice,
        "account",
        filter=only_these,
        sort=by_city,
        page_size=2,
        cursor=narrow[1].prev_cursor,
        fields=("name",),
    )
    assert [row["id"] for row in back.rows] == [row["id"] for row in narrow[0].rows]


def test_a_full_list_after_a_narrowed_one_still_reads_every_column(world: World):
    alice = world.principal("alice")
    only_these, _ = _accounts(world, 2)
    world.service.list(alice, "account", filter=None, fields=("name",))
    world.service.list(alice, "account", filter=only_these, fields=("name",))

    unfiltered = world.service.list(alice, "account")
    filtered = world.service.list(alice, "account", filter=only_these)

    assert {"city", "secret", "employees", "revenue"} <= set(unfiltered.rows[0])
    assert {"city", "secret", "employees", "revenue"} <= set(filtered.rows[0])


def test_narrowed_list_keeps_hidden_fields_out_and_masked_ones_masked(world: World):
    secured = world.with_policy(ProfiledPolicy({"city": "masked", "secret": "hidden"}))
    only_these, _ = _accounts(world, 2)

    page = secured.list(
        world.principal("alice"), "account", filter=only_these, fields=("name", "city", "secret")
    )

    assert [set(row) for row in page.rows] == [SYSTEM | {"name", "city"}] * 2
    assert {row["city"] for row in page.rows} == {"***"}


def test_narrowed_list_refuses_unknown_fields_naming_each(world: World):
    alice = world.principal("alice")
    with pytest.raises(InvalidOperation, match=r"account has no field 'colour', 'size' to list"):
        world.service.list(alice, "account", fields=("name", "size", "colour"))
    with pytest.raises(InvalidOperation, match=r"not the string 'name'"):
        world.service.list(alice, "account", fields="name")


def test_readers_are_kept_per_hidden_set_and_field_set(world: World):
    config = world.store.physical("acme")
    table = build_tables(world.tenant, config, "sqlite")["account"]
    shape = shape_of(table, config.entity("account"))
    hidden = frozenset({"secret"})

    full = shape.reader(hidden)
    narrow = shape.reader(hidden, frozenset({"name", "revenue", "secret"}))

    assert shape.reader(hidden) is full
    assert shape.reader(hidden, frozenset({"name", "revenue", "secret"})) is narrow
    assert shape.reader(frozenset(), frozenset({"name", "revenue", "secret"})) is not narrow
    assert narrow.keys == (*SYSTEM_COLUMN_NAMES, "name", "revenue", "revenue_currency")
    assert narrow.money == ("revenue",)
    assert "secret" not in full.keys and {"city", "employees"} <= set(full.keys)
