"""The migration planner: which steps a configuration change becomes, in what order."""

from __future__ import annotations

import pytest

from crm_platform.metadata.model import FieldDef
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.migrations import (
    AddColumn,
    AddIndex,
    ArchivedField,
    ArchiveEntity,
    ArchiveField,
    CheckValues,
    ConvertType,
    CreateTable,
    DropIndex,
    RestoreField,
    WidenType,
    describe_plan,
    plan_migration,
)
from tests.runtime.migration_support import (
    BASE_FIELDS,
    config,
    customer,
    en,
    field,
    options,
    replace_field,
)

TENANT = Tenant(id=1, key="acme", namespace="t_acme", config_version=1)
DIALECTS = ["sqlite", "postgresql"]


def _kinds(plan) -> list[str]:
    return [step.kind for step in plan.steps]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_first_publish_creates_every_table(dialect: str) -> None:
    plan = plan_migration(TENANT, None, config(customer()), dialect)
    assert plan.steps == (CreateTable("customer"),)
    assert describe_plan(plan) == ["create the table of entity customer"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_label_change_is_no_step(dialect: str) -> None:
    relabelled = replace_field(BASE_FIELDS, "name", label=en("Company name"))
    plan = plan_migration(TENANT, config(customer()), config(customer(relabelled)), dialect)
    assert plan.is_empty
    assert describe_plan(plan) == []


def test_new_reference_field_adds_a_column_and_its_index() -> None:
    fields = [*BASE_FIELDS, field("parent", "reference", target="customer")]
    plan = plan_migration(TENANT, config(customer()), config(customer(fields)), "postgresql")
    assert plan.steps == (
        AddColumn("customer", column="parent", type_sql="BIGINT"),
        AddIndex("customer", name="ix_customer_ref_parent", columns=("parent",), unique=False),
    )


def test_removed_field_is_archived_and_its_index_dropped() -> None:
    before = [*BASE_FIELDS, field("tax_id", "text", unique=True)]
    plan = plan_migration(TENANT, config(customer(before)), config(customer()), "sqlite")
    assert [type(step) for step in plan.steps] == [DropIndex, ArchiveField]
    assert plan.steps[0].name == "ix_t_acme__customer_uq_tax_id"
    assert "kept with its data" in plan.steps[1].description


def test_readded_field_restores_the_archived_column() -> None:
    archived = ArchivedField(
        "customer", "fax", FieldDef.from_document(field("fax", "text")), "VARCHAR(255)"
    )
    fields = [*BASE_FIELDS, field("fax", "text", max_length=300)]
    plan = plan_migration(
        TENANT, config(customer()), config(customer(fields)), "postgresql", [archived]
    )
    assert plan.steps == (
        RestoreField("customer", field="fax", column="fax"),
        WidenType("customer", column="fax", from_type="VARCHAR(255)", to_type="VARCHAR(300)"),
    )


def test_type_changes_are_widenings_or_checked_conversions() -> None:
    after = replace_field(BASE_FIELDS, "name", max_length=10)
    after = replace_field(after, "code", type="integer")
    after = replace_field(after, "note", type="text", max_length=None)
    plan = plan_migration(TENANT, config(customer()), config(customer(after)), "postgresql")
    conversions = {step.column: (step.from_type, step.to_type) for step in plan.steps}
    assert all(isinstance(step, ConvertType) for step in plan.steps)
    assert conversions == {
        "name": ("VARCHAR(20)", "VARCHAR(10)"),
        "code": ("VARCHAR(255)", "BIGINT"),
        "note": ("TEXT", "VARCHAR(255)"),
    }


def test_tightened_rules_become_checks_before_any_change() -> None:
    after = replace_field(BASE_FIELDS, "level", options=options("a", "b"), required=True)
    after = replace_field(after, "code", unique=True)
    after = replace_field(after, "note", max_length=100)
    plan = plan_migration(TENANT, config(customer()), config(customer(after)), "sqlite")
    checks = [(s.field, s.rule) for s in plan.steps if isinstance(s, CheckValues)]
    assert checks == [
        ("code", "unique"),
        ("level", "options"),
        ("level", "required"),
        ("note", "max_length"),
    ]
    assert _kinds(plan)[: len(checks)] == ["check values"] * len(checks)
    assert _kinds(plan)[-1] == "add index"
    options_step = next(s for s in plan.steps if getattr(s, "rule", "") == "options")
    assert options_step.removed == ("c",)
    assert "no longer an option (c)" in options_step.description


def test_removed_entity_is_archived_not_dropped() -> None:
    lead = customer() | {"key": "lead", "label": en("Lead"), "plural_label": en("Leads")}
    plan = plan_migration(TENANT, config(customer(), lead), config(customer()), "sqlite")
    assert [type(step) for step in plan.steps] == [ArchiveEntity]
    assert plan.steps[0].entity == "lead"


def test_money_gets_a_currency_column() -> None:
    fields = [*BASE_FIELDS, field("revenue", "money", scale=2)]
    plan = plan_migration(TENANT, config(customer()), config(customer(fields)), "postgresql")
    assert plan.steps == (
        AddColumn("customer", column="revenue", type_sql="NUMERIC(18, 2)"),
        AddColumn("customer", column="revenue_currency", type_sql="VARCHAR(3)"),
    )
