"""Previews of what publishing would do, before anything is published.

An analyst (in the designer) or an admin (with `crm-platform config diff`) sees the
table migration a change implies, and the rows that would block it, while the
change is still only a draft or a bundle on disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from crm_platform.metadata.layers import LayerDocuments, physical_configuration
from crm_platform.metadata.store import load_tenant, published_layers_in
from crm_platform.runtime.migrations import MigrationPlan, plan_for_publish


def migration_preview(
    engine: Engine, tenant_key: str, layers: Mapping[str | None, Sequence[Mapping[str, Any]]]
) -> MigrationPlan:
    """The table changes of publishing `layers` over the tenant's published ones.

    Layers not named in `layers` stay as published; the plan is computed against
    this database's dialect and the tenant's archived columns, so a re-added field
    shows as a restore, not as a new column.
    """
    with engine.connect() as connection:
        tenant = load_tenant(connection, tenant_key)
        published = published_layers_in(connection, tenant.id)
        before = physical_configuration(_layer_list(published)) if published else None
        after = physical_configuration(_layer_list({**published, **layers}))
        return plan_for_publish(connection, tenant, before, after)


def _layer_list(
    layers: Mapping[str | None, Sequence[Mapping[str, Any]]],
) -> list[LayerDocuments]:
    return [LayerDocuments(unit, tuple(documents)) for unit, documents in layers.items()]
