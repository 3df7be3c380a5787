"""The bench generator and a benchmark at a tiny scale, so neither can rot unnoticed."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bench import http_list, list_scopes
from bench.common import ENTITY, UNITS, find_scopes, open_bench
from bench.generate import generate


def _snapshot(url: str) -> list[tuple[object, ...]]:
    bench = open_bench(url)
    table = bench.table()
    with bench.engine.connect() as connection:
        rows = connection.execute(
            select(table.c.name, table.c.uscc, table.c.region, table.c.industry)
            .order_by(table.c.id)
            .limit(20)
        ).all()
    bench.engine.dispose()
    return [tuple(row) for row in rows]


def test_generator_rebuilds_the_same_tenant_and_the_list_benchmark_measures_it(
    database_url: str,
) -> None:
    generate(database_url, units=60, users=120, customers=400, seed=3)
    first = _snapshot(database_url)
    generate(database_url, units=60, users=120, customers=400, seed=3)
    assert _snapshot(database_url) == first

    bench = open_bench(database_url)
    with bench.engine.connect() as connection:
        units = connection.execute(
            select(func.count()).select_from(UNITS).where(UNITS.c.tenant_id == bench.tenant.id)
        ).scalar_one()
        kinds = set(
            connection.execute(
                select(UNITS.c.kind).where(UNITS.c.tenant_id == bench.tenant.id)
            ).scalars()
        )
    assert units == 60
    assert {"group", "business_unit", "subsidiary", "branch", "team"} <= kinds
    scopes = find_scopes(bench)
    assert scopes["tenant"].rows == 400
    assert 0 < scopes["team"].rows < scopes["subsidiary"].rows < scopes["business_unit"].rows
    page = bench.service.list(bench.principal(scopes["subsidiary"].user_id), ENTITY)
    assert len(page.rows) == 50
    bench.engine.dispose()

    rows = list_scopes.run(database_url, runs=1)
    names = [row[0].split()[0] for row in rows]
    assert list(dict.fromkeys(names)) == ["team", "subsidiary", "business_unit", "tenant"]
    assert {row[-1] for row in rows} <= {"PASS", "MISS"}
    assert all(isinstance(row[2], float) and row[2] > 0 for row in rows)


def test_http_benchmark_times_three_views_that_show_the_same_customers(
    database_url: str,
) -> None:
    generate(database_url, units=60, users=120, customers=400, seed=3)

    rows = http_list.run(database_url, runs=1)

    assert [row[0].split()[0] for row in rows] == ["team", "subsidiary", "business_unit", "tenant"]
    for row in rows:
        app_ms, plain_ms, least_ms = row[1:4]
        assert min(app_ms, plain_ms, least_ms) > 0
        # The app signs in, names the owners and reads the tenant's versions with the page.
        assert row[6] == "4 / 2 / 4"
        assert row[-1] in {"PASS", "MISS"}


def test_http_benchmark_stops_when_the_views_show_different_customers() -> None:
    table_row = "<tr><td>{}</td><td>x</td></tr>"
    app_rows = '<tr data-id="7"><td>a</td></tr><tr data-id="5"><td>b</td></tr>'

    http_list.same_customers({"app": app_rows, "plain": table_row.format(7) + table_row.format(5)})
    with pytest.raises(SystemExit, match="not show the same customers"):
        http_list.same_customers(
            {"app": app_rows, "plain": table_row.format(5) + table_row.format(7)}
        )
    with pytest.raises(SystemExit, match="not show the same customers"):
        http_list.same_customers({"app": "", "plain": ""})
