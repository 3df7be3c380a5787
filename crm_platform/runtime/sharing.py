"""Manual shares of one record and criteria-based sharing rules from metadata.

A manual share (`RecordShare`) gives one record to a user, a team, a unit, or a
unit with its subtree, at ``read`` or ``edit``, optionally until it expires. A
sharing rule shares every record matching its condition with a unit (or its
subtree). Both add to what a user's roles grant, as Dynamics 365 shares do: a
share only counts for a privilege the user's roles give at ``own`` or above, so
sharing a record with someone whose roles give no access to the entity gives
them nothing. Every change to shares bumps the tenant's security version, which
drops cached compiled access in every process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from sqlalchemy import Connection, Table, and_, bindparam, delete, insert, or_, select
from sqlalchemy.sql.elements import ColumnElement

from crm_platform.metadata.model import SharingRuleDef
from crm_platform.runtime.access_levels import (
    SHARES,
    UNITS,
    USERS,
    SecurityFacts,
    share_target_clause,
)
from crm_platform.runtime.errors import InvalidOperation, RecordInvalid, RecordNotFound
from crm_platform.runtime.tenants import bump_security_version

SHARE_ACCESS = ("read", "edit")
SHARE_TARGETS = ("user", "team", "unit", "unit_subtree")

ACCESS_PRIVILEGES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "read": frozenset({"read", "export"}),
        "edit": frozenset({"read", "export", "update"}),
    }
)
"""What a share (or sharing rule) at each access gives; delete, assign and share never."""


def accesses_giving(privilege: str) -> tuple[str, ...]:
    """The share accesses that give `privilege` (empty: shares never give it)."""
    return tuple(access for access in SHARE_ACCESS if privilege in ACCESS_PRIVILEGES[access])


def _now() -> datetime:
    return datetime.now(UTC)


# Evaluated each time a statement runs, so a cached predicate never outlives an expiry.
_NOW = bindparam("share_now", type_=SHARES.c.expires_at.type, callable_=_now)


def share_clause(
    table: Table, tenant_id: int, entity_key: str, facts: SecurityFacts, privilege: str
) -> ColumnElement[bool] | None:
    """Records of the entity shared with the user at an access that gives `privilege`."""
    accesses = accesses_giving(privilege)
    if not accesses or entity_key not in facts.shared_entities:
        return None
    shared = select(SHARES.c.record_id).where(
        SHARES.c.tenant_id == tenant_id,
        SHARES.c.entity == entity_key,
        SHARES.c.access.in_(accesses),
        or_(SHARES.c.expires_at.is_(None), SHARES.c.expires_at > _NOW),
        share_target_clause(facts.user_id, facts.memberships, facts.units, facts.ancestors),
    )
    return table.c.id.in_(shared)


def rule_reaches(rule: SharingRuleDef, unit_ids: Mapping[str, int], facts: SecurityFacts) -> bool:
    """Is the user in the rule's target unit (or, with include_subtree, anywhere below it)?"""
    target = unit_ids.get(rule.target.unit)
    if target is None:
        return False
    return target in (facts.ancestors if rule.target.include_subtree else facts.units)


# -- manual shares -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """One manual share of a record."""

    id: int
    entity: str
    record_id: int
    target_type: str
    target_id: int
    access: str
    expires_at: datetime | None
    shared_by: int | None
    shared_at: datetime


def _share_from_row(row: object) -> Share:
    mapping = dict(row._mapping)  # type: ignore[attr-defined]
    for key in ("expires_at", "shared_at"):
        value = mapping.get(key)
        if isinstance(value, datetime) and value.tzinfo is None:
            mapping[key] = value.replace(tzinfo=UTC)
    mapping.pop("tenant_id", None)
    return Share(**mapping)


def _check_target(connection: Connection, tenant_id: int, target_type: str, target_id: int) -> None:
    errors: dict[str, list[str]] = {}
    if target_type not in SHARE_TARGETS:
        errors["target_type"] = [f"share with one of {', '.join(SHARE_TARGETS)}"]
    else:
        table = USERS if target_type == "user" else UNITS
        found = connection.execute(
            select(table.c.id).where(table.c.id == target_id, table.c.tenant_id == tenant_id)
        ).first()
        if found is None:
            what = "user" if target_type == "user" else "org unit"
            errors["target_id"] = [f"{what} {target_id} does not exist in this tenant"]
    if errors:
        raise RecordInvalid("record_share", errors)


def insert_share(
    connection: Connection,
    tenant_id: int,
    entity_key: str,
    record_id: int,
    target_type: str,
    target_id: int,
    access: str,
    *,
    shared_by: int | None,
    expires_at: datetime | None = None,
) -> Share:
    """Store a share (the caller has checked the share privilege) and bump the security version."""
    if access not in SHARE_ACCESS:
        raise RecordInvalid("record_share", {"access": ["share at read or edit"]})
    _check_target(connection, tenant_id, target_type, target_id)
    if expires_at is not None and expires_at.tzinfo is None:
        raise InvalidOperation("a share's expires_at must carry a time zone (UTC)")
    row = connection.execute(
        insert(SHARES)
        .values(
            tenant_id=tenant_id,
            entity=entity_key,
            record_id=record_id,
            target_type=target_type,
            target_id=target_id,
            access=access,
            expires_at=None if expires_at is None else expires_at.astimezone(UTC),
            shared_by=shared_by,
            shared_at=_now(),
        )
        .returning(*SHARES.c)
    ).one()
    bump_security_version(connection, tenant_id)
    return _share_from_row(row)


def delete_share(connection: Connection, tenant_id: int, entity_key: str, share_id: int) -> Share:
    """Remove one share of the tenant's entity and bump the security version."""
    share = get_share(connection, tenant_id, entity_key, share_id)
    connection.execute(delete(SHARES).where(SHARES.c.id == share_id))
    bump_security_version(connection, tenant_id)
    return share


def get_share(connection: Connection, tenant_id: int, entity_key: str, share_id: int) -> Share:
    """One share of the tenant's entity; another tenant's share is "not found"."""
    row = connection.execute(
        select(SHARES).where(
            SHARES.c.id == share_id,
            SHARES.c.tenant_id == tenant_id,
            SHARES.c.entity == entity_key,
        )
    ).first()
    if row is None:
        raise RecordNotFound("record_share", share_id)
    return _share_from_row(row)


def shares_of(
    connection: Connection, tenant_id: int, entity_key: str, record_id: int
) -> list[Share]:
    """Every share of one record (expired ones too), oldest first."""
    rows = connection.execute(
        select(SHARES)
        .where(
            SHARES.c.tenant_id == tenant_id,
            SHARES.c.entity == entity_key,
            SHARES.c.record_id == record_id,
        )
        .order_by(SHARES.c.id)
    )
    return [_share_from_row(row) for row in rows]


def shares_reaching(
    connection: Connection,
    tenant_id: int,
    entity_key: str,
    record_id: int,
    facts: SecurityFacts,
) -> list[Share]:
    """The live (unexpired) shares of one record aimed at the user."""
    rows = connection.execute(
        select(SHARES)
        .where(
            and_(
                SHARES.c.tenant_id == tenant_id,
                SHARES.c.entity == entity_key,
                SHARES.c.record_id == record_id,
                or_(SHARES.c.expires_at.is_(None), SHARES.c.expires_at > _NOW),
                share_target_clause(facts.user_id, facts.memberships, facts.units, facts.ancestors),
            )
        )
        .order_by(SHARES.c.id)
    )
    return [_share_from_row(row) for row in rows]
