"""Platform tables owned by the runtime: people, role assignments, shares and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm_platform.db import Base, JSONDocument

BigId = BigInteger().with_variant(Integer, "sqlite")


class User(Base):
    """A person who signs in to one tenant."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    primary_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(16), default="zh-Hans")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UnitMembership(Base):
    """An additional unit a user belongs to (a team, another department), beside the primary one."""

    __tablename__ = "unit_memberships"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))


class RoleAssignment(Base):
    """A role held by a user at a unit; unit-relative access levels are measured from that unit."""

    __tablename__ = "role_assignments"
    __table_args__ = (
        UniqueConstraint("user_id", "role_key", "unit_id"),
        Index("ix_role_assignments_tenant_user", "tenant_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role_key: Mapped[str] = mapped_column(String(63))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))


class RecordShare(Base):
    """A manual share of one record with a user, a team or a unit (optionally its subtree)."""

    __tablename__ = "record_shares"
    __table_args__ = (
        Index("ix_record_shares_record", "tenant_id", "entity", "record_id"),
        Index("ix_record_shares_target", "tenant_id", "entity", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(63))
    record_id: Mapped[int] = mapped_column(BigId)
    # user | team | unit | unit_subtree
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(Integer)
    # read | edit
    access: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    shared_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """An append-only entry: who did what to which record (or org unit), with field-level changes.

    `changes` maps field key -> [before, after]. Org structure operations use the
    pseudo-entity ``org_unit``; bypasses by the system principal use action ``system_access``.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_record", "tenant_id", "entity", "record_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(63))
    record_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class ArchivedColumn(Base):
    """A column of an entity table whose field was removed from the configuration: kept, hidden.

    The column stays in the table with its data until `purge_archived_field`;
    re-adding a field with the same key restores it (converting the values when the
    type changed, under the same safety checks as any conversion). `field` is the
    field document as last published, so a restore knows the values' old type.
    `whole_entity` marks the columns of an entity removed as a whole, whose table
    is kept.
    """

    __tablename__ = "archived_columns"
    __table_args__ = (UniqueConstraint("tenant_id", "entity", "column_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(63))
    column_name: Mapped[str] = mapped_column(String(127))
    field_key: Mapped[str] = mapped_column(String(63))
    field: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    column_type: Mapped[str] = mapped_column(String(255))
    whole_entity: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
