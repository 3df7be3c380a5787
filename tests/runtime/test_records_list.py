"""The record service's lists: keyset pages both ways over ties, sorts, filters, search, counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, false, true

from crm_platform.metadata.conditions import ConditionError
from crm_platform.runtime.entity_tables import index_name, table_name
from crm_platform.runtime.errors import InvalidOperation
from crm_platform.runtime.page_plans import SortWalkChooser
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.records import Page
from tests.runtime.records_world import DATABASES, World, all_pages, open_world, tag
from tests.statement_log import statements_sent


@pytest.fixture(scope="module", params=DATABASES)
def shared_world(request, tmp_path_factory) -> Iterator[World]:
    yield from open_world(request, tmp_path_factory)


@pytest.fixture
def world(shared_world: World) -> World:
    return shared_world


def _ids(page: Page) -> list[int]:
    return [row["id"] for row in page.rows]


def test_keyset_pages_forward_and_back_over_ties_in_updated_at(world: World):
    alice = world.principal("alice")
    city = tag()
    # A bulk import stamps every row with the same updated_at: seven ties.
    tied = world.service.bulk_create(alice, "account", [{"name": "T", "city": city}] * 7).ids
    single = [world.service.create(alice, "account", {"name": "S", "city": city})["id"]]
    single.append(world.service.create(alice, "account", {"name": "S", "city": city})["id"])
    only_city = {"field": "city", "op": "eq", "value": city}

    pages = all_pages(world, alice, filter=only_city, page_size=3)

    expected = list(reversed(single)) + sorted(tied, reverse=True)
    assert [i for page in pages for i in _ids(page)] == expected
    assert [len(page.rows) for page in pages] == [3, 3, 3]
    assert pages[0].prev_cursor is None and pages[-1].next_cursor is None
    back = world.service.list(
        alice, "account", filter=only_city, page_size=3, cursor=pages[2].prev_cursor
    )
    assert _ids(back) == _ids(pages[1])
    first = world.service.list(
        alice, "account", filter=only_city, page_size=3, cursor=back.prev_cursor
    )
    assert _ids(first) == _ids(pages[0])
    assert first.prev_cursor is None
    assert first.next_cursor is not None


def test_sort_by_an_indexed_nullable_field_puts_empty_values_last(world: World):
    alice = world.principal("alice")
    name = tag()
    cities = ["b", None, "a", "b", None, "c", "a"]
    ids = world.service.bulk_create(
        alice, "account", [{"name": name, "city": city} for city in cities]
    ).ids
    only_name = {"field": "name", "op": "eq", "value": name}

    ascending = all_pages(world, alice, filter=only_name, sort=[("city", "asc")], page_size=2)
    descending = all_pages(world, alice, filter=only_name, sort=[("city", "desc")], page_size=2)

    by_city = sorted(zip(cities, ids, strict=True), key=lambda p: (p[0] is None, p[0] or "", p[1]))
    assert [i for page in ascending for i in _ids(page)] == [i for _, i in by_city]
    assert [i for page in descending for i in _ids(page)] == [i for _, i in reversed(by_city)]
    back = world.service.list(
        alice,
        "account",
        filter=only_name,
        sort=[("city", "asc")],
        page_size=2,
        cursor=ascending[-1].prev_cursor,
    )
    assert _ids(back) == _ids(ascending[-2])


def test_sorting_by_a_field_without_an_index_is_refused_with_the_sortable_ones(world: World):
    with pytest.raises(InvalidOperation, match="only indexed fields can be sorted") as caught:
        world.service.list(world.principal("alice"), "account", sort=[("employees", "asc")])
    assert "city" in str(caught.value) and "updated_at" in str(caught.value)


def test_a_cursor_only_fits_its_own_sort(world: World):
    alice = world.principal("alice")
    world.service.bulk_create(alice, "account", [{"name": "x"}] * 3)
    page = world.service.list(alice, "account", page_size=2)
    with pytest.raises(InvalidOperation, match="another sort order"):
        world.service.list(alice, "account", sort=[("city", "asc")], cursor=page.next_cursor)
    with pytest.raises(InvalidOperation, match="not valid"):
        world.service.list(alice, "account", cursor="garbage!")


def test_list_shows_only_the_principal_subtree(world: World):
    city = tag()
    tom, sam, alice = world.principal("tom"), world.principal("sam"), world.principal("alice")
    in_team = world.service.create(tom, "account", {"name": "T", "city": city})["id"]
    in_sib = world.service.create(sam, "account", {"name": "S", "city": city})["id"]
    only_city = {"field": "city", "op": "eq", "value": city}
    assert _ids(world.service.list(alice, "account", filter=only_city)) == [in_team]
    assert _ids(world.service.list(tom, "account", filter=only_city)) == [in_team]
    assert _ids(world.service.list(sam, "account", filter=only_city)) == [in_sib]


def test_filter_in_the_condition_language(world: World):
    alice = world.principal("alice")
    city = tag()
    rows = [{"name": "A", "city": city, "employees": n, "level": "a"} for n in (5, 50, 500)]
    ids = world.service.bulk_create(alice, "account", rows).ids
    condition = {
        "all": [
            {"field": "city", "op": "eq", "value": city},
            {"field": "employees", "op": "between", "value": [10, 1000]},
        ]
    }
    assert sorted(_ids(world.service.list(alice, "account", filter=condition))) == ids[1:]


def test_filter_on_an_unknown_field_names_it(world: World):
    with pytest.raises(ConditionError, match="nope"):
        world.service.list(
            world.principal("alice"), "account", filter={"field": "nope", "op": "eq", "value": 1}
        )


def test_search_matches_the_search_fields(world: World):
    alice = world.principal("alice")
    word = tag()
    match_name = world.service.create(alice, "account", {"name": f"华辰{word}机械"})["id"]
    match_city = world.service.create(alice, "account", {"name": "x", "city": word.upper()})["id"]
    world.service.create(alice, "account", {"name": "other"})
    found = world.service.list(alice, "account", search=word)
    assert sorted(_ids(found)) == sorted([match_name, match_city])
    assert world.service.count(alice, "account", search=word).value == 2


def test_count_is_exact_under_the_cap_and_capped_above_it(world: World):
    alice = world.principal("alice")
    city = tag()
    world.service.bulk_create(alice, "account", [{"name": "c", "city": city}] * 12)
    only_city = {"field": "city", "op": "eq", "value": city}
    assert world.service.count(alice, "account", filter=only_city).value == 12
    capped = world.service.count(alice, "account", filter=only_city, cap=5)
    assert (capped.value, capped.exact) == (5, False)
    exact = world.service.count(alice, "account", filter=only_city, cap=None)
    assert (exact.value, exact.exact) == (12, True)
    assert world.service.count(world.principal("sam"), "account", filter=only_city).value == 0


def test_lookup_offers_only_readable_live_records(world: World):
    word = tag()
    tom, sam = world.principal("tom"), world.principal("sam")
    mine = world.service.create(tom, "account", {"name": f"{word} mine"})["id"]
    gone = world.service.create(tom, "account", {"name": f"{word} gone"})["id"]
    world.service.delete(tom, "account", gone)
    world.service.create(sam, "account", {"name": f"{word} theirs"})
    assert world.service.lookup(tom, "account", word) == [{"id": mine, "title": f"{word} mine"}]


def test_page_size_is_bounded(world: World):
    with pytest.raises(InvalidOperation, match="page_size"):
        world.service.list(world.principal("alice"), "account", page_size=0)


def test_export_streams_every_exportable_record_in_batches(world: World):
    alice, sam = world.principal("alice"), world.principal("sam")
    city = tag()
    ids = world.service.bulk_create(alice, "account", [{"name": "e", "city": city}] * 5).ids
    world.service.create(sam, "account", {"name": "not alice's", "city": city})
    only_city = {"field": "city", "op": "eq", "value": city}
    exported = list(world.service.export(alice, "account", filter=only_city, batch_size=2))
    assert [record["id"] for record in exported] == ids
    assert exported[0]["city"] == city


def _statements_of(world: World, call: Any) -> list[tuple[str, Any]]:
    """The SQL text and parameters of every statement `call()` sends to the database."""
    with statements_sent(world.engine) as sent:
        call()
    return [(s.sql, s.parameters) for s in sent]


def _plan(world: World, statement: str, parameters: Any) -> str:
    """The database's plan of a statement, as one lowercase string."""
    with world.engine.connect() as connection:
        raw = connection.connection.driver_connection
        if world.engine.dialect.name == "sqlite":
            rows = raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
            return " ".join(str(row[-1]) for row in rows).lower()
        with raw.cursor() as cursor:
            # A handful of rows: without this the planner rightly prefers a scan of the heap.
            cursor.execute("SET enable_seqscan = off")
            cursor.execute(f"EXPLAIN {statement}", parameters)
            plan = " ".join(row[0] for row in cursor.fetchall()).lower()
            cursor.execute("RESET enable_seqscan")
            raw.rollback()
            return plan


@pytest.mark.parametrize("user", ["alice", "tom"])
def test_count_and_page_read_a_live_row_scope_index(world: World, user: str):
    # The scope indexes are partial (live rows only): a planner can use one only if the
    # statement's WHERE implies `deleted_at IS NULL`, so using any of them proves it does.
    principal = world.principal(user)
    dialect = world.engine.dialect.name
    table = table_name(world.tenant.namespace, "account", dialect)
    live_indexes = [index_name(table, suffix) for suffix in ("updated", "unit_updated")]
    for call in (
        lambda: world.service.count(principal, "account"),
        lambda: world.service.count(principal, "account", cap=None),
        lambda: world.service.list(principal, "account"),
    ):
        statement, parameters = next(
            (text, params)
            for text, params in _statements_of(world, call)
            if "deleted_at IS NULL" in text and "account" in text
        )
        plan = _plan(world, statement, parameters)
        assert any(index in plan for index in live_indexes), plan


class _Always(SortWalkChooser):
    def __init__(self, breadth: str):
        super().__init__()
        self._verdict = breadth

    def _breadth(self, *args: Any) -> Any:  # type: ignore[override]
        return self._verdict


@pytest.mark.parametrize("user", ["alice", "tom", "sam"])
def test_every_walk_plan_pages_the_same_rows(
    world: World, user: str, monkeypatch: pytest.MonkeyPatch
):
    principal = world.principal(user)
    world.service.bulk_create(principal, "account", [{"name": "w", "city": tag()}] * 7)
    walks = {}
    for breadth in ("narrow", "middle", "broad"):
        monkeypatch.setattr(world.service, "_walks", _Always(breadth))
        pages = all_pages(world, principal, page_size=3)
        back = [world.service.list(principal, "account", page_size=3, cursor=pages[-1].prev_cursor)]
        walks[breadth] = ([_ids(page) for page in pages], [_ids(page) for page in back])
    assert walks["middle"] == walks["narrow"] == walks["broad"]
    assert sum(len(ids) for ids in walks["narrow"][0]) >= 7


def _page_statement(world: World, principal: Principal) -> tuple[str, Any]:
    return next(
        (text, params)
        for text, params in _statements_of(world, lambda: all_pages(world, principal))
        if "deleted_at IS NULL" in text and "LIMIT" in text
    )


def test_a_walked_scope_reads_the_sort_index_as_its_database_does_best(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    principal = world.principal("tom")
    statements = {}
    for breadth in ("narrow", "middle", "broad"):
        monkeypatch.setattr(world.service, "_walks", _Always(breadth))
        statements[breadth] = _page_statement(world, principal)
    if world.engine.dialect.name == "sqlite":
        # Past the narrow scopes SQLite walks (updated_at, id), never sorting the unit's rows.
        for breadth in ("middle", "broad"):
            plan = _plan(world, *statements[breadth])
            assert "_unit_updated" not in plan and "temp b-tree" not in plan, plan
        assert "+ 0" not in statements["narrow"][0]
    else:
        # PostgreSQL walks (updated_at, id) for a middle scope's page ids, then reads those rows.
        middle = statements["middle"][0]
        assert ".id = ANY (array((SELECT" in middle and "owning_unit_id + " in middle, middle
        assert middle.count("LIMIT") == 1, middle
        for breadth in ("narrow", "broad"):
            assert "ANY" not in statements[breadth][0], statements[breadth][0]


def test_the_scope_count_decides_the_breadth(world: World):
    alice = world.principal("alice")
    # Enough rows that the whole table outweighs the walk's cost even for a page of one.
    world.service.bulk_create(alice, "account", [{"name": "b", "city": tag()}] * 200)
    dialect = world.engine.dialect.name
    name = table_name(world.tenant.namespace, "account", dialect)
    with world.engine.connect() as connection:
        table = Table(
            name,
            MetaData(),
            autoload_with=connection,
            schema=world.tenant.namespace if dialect != "sqlite" else None,
        )
        everything = SortWalkChooser._breadth(connection, table, true(), 1)
        assert everything == ("broad" if dialect == "postgresql" else "middle")
        assert SortWalkChooser._breadth(connection, table, false(), 1) == "narrow"


def test_a_list_page_is_one_statement_without_begin(world: World):
    # A page is one SELECT: atomic on its own, so no BEGIN/COMMIT round trips around it.
    principal = world.principal("alice")
    world.service.list(principal, "account")  # the tenant state and the plan choice are cached
    sent = [
        text for text, _ in _statements_of(world, lambda: world.service.list(principal, "account"))
    ]
    assert len(sent) == 1, sent
    assert sent[0].lstrip().upper().startswith("SELECT")


def test_listed_date_times_are_utc_aware_on_every_database(world: World):
    principal = world.principal("alice")
    created = world.service.create(principal, "account", {"name": "when", "city": tag()})
    listed = next(
        r for r in world.service.list(principal, "account").rows if r["id"] == created["id"]
    )
    for key in ("created_at", "updated_at"):
        assert listed[key].utcoffset() == timedelta(0)
        assert listed[key] == created[key]
    exported = next(
        r for r in world.service.export(principal, "account") if r["id"] == created["id"]
    )
    assert exported["updated_at"] == created["updated_at"]


def test_a_tenant_wide_count_reads_only_the_live_row_index(world: World):
    # `deleted_at` is in the partial `updated` index, so counting every live row never
    # reads the table (SQLite otherwise scans it: 80 ms instead of 14 on a million rows).
    dialect = world.engine.dialect.name
    table = table_name(world.tenant.namespace, "account", dialect)
    statement, parameters = next(
        (text, params)
        for text, params in _statements_of(
            world, lambda: world.service.count(world.system(), "account", cap=None)
        )
        if "count(" in text.lower() and table in text
    )
    plan = _plan(world, statement, parameters)
    assert ("covering index" if dialect == "sqlite" else "index only scan") in plan, plan
