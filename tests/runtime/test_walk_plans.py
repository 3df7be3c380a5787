"""How a walked page states its scope for PostgreSQL (`page_plans._walkable`)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, Table, bindparam, or_, select
from sqlalchemy.dialects import postgresql

from crm_platform.runtime.page_plans import _walkable

_META = MetaData()
CUSTOMER = Table(
    "customer",
    _META,
    Column("id", Integer, primary_key=True),
    Column("owning_unit_id", Integer),
    Column("owner_user_id", Integer),
)
CLOSURE = Table(
    "org_unit_closure", _META, Column("ancestor_id", Integer), Column("descendant_id", Integer)
)
SHARES = Table("shares", _META, Column("record_id", Integer), Column("user_id", Integer))


def _sql(predicate: object) -> str:
    return str(predicate.compile(dialect=postgresql.dialect()))  # type: ignore[attr-defined]


def test_a_subtree_becomes_an_array_the_walk_checks_without_its_index() -> None:
    subtree = select(CLOSURE.c.descendant_id).where(CLOSURE.c.ancestor_id == bindparam("unit"))
    sql = _sql(_walkable(CUSTOMER, CUSTOMER.c.owning_unit_id.in_(subtree)))
    assert sql.startswith("customer.owning_unit_id + ")
    assert "= ANY (array((SELECT org_unit_closure.descendant_id" in sql
    assert " IN " not in sql


def test_an_owner_comparison_loses_its_index_too() -> None:
    sql = _sql(_walkable(CUSTOMER, CUSTOMER.c.owner_user_id == 7))
    assert sql.startswith("customer.owner_user_id + ")


def test_shared_record_ids_stay_a_subquery_for_the_planner_to_hash() -> None:
    subtree = select(CLOSURE.c.descendant_id).where(CLOSURE.c.ancestor_id == 4)
    shared = select(SHARES.c.record_id).where(SHARES.c.user_id == 9)
    sql = _sql(
        _walkable(
            CUSTOMER,
            or_(CUSTOMER.c.owning_unit_id.in_(subtree), CUSTOMER.c.id.in_(shared)),
        )
    )
    assert "customer.id IN (SELECT shares.record_id" in sql
    assert "customer.owning_unit_id + " in sql and "= ANY (array((SELECT" in sql
