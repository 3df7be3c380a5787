"""Applying migrations on SQLite and PostgreSQL: columns, archive and restore, safe conversions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Connection, Engine, select
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table

from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.errors import InvalidOperation, UnsafeMigration
from crm_platform.runtime.migrations import (
    MigrationRefused,
    check_migration,
    load_archived,
    plan_for_publish,
    purge_archived_entity,
    purge_archived_field,
)
from crm_platform.runtime.tenants import create_tenant, get_tenant
from tests.runtime.migration_support import (
    BASE_FIELDS,
    config,
    customer,
    en,
    field,
    index_names,
    insert_rows,
    options,
    physical_columns,
    publish,
    replace_field,
    row_count,
    table,
)

V1 = config(customer())


@pytest.fixture
def acme(engine: Engine) -> Iterator[tuple[Connection, Tenant]]:
    """Tenant acme with the customer table of `V1`, inside one open transaction."""
    create_tenant(engine, "acme", {"en": "Acme"})
    with engine.begin() as connection:
        tenant = get_tenant(connection, "acme")
        publish(connection, tenant, None, V1)
        yield connection, tenant


def test_first_publish_creates_the_table_with_its_indexes(acme) -> None:
    connection, tenant = acme
    columns = physical_columns(connection, tenant, "customer")
    assert {"id", "owning_unit_id", "version", "deleted_at", "name", "level"} <= set(columns)
    assert any(
        name.endswith("unit_updated") for name in index_names(connection, tenant, "customer")
    )


def test_added_field_becomes_a_column(acme) -> None:
    connection, tenant = acme
    insert_rows(connection, table(connection, tenant, V1, "customer"), [{"name": "Old"}])
    v2 = config(customer([*BASE_FIELDS, field("city", "text", max_length=40)]))
    publish(connection, tenant, V1, v2)
    assert "city" in physical_columns(connection, tenant, "customer")
    target = table(connection, tenant, v2, "customer")
    insert_rows(connection, target, [{"name": "New", "city": "上海"}])
    cities = connection.execute(select(target.c.city).order_by(target.c.id)).scalars().all()
    assert cities == [None, "上海"]


def test_removed_field_is_archived_with_its_data_and_restored(acme) -> None:
    connection, tenant = acme
    ids = insert_rows(
        connection,
        table(connection, tenant, V1, "customer"),
        [{"name": "A", "code": "x1"}, {"name": "B", "code": "x2"}],
    )
    without_code = config(customer([f for f in BASE_FIELDS if f["key"] != "code"]))
    publish(connection, tenant, V1, without_code)
    assert "code" in physical_columns(connection, tenant, "customer")
    archived = load_archived(connection, tenant.id)
    assert [(a.entity, a.column, a.field.type) for a in archived] == [("customer", "code", "text")]
    assert "code" not in table(connection, tenant, without_code, "customer").c

    plan = plan_for_publish(connection, tenant, without_code, V1)
    assert [step.kind for step in plan.steps] == ["restore archived field"]
    publish(connection, tenant, without_code, V1)
    restored = table(connection, tenant, V1, "customer")
    rows = connection.execute(select(restored.c.id, restored.c.code).order_by(restored.c.id))
    assert [tuple(row) for row in rows] == [(ids[0], "x1"), (ids[1], "x2")]
    assert load_archived(connection, tenant.id) == ()


def test_refused_conversion_lists_the_rows_and_changes_nothing(acme) -> None:
    connection, tenant = acme
    ids = insert_rows(
        connection,
        table(connection, tenant, V1, "customer"),
        [{"code": "12"}, {"code": "abc"}, {"code": " 7 "}, {"code": "1.5"}, {"code": None}],
    )
    as_integer = config(customer(replace_field(BASE_FIELDS, "code", type="integer")))
    with pytest.raises(MigrationRefused) as refused:
        publish(connection, tenant, V1, as_integer)
    (rows,) = refused.value.offending
    assert (rows.field, rows.code, rows.count) == ("code", "migration.unconvertible", 2)
    assert rows.sample == ((ids[1], "abc"), (ids[3], "1.5"))
    assert isinstance(refused.value, UnsafeMigration)
    assert f"#{ids[1]} 'abc'" in str(refused.value)
    assert physical_columns(connection, tenant, "customer")["code"].startswith("VARCHAR")


def test_conversion_of_clean_values_converts_them(acme) -> None:
    connection, tenant = acme
    before = table(connection, tenant, V1, "customer")
    insert_rows(connection, before, [{"code": "12"}, {"code": " 7 "}, {"code": ""}, {}])
    as_integer = config(customer(replace_field(BASE_FIELDS, "code", type="integer")))
    publish(connection, tenant, V1, as_integer)
    after = table(connection, tenant, as_integer, "customer")
    values = connection.execute(select(after.c.code).order_by(after.c.id)).scalars().all()
    assert values == [12, 7, None, None]
    assert row_count(connection, after) == 4
    assert "ix_" in " ".join(index_names(connection, tenant, "customer"))


def test_widened_max_length_accepts_longer_values(acme) -> None:
    connection, tenant = acme
    insert_rows(connection, table(connection, tenant, V1, "customer"), [{"name": "short"}])
    wider = config(customer(replace_field(BASE_FIELDS, "name", max_length=60)))
    plan = plan_for_publish(connection, tenant, V1, wider)
    assert [step.kind for step in plan.steps] == ["widen type"]
    publish(connection, tenant, V1, wider)
    target = table(connection, tenant, wider, "customer")
    insert_rows(connection, target, [{"name": "x" * 60}])
    names = connection.execute(select(target.c.name).order_by(target.c.id)).scalars().all()
    assert names == ["short", "x" * 60]


def test_lowered_max_length_is_refused_while_values_are_longer(acme) -> None:
    connection, tenant = acme
    ids = insert_rows(
        connection,
        table(connection, tenant, V1, "customer"),
        [{"name": "a" * 20}, {"name": "ok"}, {"note": "n" * 50}],
    )
    shorter = replace_field(BASE_FIELDS, "name", max_length=10)
    shorter = replace_field(shorter, "note", max_length=30)
    with pytest.raises(MigrationRefused) as refused:
        publish(connection, tenant, V1, config(customer(shorter)))
    found = {(rows.field, rows.code): rows.sample for rows in refused.value.offending}
    assert found == {
        ("name", "migration.unconvertible"): ((ids[0], "a" * 20),),
        ("note", "migration.too_long"): ((ids[2], "n" * 50),),
    }


def test_removed_option_in_use_is_refused(acme) -> None:
    connection, tenant = acme
    ids = insert_rows(
        connection,
        table(connection, tenant, V1, "customer"),
        [{"level": "a"}, {"level": "c"}, {"level": "c"}],
    )
    fewer = config(customer(replace_field(BASE_FIELDS, "level", options=options("a", "b"))))
    with pytest.raises(MigrationRefused) as refused:
        publish(connection, tenant, V1, fewer)
    (rows,) = refused.value.offending
    assert (rows.code, rows.count, rows.sample) == (
        "migration.option_in_use",
        2,
        ((ids[1], "c"), (ids[2], "c")),
    )


def test_required_added_while_rows_are_empty_is_refused(acme) -> None:
    connection, tenant = acme
    target = table(connection, tenant, V1, "customer")
    ids = insert_rows(connection, target, [{"name": "A", "code": "1"}, {"name": "B"}])
    insert_rows(connection, target, [{"name": "gone", "deleted_at": datetime.now(UTC)}])
    required = config(customer(replace_field(BASE_FIELDS, "code", required=True)))
    offending = check_migration(
        connection, tenant, plan_for_publish(connection, tenant, V1, required)
    )
    assert [(rows.code, rows.sample) for rows in offending] == [
        ("migration.required_empty", ((ids[1], None),))
    ]
    with pytest.raises(MigrationRefused):
        publish(connection, tenant, V1, required)


def test_unique_added_with_duplicates_is_refused_then_indexed_once_fixed(acme) -> None:
    connection, tenant = acme
    target = table(connection, tenant, V1, "customer")
    ids = insert_rows(connection, target, [{"code": "d"}, {"code": "u"}, {"code": "d"}])
    unique = config(customer(replace_field(BASE_FIELDS, "code", unique=True)))
    with pytest.raises(MigrationRefused) as refused:
        publish(connection, tenant, V1, unique)
    (rows,) = refused.value.offending
    assert (rows.code, rows.sample) == ("migration.duplicates", ((ids[0], "d"), (ids[2], "d")))
    connection.execute(target.update().where(target.c.id == ids[2]).values(code="e"))
    publish(connection, tenant, V1, unique)
    assert any("uq_code" in name for name in index_names(connection, tenant, "customer"))


def test_new_unique_and_reference_fields_get_indexes(acme) -> None:
    connection, tenant = acme
    fields = [
        *BASE_FIELDS,
        field("tax_id", "uscc", unique=True),
        field("parent", "reference", target="customer"),
    ]
    publish(connection, tenant, V1, config(customer(fields)))
    names = index_names(connection, tenant, "customer")
    assert any(name.endswith("uq_tax_id") for name in names)
    assert any(name.endswith("ref_parent") for name in names)


def test_removed_entity_keeps_its_table_and_returns_with_its_data(acme) -> None:
    connection, tenant = acme
    lead_fields = [*BASE_FIELDS, field("source", "text", unique=True)]
    lead = customer(lead_fields) | {"key": "lead", "label": en("Lead"), "plural_label": en("Leads")}
    with_lead = config(customer(), lead)
    publish(connection, tenant, V1, with_lead)
    insert_rows(connection, table(connection, tenant, with_lead, "lead"), [{"source": "fair"}])
    indexes = index_names(connection, tenant, "lead")
    publish(connection, tenant, with_lead, V1)
    assert "source" in physical_columns(connection, tenant, "lead")
    assert {a.whole_entity for a in load_archived(connection, tenant.id)} == {True}

    lead_back = customer(replace_field(lead_fields, "source", unique=None)) | {
        "key": "lead",
        "label": en("Lead again"),
        "plural_label": en("Leads"),
    }
    back = config(customer(), lead_back)
    assert [step.kind for step in plan_for_publish(connection, tenant, V1, back).steps] == [
        "restore archived field",
        "restore archived field",
        "restore archived field",
        "restore archived field",
        "restore archived field",
        "restore archived entity",
    ]
    publish(connection, tenant, V1, back)
    restored = table(connection, tenant, back, "lead")
    assert connection.execute(select(restored.c.source)).scalars().all() == ["fair"]
    assert index_names(connection, tenant, "lead") == {str(ix.name) for ix in restored.indexes}
    assert any(name.endswith("uq_source") for name in indexes)
    assert not any(name.endswith("uq_source") for name in index_names(connection, tenant, "lead"))
    assert load_archived(connection, tenant.id) == ()


def test_purged_entity_table_is_gone_and_other_tables_stay(acme) -> None:
    connection, tenant = acme
    insert_rows(connection, table(connection, tenant, V1, "customer"), [{"name": "kept"}])
    lead = customer() | {"key": "lead", "label": en("Lead"), "plural_label": en("Leads")}
    with_lead = config(customer(), lead)
    publish(connection, tenant, V1, with_lead)
    publish(connection, tenant, with_lead, V1)
    purge_archived_entity(connection, tenant, "lead")
    assert physical_columns(connection, tenant, "lead") == {}
    assert row_count(connection, table(connection, tenant, V1, "customer")) == 1
    with pytest.raises(InvalidOperation, match="is not archived"):
        purge_archived_entity(connection, tenant, "customer")


def test_purge_drops_an_archived_field_for_good(acme) -> None:
    connection, tenant = acme
    without_code = config(customer([f for f in BASE_FIELDS if f["key"] != "code"]))
    publish(connection, tenant, V1, without_code)
    assert purge_archived_field(connection, tenant, "customer", "code") == ("code",)
    assert "code" not in physical_columns(connection, tenant, "customer")
    plan = plan_for_publish(connection, tenant, without_code, V1)
    assert [step.kind for step in plan.steps] == ["add column"]
    with pytest.raises(InvalidOperation, match="not an archived field"):
        purge_archived_field(connection, tenant, "customer", "name")


def test_restore_with_an_incompatible_type_converts_under_the_same_checks(acme) -> None:
    connection, tenant = acme
    ids = insert_rows(
        connection, table(connection, tenant, V1, "customer"), [{"code": "5"}, {"code": "five"}]
    )
    without_code = config(customer([f for f in BASE_FIELDS if f["key"] != "code"]))
    publish(connection, tenant, V1, without_code)
    as_integer = config(customer(replace_field(BASE_FIELDS, "code", type="integer")))
    with pytest.raises(MigrationRefused) as refused:
        publish(connection, tenant, without_code, as_integer)
    assert refused.value.offending[0].sample == ((ids[1], "five"),)


def test_type_rebuild_keeps_archived_columns_and_indexes(acme) -> None:
    connection, tenant = acme
    unique_code = config(customer(replace_field(BASE_FIELDS, "code", unique=True)))
    publish(connection, tenant, V1, unique_code)
    insert_rows(
        connection,
        table(connection, tenant, unique_code, "customer"),
        [{"code": "1", "note": "first"}, {"code": "2", "note": "second"}],
    )
    no_note = [f for f in replace_field(BASE_FIELDS, "code", unique=True) if f["key"] != "note"]
    publish(connection, tenant, unique_code, config(customer(no_note)))
    indexes = index_names(connection, tenant, "customer")
    as_integer = config(customer(replace_field(no_note, "code", type="integer")))
    publish(connection, tenant, config(customer(no_note)), as_integer)
    assert index_names(connection, tenant, "customer") == indexes
    back = replace_field(BASE_FIELDS, "code", type="integer", unique=True)
    publish(connection, tenant, as_integer, config(customer(back)))
    restored = table(connection, tenant, config(customer(back)), "customer")
    rows = connection.execute(select(restored.c.code, restored.c.note).order_by(restored.c.id))
    assert [tuple(row) for row in rows] == [(1, "first"), (2, "second")]


CONVERSION_CASES = [
    # (from field, to field, stored values, converted values or the ids (1-based) refused)
    (field("n", "integer"), field("n", "decimal", scale=2), [3, -4], [3, -4]),
    (field("n", "decimal", scale=2), field("n", "integer"), [3, 2.5, 7], {2}),
    (field("n", "integer"), field("n", "text", max_length=3), [12, 12345], {2}),
    (field("n", "integer"), field("n", "text"), [12, -5], ["12", "-5"]),
    (field("n", "text"), field("n", "decimal", scale=1), ["1.5", "x", "2.25"], {2, 3}),
    (field("n", "text"), field("n", "date"), ["2024-01-01"], {1}),
    (field("n", "decimal", scale=4), field("n", "decimal", scale=2), [1.25, 1.255], {2}),
]


@pytest.mark.parametrize(("source", "target", "stored", "outcome"), CONVERSION_CASES)
def test_conversion_matrix(acme, source, target, stored, outcome) -> None:
    connection, tenant = acme
    before = config(customer([*BASE_FIELDS, source]))
    after = config(customer([*BASE_FIELDS, target]))
    publish(connection, tenant, V1, before)
    raw = sql_table(
        table(connection, tenant, before, "customer").name,
        *(sql_column(name) for name in ("id", "n", "created_at", "updated_at", "version")),
        schema=table(connection, tenant, before, "customer").schema,
    )
    now = datetime.now(UTC)
    for value in stored:
        connection.execute(raw.insert().values(n=value, created_at=now, updated_at=now, version=1))
    if isinstance(outcome, set):
        with pytest.raises(MigrationRefused) as refused:
            publish(connection, tenant, before, after)
        assert {row_id for row_id, _ in refused.value.offending[0].sample} == outcome
        return
    publish(connection, tenant, before, after)
    values = connection.execute(select(raw.c.n).order_by(raw.c.id)).scalars().all()
    # PostgreSQL returns NUMERIC as Decimal('3.00'), SQLite as 3: compare as numbers.
    assert [float(v) if isinstance(v, Decimal) else v for v in values] == outcome
