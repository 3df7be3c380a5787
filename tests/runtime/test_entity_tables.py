"""Per-entity tables generated from metadata: columns per field type, names, indexes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateIndex

from crm_platform.runtime.entity_tables import (
    EntityTables,
    build_table,
    column_specs,
    create_entity_tables,
    index_name,
    outdated_indexes,
    refresh_indexes,
    table_location,
)


@dataclass(frozen=True)
class _Field:
    key: str
    type: str
    unique: bool = False
    max_length: int | None = None
    scale: int | None = None


@dataclass(frozen=True)
class _Entity:
    key: str
    fields: tuple[_Field, ...]
    ownership: str = "user_owned"
    title_field: str = "name"


@dataclass(frozen=True)
class _View:
    entity: str
    default_sort: tuple[dict[str, str], ...]


@dataclass
class _Config:
    entities: dict[str, Any]
    list_views: dict[str, Any] = field(default_factory=dict)


CUSTOMER = _Entity(
    "customer",
    (
        _Field("name", "text", max_length=100),
        _Field("uscc", "uscc", unique=True),
        _Field("revenue", "money", scale=2),
        _Field("tags", "multi_choice"),
        _Field("region", "region"),
        _Field("parent", "reference"),
        _Field("rep", "user"),
        _Field("since", "date"),
    ),
)


def _tenant(tenant_id: int = 1, namespace: str = "t_acme", version: int = 1) -> Any:
    return SimpleNamespace(id=tenant_id, namespace=namespace, config_version=version)


def test_money_field_has_amount_and_currency_columns():
    columns = column_specs(_Field("revenue", "money", scale=4))
    assert [c.name for c in columns] == ["revenue", "revenue_currency"]
    assert columns[0].type.scale == 4
    assert columns[1].type.length == 3


def test_text_length_defaults_to_255_and_follows_max_length():
    assert column_specs(_Field("a", "text"))[0].type.length == 255
    assert column_specs(_Field("a", "text", max_length=40))[0].type.length == 40


def test_unknown_field_type_is_refused_with_the_known_types():
    with pytest.raises(ValueError, match="has no column mapping"):
        column_specs(_Field("a", "hologram"))


@pytest.mark.parametrize(
    ("dialect", "schema", "name"),
    [("sqlite", None, "t_acme__customer"), ("postgresql", "t_acme", "customer")],
)
def test_table_location_per_dialect(dialect, schema, name):
    location = table_location("t_acme", "customer", dialect)
    assert (location.schema, location.name) == (schema, name)


def test_long_index_names_stay_within_postgres_limit():
    name = index_name("t_" + "x" * 60 + "__customer", "sort_" + "y" * 50)
    assert len(name) <= 63
    assert name == index_name("t_" + "x" * 60 + "__customer", "sort_" + "y" * 50)


def test_build_table_indexes_scope_references_unique_and_view_sorts():
    view = _View("customer", ({"field": "since", "direction": "desc"},))
    table = build_table(_tenant(), CUSTOMER, MetaData(), dialect="sqlite", list_views=[view])
    indexed = {tuple(c.name for c in ix.columns) for ix in table.indexes}
    assert ("owning_unit_id", "updated_at", "id") in indexed
    assert ("updated_at", "id", "owning_unit_id", "deleted_at") in indexed
    assert ("owner_user_id", "updated_at", "id") in indexed
    assert ("parent",) in indexed and ("rep",) in indexed
    assert ("since", "id") in indexed
    unique = [ix for ix in table.indexes if ix.unique]
    assert [tuple(c.name for c in ix.columns) for ix in unique] == [("uscc",)]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_scope_indexes_cover_live_rows_only(dialect: str):
    table = build_table(_tenant(), CUSTOMER, MetaData(), dialect=dialect)
    scope = {
        ("updated_at", "id", "owning_unit_id", "deleted_at"),
        ("owning_unit_id", "updated_at", "id"),
        ("owner_user_id", "updated_at", "id"),
    }
    compiler = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}[dialect]
    partial = {
        tuple(c.name for c in ix.columns): str(CreateIndex(ix).compile(dialect=compiler))
        for ix in table.indexes
    }
    # The record service's reads say exactly `deleted_at IS NULL`; SQLite uses a partial
    # index only when the query's WHERE holds its term literally.
    assert all(partial[key].endswith("WHERE deleted_at IS NULL") for key in scope)
    assert not partial[("parent",)].endswith("WHERE deleted_at IS NULL")


def test_master_entity_has_no_owner_indexes():
    product = _Entity("product", (_Field("name", "text"),), ownership="master")
    table = build_table(_tenant(), product, MetaData(), dialect="postgresql")
    indexed = {tuple(c.name for c in ix.columns) for ix in table.indexes}
    assert ("owning_unit_id", "updated_at", "id") not in indexed
    assert ("updated_at", "id", "deleted_at") in indexed
    assert table.schema == "t_acme"


def _row(**values: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"created_at": now, "updated_at": now, "version": 1, **values}


def test_created_table_round_trips_typed_values(engine: Engine):
    config = _Config({"customer": CUSTOMER})
    with engine.begin() as conn:
        tables = create_entity_tables(conn, _tenant(), config)
        table = tables["customer"]
        conn.execute(
            table.insert(),
            _row(name="甲", revenue=Decimal("12.50"), revenue_currency="CNY", tags=["a", "b"]),
        )
        row = conn.execute(select(table)).mappings().one()
    assert row["revenue"] == Decimal("12.50")
    assert row["tags"] == ["a", "b"]
    assert row["id"] == 1
    assert set(inspect(engine).get_table_names(schema=table.schema)) >= {table.name}


def test_unique_field_is_unique_among_live_rows_only(engine: Engine):
    config = _Config({"customer": CUSTOMER})
    with engine.begin() as conn:
        table = create_entity_tables(conn, _tenant(), config)["customer"]
        conn.execute(table.insert(), _row(uscc="X", deleted_at=datetime.now(UTC)))
        conn.execute(table.insert(), _row(uscc="X"))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(table.insert(), _row(uscc="X"))


def test_two_tenants_get_separate_tables(engine: Engine):
    config = _Config({"customer": CUSTOMER})
    with engine.begin() as conn:
        a = create_entity_tables(conn, _tenant(1, "t_a"), config)["customer"]
        b = create_entity_tables(conn, _tenant(2, "t_b"), config)["customer"]
        conn.execute(a.insert(), _row(name="only in a"))
        assert conn.execute(select(b.c.id)).all() == []


def test_entity_tables_cache_rebuilds_after_a_publish():
    calls = []

    class Source:
        def physical(self, tenant_key: str) -> _Config:
            calls.append(tenant_key)
            return _Config({"customer": CUSTOMER})

    cache = EntityTables(Source())
    tenant_v1 = SimpleNamespace(id=1, key="acme", namespace="t_acme", config_version=1)
    tenant_v2 = SimpleNamespace(id=1, key="acme", namespace="t_acme", config_version=2)
    first = cache.table(tenant_v1, "customer", "sqlite")
    assert cache.table(tenant_v1, "customer", "sqlite") is first
    assert cache.table(tenant_v2, "customer", "sqlite") is not first
    assert calls == ["acme", "acme"]


def test_refresh_rebuilds_a_scope_index_created_before_it_became_partial(engine: Engine):
    config = _Config({"customer": CUSTOMER})
    with engine.begin() as conn:
        table = create_entity_tables(conn, _tenant(), config)["customer"]
        scope = next(ix for ix in table.indexes if str(ix.name).endswith("_unit_updated"))
        scope.drop(conn)
        # The definition an earlier release created: the same columns, every row.
        partial = str(CreateIndex(scope).compile(dialect=engine.dialect))
        conn.exec_driver_sql(partial.split(" WHERE ", 1)[0])
        assert outdated_indexes(conn, table) == [scope]
        assert refresh_indexes(conn, [table]) == [scope.name]
        assert outdated_indexes(conn, table) == []
        assert refresh_indexes(conn, [table]) == []
    reflected = {ix["name"]: ix for ix in inspect(engine).get_indexes(table.name, table.schema)}
    assert set(reflected) == {ix.name for ix in table.indexes}


def test_refresh_rebuilds_an_index_whose_columns_changed(engine: Engine):
    view = _View("customer", ({"field": "since", "direction": "desc"},))
    config = _Config({"customer": CUSTOMER}, {"by_since": view})
    with engine.begin() as conn:
        table = create_entity_tables(conn, _tenant(), config)["customer"]
        assert outdated_indexes(conn, table) == []
        walk = next(ix for ix in table.indexes if str(ix.name).endswith("_updated"))
        walk.drop(conn)
        # An earlier release's `updated` index: (updated_at, id) over live rows.
        conn.exec_driver_sql(
            f"CREATE INDEX {walk.name} ON {table.fullname} (updated_at, id) "
            "WHERE deleted_at IS NULL"
        )
        assert outdated_indexes(conn, table) == [walk]
        assert refresh_indexes(conn, [table]) == [walk.name]
        assert outdated_indexes(conn, table) == []


def test_a_view_sorted_newest_first_reuses_the_updated_index():
    view = _View("customer", ({"field": "updated_at", "direction": "desc"},))
    table = build_table(_tenant(), CUSTOMER, MetaData(), dialect="sqlite", list_views=[view])
    leading = [tuple(c.name for c in ix.columns)[:2] for ix in table.indexes]
    assert leading.count(("updated_at", "id")) == 1
