"""The seed CRM bundle (seed_configs/multi_org_crm) is valid, complete and trilingual."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from crm_platform.metadata.bundles import export_bundle, import_bundle
from crm_platform.metadata.schemas import validate_document, validate_manifest, validate_org_units
from crm_platform.metadata.validation import validate_tenant
from crm_platform.runtime.tenants import create_tenant

BUNDLE = Path(__file__).resolve().parent.parent / "seed_configs" / "multi_org_crm"
LANGUAGES = {"en", "zh-Hans", "zh-Hant"}
LABEL_KEYS = {"label", "plural_label", "help", "description", "name"}


def _load(relative: str) -> Any:
    return json.loads((BUNDLE / relative).read_text(encoding="utf-8"))


def _bundle_files() -> list[str]:
    return sorted(
        path.relative_to(BUNDLE).as_posix()
        for path in BUNDLE.rglob("*")
        if path.is_file() and path.name != "manifest.json"
    )


def _layer_documents(directory: str) -> list[dict[str, Any]]:
    return [_load(path) for path in _bundle_files() if path.startswith(directory + "/")]


def _hq(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["key"]: doc for doc in _layer_documents(f"layers/hq/{kind}")}


def _units() -> dict[str, dict[str, Any]]:
    return {unit["key"]: unit for unit in _load("org_units.json")["units"]}


def _localized_texts(value: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """Every localized text in a document, found by its property name."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{pointer}/{key}"
            # field_overrides is keyed by field key, which may be a word like "description"
            if key in LABEL_KEYS and isinstance(item, dict) and not pointer.endswith("_overrides"):
                yield here, item
            else:
                yield from _localized_texts(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _localized_texts(item, f"{pointer}/{index}")


@pytest.mark.parametrize("relative", _bundle_files())
def test_every_bundle_file_validates_against_its_schema(relative: str) -> None:
    document = _load(relative)
    if relative == "org_units.json":
        problems = validate_org_units(document)
    else:
        problems = validate_document(document, relative)
        kind, key = relative.split("/")[2], relative.split("/")[3].removesuffix(".json")
        assert (document["kind"], document["key"]) == (kind, key)
    assert [str(problem) for problem in problems] == []


def test_manifest_validates_and_lists_both_layers() -> None:
    manifest = _load("manifest.json")
    assert validate_manifest(manifest) == []
    assert manifest["tenant"]["key"] == "huachen"
    assert manifest["layers"] == [
        {"unit": None, "directory": "layers/hq"},
        {"unit": "bu_equipment", "directory": "layers/bu_equipment"},
    ]


def test_manifest_checksums_cover_and_match_every_file() -> None:
    listed = _load("manifest.json")["files"]
    assert sorted(listed) == _bundle_files()
    for relative, digest in listed.items():
        assert hashlib.sha256((BUNDLE / relative).read_bytes()).hexdigest() == digest, relative


@pytest.mark.parametrize("relative", [*_bundle_files(), "manifest.json"])
def test_files_are_in_the_canonical_export_format(relative: str) -> None:
    text = (BUNDLE / relative).read_text(encoding="utf-8")
    canonical = json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    assert text == canonical


def test_every_label_has_english_and_both_chinese_scripts() -> None:
    missing = [
        f"{relative}#{pointer}"
        for relative in [*_bundle_files(), "manifest.json"]
        for pointer, text in _localized_texts(_load(relative))
        if set(text) != LANGUAGES or not all(text.values())
    ]
    assert missing == []


def test_org_tree_has_five_levels_with_parents_listed_first() -> None:
    depth: dict[str, int] = {}
    for unit in _load("org_units.json")["units"]:
        parent = unit["parent"]
        assert parent is None or parent in depth, f"{unit['key']} comes before its parent"
        depth[unit["key"]] = 0 if parent is None else depth[parent] + 1
    assert max(depth.values()) == 4
    assert 30 <= len(depth) <= 45
    assert [key for key, level in depth.items() if level == 0] == ["group_hq"]


def test_org_unit_kinds_are_declared_and_subsidiaries_are_legal_entities() -> None:
    kinds = {kind["key"]: kind for kind in _hq("unit_kinds")["default"]["kinds"]}
    assert set(kinds) == {"group", "business_unit", "subsidiary", "branch", "department", "team"}
    for unit in _units().values():
        assert unit["kind"] in kinds
        assert unit.get("legal_entity", False) == (unit["kind"] == "subsidiary")


def test_trading_has_wholesale_and_retail_subsidiaries_with_branches() -> None:
    units = _units()
    for subsidiary in ("sub_trading_wholesale", "sub_trading_retail"):
        assert units[subsidiary]["parent"] == "bu_trading"
        assert any(unit["parent"] == subsidiary for unit in units.values())


def test_product_line_choices_are_the_same_everywhere() -> None:
    entities = _hq("entity")
    lines = [
        option["key"]
        for field in entities["customer"]["fields"]
        if field["key"] == "product_lines"
        for option in field["options"]
    ]
    assert len(lines) == 5
    for entity, field_key in [
        ("lead", "product_line"),
        ("opportunity", "product_line"),
        ("product", "product_line"),
        ("order", "product_line"),
    ]:
        field = next(f for f in entities[entity]["fields"] if f["key"] == field_key)
        assert [option["key"] for option in field["options"]] == lines


def test_every_entity_has_a_default_form_and_list_view() -> None:
    entities = set(_hq("entity"))
    forms = {doc["entity"] for doc in _hq("form").values() if doc.get("default")}
    views = {doc["entity"] for doc in _hq("list_view").values() if doc.get("default")}
    assert forms == entities
    assert views == entities


def test_master_entities_are_read_tenant_wide_and_maintained_only_by_group_admin() -> None:
    masters = [key for key, doc in _hq("entity").items() if doc["ownership"] == "master"]
    assert sorted(masters) == ["price_list", "product", "product_line"]
    for role_key, role in _hq("role").items():
        for master in masters:
            grants = role["privileges"][master]
            assert grants["read"] == "tenant"
            writes = {grants.get(p, "none") for p in ("create", "update", "delete")}
            assert writes == ({"tenant"} if role_key == "group_admin" else {"none"}), role_key


def test_sensitive_fields_back_every_masked_or_hidden_profile() -> None:
    entities = _hq("entity")
    for profile in _hq("field_security").values():
        fields = {f["key"]: f for f in entities[profile["entity"]]["fields"]}
        for field_key, access in profile["fields"].items():
            assert field_key in fields
            if access == "masked":
                assert fields[field_key].get("sensitive") is True


def test_wholesale_price_list_is_restricted_from_the_retail_subtree() -> None:
    rule = _hq("restriction_rule")["wholesale_prices_hidden_from_retail"]
    assert rule["entity"] == "price_list"
    assert rule["condition"] == {"field": "channel", "op": "eq", "value": "wholesale"}
    assert {"unit": "sub_trading_retail", "include_subtree": True} in rule["applies_to"]["units"]


def test_every_product_line_is_shared_with_the_division_that_sells_it() -> None:
    shared = {
        (rule["entity"], rule["condition"]["value"]): rule["target"]["unit"]
        for rule in _hq("sharing_rule").values()
    }
    assert shared[("opportunity", "heavy_equipment")] == "bu_equipment"
    assert shared[("opportunity", "industrial_trading")] == "bu_trading"
    assert shared[("product", "equipment_leasing")] == "bu_services"
    assert len(shared) == 10


def test_bu_layer_extends_customer_and_its_form_uses_the_new_fields() -> None:
    documents = {(d["kind"], d["key"]): d for d in _layer_documents("layers/bu_equipment")}
    extension = documents[("entity_extension", "customer_equipment")]
    added = {field["key"] for field in extension["fields"]}
    assert {"equipment_fleet_size", "installed_base_notes", "service_contract_expiry"} <= added
    hq_fields = {field["key"] for field in _hq("entity")["customer"]["fields"]}
    assert not added & hq_fields
    form = documents[("form", "customer_equipment")]
    placed = {p["field"] for s in form["sections"] for column in s["columns"] for p in column}
    assert form["default"] is True and form["entity"] == "customer"
    assert added <= placed
    assert documents[("list_view", "customer_equipment")]["default"] is True


def test_every_layer_validates_semantically() -> None:
    manifest = _load("manifest.json")
    layers = {layer["unit"]: _layer_documents(layer["directory"]) for layer in manifest["layers"]}
    units = _load("org_units.json")["units"]
    problems = validate_tenant(
        layers,
        {unit["key"]: unit["parent"] for unit in units},
        {unit["key"]: unit["kind"] for unit in units},
    )
    assert [str(problem) for problem in problems] == []


def test_seed_imports_into_an_empty_tenant_and_exports_byte_for_byte(
    engine: Engine, tmp_path: Path
) -> None:
    manifest = _load("manifest.json")
    create_tenant(engine, manifest["tenant"]["key"], manifest["tenant"]["name"])
    import_bundle(engine, "huachen", BUNDLE, author="seed test")
    export_bundle(engine, "huachen", tmp_path / "export")
    exported = sorted(p.relative_to(tmp_path / "export") for p in (tmp_path / "export").rglob("*"))
    assert exported == sorted(p.relative_to(BUNDLE) for p in BUNDLE.rglob("*"))
    for relative in exported:
        if (BUNDLE / relative).is_file():
            assert (tmp_path / "export" / relative).read_bytes() == (BUNDLE / relative).read_bytes()
    assert not import_bundle(engine, "huachen", BUNDLE, author="seed test").changed
