"""A small typed record table and org tree for testing compiled conditions on a real database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    delete,
    insert,
    null,
    select,
    update,
)

from crm_platform.db import JSONDocument
from crm_platform.metadata.conditions import ConditionContext, compile_condition, evaluate
from crm_platform.metadata.tables import OrgUnit, OrgUnitClosure, Tenant

FIELD_TYPES = {
    "name": "text",
    "notes": "long_text",
    "employees": "integer",
    "amount": "decimal",
    "budget": "money",
    "active": "boolean",
    "founded": "date",
    "signed_on": "date",
    "last_contact": "datetime",
    "level": "choice",
    "tags": "multi_choice",
    "unit": "org_unit",
}

# parent of each unit id; the root has none
ORG_PARENTS: dict[int, int | None] = {1: None, 2: 1, 3: 2, 4: 2, 5: 1, 6: 5}


def ancestors(unit: int) -> list[int]:
    chain: list[int] = []
    current: int | None = unit
    while current is not None:
        chain.append(current)
        current = ORG_PARENTS[current]
    return chain


def subtree(unit: int) -> frozenset[int]:
    return frozenset(u for u in ORG_PARENTS if unit in ancestors(u))


def record_table() -> Table:
    return Table(
        "condition_records",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(50)),
        Column("notes", Text),
        Column("employees", Integer),
        Column("amount", Numeric(18, 2)),
        Column("budget", Numeric(18, 2)),
        Column("active", Boolean),
        Column("founded", Date),
        Column("signed_on", Date),
        Column("last_contact", DateTime(timezone=True)),
        Column("level", String(63)),
        Column("tags", JSONDocument),
        Column("unit", Integer),
    )


def create_condition_fixture(engine: Engine) -> Table:
    """Create the record table and the org tree (with closure rows) of `ORG_PARENTS`."""
    table = record_table()
    table.metadata.create_all(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Tenant.__table__),
            [{"id": 1, "key": "t", "name": {"en": "T"}, "namespace": "t", "created_at": now}],
        )
        for unit, parent in ORG_PARENTS.items():
            conn.execute(
                insert(OrgUnit.__table__),
                {
                    "id": unit,
                    "tenant_id": 1,
                    "key": f"u{unit}",
                    "name": {"en": f"U{unit}"},
                    "kind": "team",
                    "parent_id": parent,
                    "path": "/" + "/".join(str(u) for u in reversed(ancestors(unit))) + "/",
                    "depth": len(ancestors(unit)) - 1,
                },
            )
        conn.execute(
            insert(OrgUnitClosure.__table__),
            [
                {"ancestor_id": ancestor, "descendant_id": unit, "tenant_id": 1, "depth": depth}
                for unit in ORG_PARENTS
                for depth, ancestor in enumerate(ancestors(unit))
            ],
        )
    return table


def replace_records(
    conn: Connection,
    table: Table,
    records: Iterable[Mapping[str, Any]],
    sql_null_tags: Iterable[int] = (),
) -> None:
    """Replace the table's rows; `sql_null_tags` ids get SQL NULL tags instead of JSON null."""
    conn.execute(delete(table))
    rows = [
        {column.name: record.get(column.name) for column in table.columns} for record in records
    ]
    if rows:
        conn.execute(insert(table), rows)
    null_ids = list(sql_null_tags)
    if null_ids:
        conn.execute(update(table).where(table.c.id.in_(null_ids)).values(tags=null()))


def selected_ids(
    conn: Connection, table: Table, condition: Any, context: ConditionContext
) -> set[int]:
    columns = {key: table.c[key] for key in FIELD_TYPES}
    clause = compile_condition(condition, columns, FIELD_TYPES, context)
    return set(conn.execute(select(table.c.id).where(clause)).scalars())


def evaluated_ids(
    records: Iterable[Mapping[str, Any]], condition: Any, context: ConditionContext
) -> set[int]:
    return {record["id"] for record in records if evaluate(condition, record, FIELD_TYPES, context)}
