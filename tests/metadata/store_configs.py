"""Small hand-made tenants, org trees and layers shared by the store, bundle and CLI tests."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from crm_platform.metadata.org_tree import upsert_units
from crm_platform.metadata.tables import Tenant


def en(text: str) -> dict[str, str]:
    """A localized label with the English text only."""
    return {"en": text}


UNITS: list[dict[str, Any]] = [
    {"key": "group", "name": en("Group"), "kind": "group", "parent": None},
    {"key": "bu_east", "name": en("BU East"), "kind": "business_unit", "parent": "group"},
    {"key": "br_shanghai", "name": en("Shanghai"), "kind": "branch", "parent": "bu_east"},
    {"key": "bu_west", "name": en("BU West"), "kind": "business_unit", "parent": "group"},
]


def customer_entity(**changes: Any) -> dict[str, Any]:
    """The HQ customer entity: a locked name, a choice with one locked option, an industry."""
    entity: dict[str, Any] = {
        "kind": "entity",
        "key": "customer",
        "label": en("Customer"),
        "plural_label": en("Customers"),
        "ownership": "user_owned",
        "title_field": "name",
        "fields": [
            {"key": "name", "label": en("Name"), "type": "text", "required": True, "locked": True},
            {
                "key": "level",
                "label": en("Level"),
                "type": "choice",
                "options": [
                    {"key": "a", "label": en("A"), "locked": True},
                    {"key": "b", "label": en("B")},
                ],
            },
            {"key": "industry", "label": en("Industry"), "type": "text"},
        ],
    }
    entity.update(changes)
    return entity


def customer_form(key: str = "customer_default", fields: tuple[str, ...] = ("name", "level"),
                  **changes: Any) -> dict[str, Any]:  # fmt: skip
    """A form of customer with one section holding `fields`."""
    form: dict[str, Any] = {
        "kind": "form",
        "key": key,
        "entity": "customer",
        "label": en("Customer"),
        "sections": [
            {"key": "main", "label": en("Main"), "columns": [[{"field": f} for f in fields]]}
        ],
    }
    form.update(changes)
    return form


def customer_list(key: str = "customer_all", columns: tuple[str, ...] = ("name",)) -> dict:
    """A list view of customers."""
    return {
        "kind": "list_view",
        "key": key,
        "entity": "customer",
        "label": en("All customers"),
        "columns": list(columns),
    }


def hq_documents() -> list[dict[str, Any]]:
    """A valid HQ layer: the customer entity, a locked default form and a list view."""
    return [customer_entity(), customer_form(locked=True, default=True), customer_list()]


def east_extension(field_key: str = "east_code", **changes: Any) -> dict[str, Any]:
    """BU East's extension of customer: one new field."""
    extension: dict[str, Any] = {
        "kind": "entity_extension",
        "key": "customer_east",
        "entity": "customer",
        "fields": [{"key": field_key, "label": en("East code"), "type": "text"}],
    }
    extension.update(changes)
    return extension


def east_documents() -> list[dict[str, Any]]:
    """A valid BU East layer: an extension and a form that uses the new field."""
    return [east_extension(), customer_form("customer_east", ("name", "east_code"))]


def make_tenant(engine: Engine, key: str = "acme", units: list[dict] | None = None) -> int:
    """Create a tenant row (and its org units) directly; returns the tenant id."""
    with engine.begin() as connection:
        result = connection.execute(
            insert(Tenant).values(
                key=key,
                name=en(key.title()),
                namespace=f"t_{key}",
                created_at=datetime.now(UTC),
                config_version=0,
                security_version=0,
            )
        )
        tenant_id = int(result.inserted_primary_key[0])
        upsert_units(connection, tenant_id, copy.deepcopy(UNITS if units is None else units))
    return tenant_id


def write_bundle(
    root: Path,
    layers: dict[str | None, list[dict[str, Any]]] | None = None,
    units: list[dict[str, Any]] | None = None,
) -> Path:
    """Write a bundle by hand (not through export) under `root`, with a correct manifest."""
    root = root / "bundle"
    layers = {None: hq_documents(), "bu_east": east_documents()} if layers is None else layers
    files = {"org_units.json": {"kind": "org_units", "units": UNITS if units is None else units}}
    for unit_key, documents in layers.items():
        for document in documents:
            files[f"layers/{unit_key or 'hq'}/{document['kind']}/{document['key']}.json"] = document
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    manifest = {
        "format_version": 1,
        "tenant": {"key": "acme", "name": en("Acme")},
        "layers": [{"unit": u, "directory": f"layers/{u or 'hq'}"} for u in layers],
        "files": {},
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    rehash(root)
    return root


def rehash(root: Path) -> None:
    """Recompute the manifest's checksums after editing files, as an author would."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"] = {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*.json"))
        if path.name != "manifest.json"
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
