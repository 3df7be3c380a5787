"""Migrations through the metadata store's publish: applied in the publish, refused atomically."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.schema import CreateIndex

from crm_platform.metadata.store import MetadataStore
from crm_platform.runtime.entity_tables import outdated_indexes
from crm_platform.runtime.migrations import MigrationHook, MigrationRefused
from crm_platform.runtime.tenants import create_tenant, get_tenant
from tests.runtime.migration_support import (
    BASE_FIELDS,
    config,
    customer,
    field,
    index_names,
    insert_rows,
    physical_columns,
    replace_field,
    row_count,
    table,
)


@pytest.fixture
def store(engine: Engine) -> MetadataStore:
    """A store whose publishes migrate tables; tenants acme and beta with customer published."""
    store = MetadataStore(engine, hooks=[MigrationHook(engine)])
    for key in ("acme", "beta"):
        create_tenant(engine, key, {"en": key.title()})
        store.publish(key, None, "tester", documents=[customer()])
    return store


def test_publish_creates_and_alters_the_tenant_tables(engine: Engine, store: MetadataStore) -> None:
    store.publish(
        "acme", None, "tester", documents=[customer([*BASE_FIELDS, field("city", "text")])]
    )
    with engine.connect() as connection:
        tenant = get_tenant(connection, "acme")
        assert "city" in physical_columns(connection, tenant, "customer")


def test_publishing_one_tenant_leaves_another_tenant_untouched(
    engine: Engine, store: MetadataStore
) -> None:
    with engine.begin() as connection:
        beta = get_tenant(connection, "beta")
        insert_rows(connection, table(connection, beta, config(customer()), "customer"), [{}] * 3)
        columns_before = physical_columns(connection, beta, "customer")
        indexes_before = index_names(connection, beta, "customer")
    changed = replace_field(BASE_FIELDS, "code", type="integer", unique=True)
    store.publish("acme", None, "tester", documents=[customer([*changed, field("x", "date")])])
    with engine.connect() as connection:
        acme = get_tenant(connection, "acme")
        assert "x" in physical_columns(connection, acme, "customer")
        assert physical_columns(connection, beta, "customer") == columns_before
        assert index_names(connection, beta, "customer") == indexes_before
        assert row_count(connection, table(connection, beta, config(customer()), "customer")) == 3


def test_refused_migration_rolls_the_whole_publish_back(
    engine: Engine, store: MetadataStore
) -> None:
    with engine.begin() as connection:
        acme = get_tenant(connection, "acme")
        insert_rows(
            connection, table(connection, acme, config(customer()), "customer"), [{"code": "x"}]
        )
    as_integer = replace_field(BASE_FIELDS, "code", type="integer")
    with pytest.raises(MigrationRefused, match="does not convert to BIGINT"):
        store.publish(
            "acme", None, "tester", documents=[customer([*as_integer, field("y", "text")])]
        )
    assert [v.number for v in store.versions("acme", None)] == [1]
    with engine.connect() as connection:
        columns = physical_columns(connection, acme, "customer")
        assert "y" not in columns
        assert columns["code"].startswith("VARCHAR")


def test_publish_rebuilds_a_scope_index_an_earlier_release_created_without_its_filter(
    engine: Engine, store: MetadataStore
) -> None:
    with engine.begin() as connection:
        acme = get_tenant(connection, "acme")
        customers = table(connection, acme, config(customer()), "customer")
        scope = next(ix for ix in customers.indexes if str(ix.name).endswith("_unit_updated"))
        scope.drop(connection)
        full = str(CreateIndex(scope).compile(dialect=engine.dialect)).split(" WHERE ")[0]
        connection.exec_driver_sql(full)
        assert outdated_indexes(connection, customers) == [scope]
    store.publish(
        "acme", None, "tester", documents=[customer([*BASE_FIELDS, field("city", "text")])]
    )
    with engine.connect() as connection:
        acme = get_tenant(connection, "acme")
        refreshed = table(connection, acme, config(customer()), "customer")
        assert outdated_indexes(connection, refreshed) == []
