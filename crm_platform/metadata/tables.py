"""Platform tables owned by the metadata layer: tenants, the org tree and configuration layers.

Org units live here because configuration layers hang on them; `runtime.org`
owns the structural operations and keeps the closure table in step.
"""

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
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm_platform.db import Base, JSONDocument


class Tenant(Base):
    """One corporate group. `namespace` is its PostgreSQL schema or SQLite table prefix."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[dict[str, str]] = mapped_column(JSONDocument)
    namespace: Mapped[str] = mapped_column(String(63), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Bumped by every publish; processes compare it to drop cached effective configuration.
    config_version: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped by role changes, shares and unit moves; drops cached compiled access.
    security_version: Mapped[int] = mapped_column(Integer, default=0)


class OrgUnit(Base):
    """A node of a tenant's organisation tree. `path` is the materialized id path '/1/4/9/'."""

    __tablename__ = "org_units"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        Index("ix_org_units_tenant_parent", "tenant_id", "parent_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(63))
    name: Mapped[dict[str, str]] = mapped_column(JSONDocument)
    kind: Mapped[str] = mapped_column(String(63))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), nullable=True)
    path: Mapped[str] = mapped_column(String(1000), default="/")
    depth: Mapped[int] = mapped_column(Integer, default=0)
    head_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    legal_entity: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), nullable=True)


class OrgUnitClosure(Base):
    """Every (ancestor, descendant) pair of the org tree, including each unit with itself.

    A subtree is `owning_unit IN (SELECT descendant_id FROM org_unit_closure WHERE
    ancestor_id = :unit)`: one indexable predicate, and moving a subtree rewrites
    only the closure rows that cross the move, not every record below it.
    """

    __tablename__ = "org_unit_closure"
    __table_args__ = (Index("ix_org_unit_closure_descendant", "descendant_id", "ancestor_id"),)

    ancestor_id: Mapped[int] = mapped_column(
        ForeignKey("org_units.id", ondelete="CASCADE"), primary_key=True
    )
    descendant_id: Mapped[int] = mapped_column(
        ForeignKey("org_units.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    depth: Mapped[int] = mapped_column(Integer)


class ConfigLayer(Base):
    """A tenant's HQ layer (unit_id NULL) or the layer of one org unit, with its draft.

    `current_version` is the optimistic lock of publishing: a publish moves it from
    n to n+1 with a conditional UPDATE, so of two concurrent publishers one wins.
    """

    __tablename__ = "config_layers"
    __table_args__ = (UniqueConstraint("tenant_id", "unit_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), nullable=True)
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    draft: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument, nullable=True)
    draft_base_version: Mapped[int] = mapped_column(Integer, default=0)
    draft_updated_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    draft_updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )


class ConfigVersion(Base):
    """An immutable published version of a layer: its whole document set."""

    __tablename__ = "config_versions"
    __table_args__ = (UniqueConstraint("layer_id", "number"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("config_layers.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    documents: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)
    author: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str] = mapped_column(Text, default="")
