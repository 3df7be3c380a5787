"""Configuration bundles: validation without a database, export, atomic and idempotent import."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from crm_platform.metadata.bundles import (
    MAX_FILE_BYTES,
    diff_bundle,
    export_bundle,
    import_bundle,
    read_bundle,
    validate_bundle,
)
from crm_platform.metadata.errors import BundleInvalid, MetadataError
from crm_platform.metadata.org_tree import units_by_key
from crm_platform.metadata.store import MetadataStore
from crm_platform.metadata.tables import ConfigVersion, OrgUnit, Tenant
from tests.metadata.store_configs import (
    UNITS,
    customer_entity,
    customer_form,
    east_documents,
    east_extension,
    en,
    hq_documents,
    make_tenant,
    rehash,
    write_bundle,
)

SEED = Path(__file__).resolve().parents[2] / "seed_configs" / "multi_org_crm"


def edit_json(root: Path, relative: str, change: Callable[[Any], None]) -> None:
    path = root / relative
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")
    rehash(root)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return (
            connection.execute(select(func.count()).select_from(OrgUnit)).scalar_one(),
            connection.execute(select(func.count()).select_from(ConfigVersion)).scalar_one(),
            connection.execute(select(func.sum(Tenant.config_version))).scalar_one() or 0,
        )


def test_hand_written_bundle_is_valid(tmp_path: Path) -> None:
    root = write_bundle(tmp_path)
    assert validate_bundle(root) == []
    bundle = read_bundle(root)
    assert bundle.tenant_key == "acme"
    assert [layer.unit_key for layer in bundle.layers] == [None, "bu_east"]


def _break_json(root: Path) -> None:
    (root / "layers/hq/form/customer_default.json").write_text('{"kind": "form",\n  "key": }')
    rehash(root)


def _unknown_kind(root: Path) -> None:
    edit_json(root, "layers/hq/list_view/customer_all.json", lambda d: d.update(kind="gadget"))


def _schema_violation(root: Path) -> None:
    edit_json(root, "layers/hq/entity/customer.json", lambda d: d.update(ownership="shared"))


def _dangling_key(root: Path) -> None:
    edit_json(root, "layers/hq/list_view/customer_all.json", lambda d: d.update(entity="client"))


def _lock_violation(root: Path) -> None:
    form = customer_form("customer_default", ("name",))
    path = root / "layers/bu_east/form/customer_default.json"
    path.write_text(json.dumps(form), encoding="utf-8")
    rehash(root)


def _checksum_mismatch(root: Path) -> None:
    path = root / "layers/hq/entity/customer.json"
    path.write_text(path.read_text(encoding="utf-8").replace("Customers", "Clients"))


def _too_large(root: Path) -> None:
    path = root / "layers/hq/entity/customer.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["label"]["en"] = "x" * (MAX_FILE_BYTES + 10)
    path.write_text(json.dumps(document), encoding="utf-8")
    rehash(root)


def _unlisted_file(root: Path) -> None:
    (root / "notes.txt").write_text("remember the milk")


def _missing_file(root: Path) -> None:
    (root / "layers/hq/list_view/customer_all.json").unlink()


def _unknown_layer_unit(root: Path) -> None:
    edit_json(root, "org_units.json", lambda d: d["units"].pop(1))


def _no_manifest(root: Path) -> None:
    (root / "manifest.json").unlink()


def _misplaced_document(root: Path) -> None:
    edit_json(root, "layers/hq/form/customer_default.json", lambda d: d.update(key="other"))


def _stray_document(root: Path) -> None:
    (root / "layers/hq/customer.json").write_text("{}")
    rehash(root)


def _wrong_layer_directory(root: Path) -> None:
    edit_json(root, "manifest.json", lambda d: d["layers"][1].update(directory="layers/east"))


BROKEN: list[tuple[Callable[[Path], None], str, str]] = [
    (_no_manifest, "manifest.json", "bundle.missing_manifest"),
    (_misplaced_document, "layers/hq/form/customer_default.json", "bundle.path_mismatch"),
    (_stray_document, "layers/hq/customer.json", "bundle.unexpected_file"),
    (_wrong_layer_directory, "manifest.json", "bundle.layer_directory"),
    (_break_json, "layers/hq/form/customer_default.json", "bundle.invalid_json"),
    (_unknown_kind, "layers/hq/list_view/customer_all.json", "schema.unknown_kind"),
    (_schema_violation, "layers/hq/entity/customer.json", "schema.enum"),
    (_dangling_key, "layers/hq/list_view/customer_all.json", "ref.unknown_entity"),
    (_lock_violation, "layers/bu_east/form/customer_default.json", "layer.locked"),
    (_checksum_mismatch, "layers/hq/entity/customer.json", "bundle.checksum_mismatch"),
    (_too_large, "layers/hq/entity/customer.json", "bundle.file_too_large"),
    (_unlisted_file, "notes.txt", "bundle.unlisted_file"),
    (_missing_file, "manifest.json", "bundle.missing_file"),
    (_unknown_layer_unit, "layers/bu_east", "ref.unknown_unit"),
]


@pytest.mark.parametrize(("breakage", "document", "code"), BROKEN, ids=[b[2] for b in BROKEN])
def test_broken_bundle_reports_the_file_and_code(
    tmp_path: Path, breakage: Callable[[Path], None], document: str, code: str
) -> None:
    root = write_bundle(tmp_path)
    breakage(root)
    problems = validate_bundle(root)
    assert (document, code) in {(p.document, p.code) for p in problems}, problems


def test_broken_json_is_reported_with_line_and_column(tmp_path: Path) -> None:
    root = write_bundle(tmp_path)
    _break_json(root)
    (problem,) = [p for p in validate_bundle(root) if p.code == "bundle.invalid_json"]
    assert "line 2 column 10" in problem.message
    assert str(problem).startswith("layers/hq/form/customer_default.json#: line 2")


def test_every_problem_of_a_bundle_is_listed_at_once(tmp_path: Path) -> None:
    root = write_bundle(tmp_path)
    _unlisted_file(root)
    _dangling_key(root)
    _schema_violation(root)
    codes = {p.code for p in validate_bundle(root)}
    assert {"bundle.unlisted_file", "schema.enum"} <= codes


def test_export_import_into_an_empty_tenant_and_export_again_gives_identical_files(
    engine: Engine, tmp_path: Path
) -> None:
    make_tenant(engine, "acme")
    store = MetadataStore(engine)
    store.publish("acme", None, "alice", documents=list(reversed(hq_documents())))
    store.publish("acme", "bu_east", "bob", documents=east_documents())
    first = export_bundle(engine, "acme", tmp_path / "first")
    assert validate_bundle(tmp_path / "first") == []
    assert [layer.unit_key for layer in first.layers] == [None, "bu_east"]

    make_tenant(engine, "copy", units=[])
    result = import_bundle(engine, "copy", tmp_path / "first", author="importer")
    assert result.units.created == tuple(unit["key"] for unit in UNITS)
    assert sorted(v.unit_key or "" for v in result.versions) == ["", "bu_east"]
    export_bundle(engine, "copy", tmp_path / "second")

    first_files, second_files = _files(tmp_path / "first"), _files(tmp_path / "second")
    first_manifest = json.loads(first_files.pop("manifest.json"))
    second_manifest = json.loads(second_files.pop("manifest.json"))
    assert first_files == second_files
    assert first_manifest["files"] == second_manifest["files"]
    assert second_manifest["tenant"]["key"] == "copy"


def test_importing_the_same_bundle_twice_changes_nothing_the_second_time(
    engine: Engine, tmp_path: Path
) -> None:
    make_tenant(engine, "acme", units=[])
    root = write_bundle(tmp_path)
    first = import_bundle(engine, "acme", root, author="importer")
    assert first.changed
    counts = _counts(engine)
    second = import_bundle(engine, "acme", root, author="importer")
    assert not second.changed
    assert second.unchanged_layers == (None, "bu_east")
    assert _counts(engine) == counts
    assert not diff_bundle(engine, "acme", root)


def test_a_bundle_with_one_bad_file_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    make_tenant(engine, "acme", units=[])
    root = write_bundle(tmp_path)
    _dangling_key(root)
    before = _counts(engine)
    with pytest.raises(BundleInvalid) as refused:
        import_bundle(engine, "acme", root, author="importer")
    assert any(p.code == "ref.unknown_entity" for p in refused.value.problems)
    assert _counts(engine) == before


def test_a_bundle_clashing_with_a_layer_only_in_the_database_is_rolled_back_whole(
    engine: Engine, tmp_path: Path
) -> None:
    tenant_id = make_tenant(engine, "acme")
    store = MetadataStore(engine)
    store.publish("acme", None, "alice", documents=hq_documents())
    # BU West (not in the bundle) already adds east_code; the bundle's BU East adds it too.
    store.publish("acme", "bu_west", "wendy", documents=[east_extension(key="customer_west")])
    units = [*UNITS, {"key": "br_hangzhou", "name": en("Hangzhou"), "kind": "branch",
                      "parent": "bu_east"}]  # fmt: skip
    root = write_bundle(tmp_path, units=units)
    before = _counts(engine)
    with pytest.raises(BundleInvalid) as refused:
        import_bundle(engine, "acme", root, author="importer")
    assert any(p.code == "layer.field_key_clash" for p in refused.value.problems)
    assert _counts(engine) == before
    with engine.connect() as connection:
        assert "br_hangzhou" not in units_by_key(connection, tenant_id)


def test_diff_shows_what_an_import_would_change(engine: Engine, tmp_path: Path) -> None:
    tenant_id = make_tenant(engine, "acme")
    store = MetadataStore(engine)
    store.publish("acme", None, "alice", documents=hq_documents())
    group, bu_east, shanghai, bu_west = (dict(unit) for unit in UNITS)
    renamed = [group, bu_east, {**bu_west, "name": en("BU West (new)")},
               {**shanghai, "parent": "bu_west"}]  # fmt: skip
    hq = [customer_entity(label=en("Client")), *hq_documents()[1:]]
    root = write_bundle(tmp_path, {None: hq, "bu_east": east_documents()}, renamed)
    diff = diff_bundle(engine, "acme", root)
    assert diff.units.updated == ("bu_west",)
    assert diff.units.moved == ("br_shanghai",)
    layers = dict(diff.layers)
    assert [c.key for c in layers[None].changed] == ["customer"]
    assert {c.key for c in layers["bu_east"].added} == {"customer_east"}
    text = diff.render()
    assert "/label/en" in text and "br_shanghai (moved)" in text
    assert _counts(engine)[1] == 1  # the diff wrote nothing

    import_bundle(engine, "acme", root, author="importer")
    with engine.connect() as connection:
        units = units_by_key(connection, tenant_id)
    assert units["br_shanghai"].parent_key == "bu_west"
    assert units["br_shanghai"].path == f"/{units['group'].id}/{units['bu_west'].id}/" + (
        f"{units['br_shanghai'].id}/"
    )
    assert store.effective("acme", "br_shanghai").entity("customer").label.get("en") == "Client"


def test_exporting_over_an_earlier_bundle_replaces_its_files(
    engine: Engine, tmp_path: Path
) -> None:
    make_tenant(engine)
    store = MetadataStore(engine)
    store.publish("acme", None, "alice", documents=hq_documents())
    store.publish("acme", "bu_east", "bob", documents=east_documents())
    target = tmp_path / "out"
    export_bundle(engine, "acme", target)
    store.publish("acme", "bu_east", "bob", documents=[east_extension()])
    export_bundle(engine, "acme", target)
    assert validate_bundle(target) == []
    assert not (target / "layers/bu_east/form").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    with pytest.raises(MetadataError):
        export_bundle(engine, "acme", tmp_path / "other")


def test_seed_bundle_validates_imports_and_exports_identically(
    engine: Engine, tmp_path: Path
) -> None:
    assert validate_bundle(SEED) == []
    make_tenant(engine, "huachen", units=[])
    with engine.begin() as connection:
        connection.execute(
            Tenant.__table__.update().values(  # type: ignore[attr-defined]
                name=read_bundle(SEED).tenant_name
            )
        )
    import_bundle(engine, "huachen", SEED, author="seed")
    export_bundle(engine, "huachen", tmp_path / "out")
    assert _files(tmp_path / "out") == _files(SEED)
