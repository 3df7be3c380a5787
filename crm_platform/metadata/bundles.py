"""Configuration bundles on disk: read, validate, export, import and diff.

A bundle is a directory (layout in docs/architecture.md): ``manifest.json``,
``org_units.json`` and one JSON file per document under ``layers/<hq|unit>/``.
Keys, never database ids, tie it together, so it moves between environments.
Files are written deterministically (sorted keys, two-space indent, a trailing
newline, documents and units in a stable order) so that export, import into an
empty tenant and export again gives identical bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from crm_platform.errors import Problem
from crm_platform.metadata.diff import ConfigDiff, diff_documents
from crm_platform.metadata.errors import BundleInvalid, ConfigurationInvalid, MetadataError
from crm_platform.metadata.layers import document_path, layer_directory
from crm_platform.metadata.org_tree import (
    UnitChanges,
    parents_first,
    plan_units,
    units_by_key,
    upsert_units,
)
from crm_platform.metadata.schemas import validate_manifest, validate_org_units
from crm_platform.metadata.store import (
    LayerChange,
    PublishHook,
    VersionInfo,
    load_tenant,
    lock_tenant,
    publish_locked,
    published_layers_in,
    validate_layers,
)
from crm_platform.metadata.validation import org_unit_problems, validate_tenant

FORMAT_VERSION = 1
MAX_FILE_BYTES = 5 * 1024 * 1024
MANIFEST = "manifest.json"
ORG_UNITS = "org_units.json"


@dataclass(frozen=True)
class BundleLayer:
    """One layer of a bundle: its unit (None: HQ), directory and documents by (kind, key)."""

    unit_key: str | None
    directory: str
    documents: tuple[dict[str, Any], ...]
    paths: tuple[str, ...] = ()
    """The file of each document, relative to the bundle (read bundles only)."""


@dataclass(frozen=True)
class Bundle:
    """A bundle read from disk (parsed, checksums and layout checked, not yet validated)."""

    tenant_key: str
    tenant_name: Mapping[str, str]
    org_units: tuple[dict[str, Any], ...]
    layers: tuple[BundleLayer, ...]

    def layer_documents(self) -> dict[str | None, list[dict[str, Any]]]:
        """Each layer's documents by unit key (None: HQ)."""
        return {layer.unit_key: list(layer.documents) for layer in self.layers}


@dataclass(frozen=True)
class BundleDiff:
    """What importing a bundle would change: units, and each layer's documents."""

    units: UnitChanges = field(default_factory=UnitChanges)
    layers: tuple[tuple[str | None, ConfigDiff], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.units) or any(diff for _unit, diff in self.layers)

    def render(self) -> str:
        """The diff as text for the command line."""
        if not self:
            return "no changes: importing this bundle would change nothing"
        parts = []
        if self.units:
            parts.append("org units:\n" + _indent(self.units.render()))
        for unit_key, diff in self.layers:
            if diff:
                parts.append(f"{layer_directory(unit_key)}:\n" + _indent(diff.render()))
        return "\n".join(parts)


@dataclass(frozen=True)
class ImportResult:
    """What an import changed: units, the versions it published, the layers left as they were."""

    units: UnitChanges
    versions: tuple[VersionInfo, ...]
    unchanged_layers: tuple[str | None, ...]

    @property
    def changed(self) -> bool:
        """False when the tenant already matched the bundle and nothing was written."""
        return bool(self.units) or bool(self.versions)

    def render(self) -> str:
        """A summary for the command line."""
        if not self.changed:
            return "nothing to import: the tenant already matches the bundle"
        lines = []
        if self.units:
            lines.append(
                f"org units: {len(self.units.created)} created, {len(self.units.updated)} "
                f"updated, {len(self.units.moved)} moved"
            )
        lines += [
            f"{layer_directory(v.unit_key)}: published version {v.number} "
            f"({v.document_count} documents)"
            for v in self.versions
        ]
        lines += [f"{layer_directory(u)}: unchanged" for u in self.unchanged_layers]
        return "\n".join(lines)


# --- reading and validating --------------------------------------------------------------------


def read_bundle(directory: str | Path) -> Bundle:
    """Parse a bundle, checking JSON syntax, checksums, sizes and layout (not semantics).

    Raises BundleInvalid listing every problem found at that level.
    """
    bundle, problems = _load(Path(directory))
    if problems or bundle is None:
        raise BundleInvalid(problems, f"the bundle in {directory} cannot be read")
    return bundle


def validate_bundle(directory: str | Path) -> list[Problem]:
    """Every problem of a bundle, without a database: files, schemas, references, locks."""
    bundle, problems = _load(Path(directory))
    if bundle is not None:
        parents = {unit["key"]: unit.get("parent") for unit in bundle.org_units}
        kinds = {unit["key"]: unit["kind"] for unit in bundle.org_units}
        files = {
            document_path(layer.unit_key, document, index): path
            for layer in bundle.layers
            for index, (document, path) in enumerate(zip(layer.documents, layer.paths, strict=True))
        }
        for problem in validate_tenant(bundle.layer_documents(), parents, kinds):
            # Name the file the document is in, even when its kind or key disagree with it.
            problems.append(
                replace(problem, document=files.get(problem.document, problem.document))
            )
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for problem in problems:
        # The org checks of org_units.json and of the tenant can find the same spot.
        if (problem.document, problem.pointer, problem.code) not in seen:
            seen.add((problem.document, problem.pointer, problem.code))
            unique.append(problem)
    return unique


def _load(root: Path) -> tuple[Bundle | None, list[Problem]]:
    """Parse every file of the bundle; None when the manifest is unusable."""
    problems: list[Problem] = []
    if not root.is_dir():
        problem = Problem("", "bundle.not_found", f"{root} is not a directory", str(root))
        return None, [problem]
    on_disk = {
        path.relative_to(root).as_posix(): path for path in root.rglob("*") if path.is_file()
    }
    manifest = _read_json(root / MANIFEST, MANIFEST, problems)
    if manifest is None:
        if MANIFEST not in on_disk:
            problems.append(
                Problem("", "bundle.missing_manifest", "the bundle has no manifest.json; "
                        "export a bundle with `crm-platform config export` to get one", MANIFEST)
            )  # fmt: skip
        return None, problems
    manifest_problems = validate_manifest(manifest)
    problems.extend(manifest_problems)
    if not isinstance(manifest, Mapping) or not isinstance(manifest.get("files"), Mapping):
        return None, problems
    listed: Mapping[str, Any] = manifest["files"]
    problems.extend(_check_files(on_disk, listed))

    layers = _manifest_layers(manifest, problems)
    org_document = _read_listed(root, ORG_UNITS, on_disk, problems)
    if org_document is not None:
        org_schema_problems = validate_org_units(org_document)
        problems.extend(org_schema_problems)
        if not org_schema_problems:
            problems.extend(org_unit_problems(org_document))
    units = org_document.get("units", []) if isinstance(org_document, Mapping) else []
    units = [
        unit for unit in units if isinstance(unit, Mapping) and isinstance(unit.get("key"), str)
    ]

    documents: dict[str, list[tuple[str, dict[str, Any]]]] = {d: [] for d in layers.values()}
    for relative in sorted(on_disk):
        if relative in (MANIFEST, ORG_UNITS) or relative not in listed:
            continue
        placed = _place(relative, layers, problems)
        if placed is None:
            continue
        directory, kind, key = placed
        document = _read_json(on_disk[relative], relative, problems)
        if document is None:
            continue
        if isinstance(document, Mapping):
            problems.extend(_path_problems(relative, document, kind, key))
        documents[directory].append((relative, dict(document) if isinstance(document, Mapping)
                                     else document))  # fmt: skip

    tenant: Mapping[str, Any] = (
        manifest["tenant"] if isinstance(manifest.get("tenant"), Mapping) else {}
    )
    bundle = Bundle(
        tenant_key=str(tenant.get("key", "")),
        tenant_name=dict(tenant.get("name", {})) if isinstance(tenant.get("name"), Mapping) else {},
        org_units=tuple(dict(unit) for unit in units),
        layers=tuple(
            BundleLayer(
                unit_key,
                directory,
                tuple(doc for _path, doc in documents[directory]),
                tuple(path for path, _doc in documents[directory]),
            )
            for unit_key, directory in layers.items()
        ),
    )
    return bundle, problems


def _check_files(on_disk: Mapping[str, Path], listed: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for relative in sorted(set(on_disk) - set(listed) - {MANIFEST}):
        problems.append(
            Problem("", "bundle.unlisted_file", f"{relative} is not listed in manifest.json; "
                    "remove the file or add it with its sha256 to the manifest's files", relative)
        )  # fmt: skip
    for relative, digest in sorted(listed.items()):
        path = on_disk.get(relative)
        if path is None:
            problems.append(
                Problem(f"/files/{_escape(relative)}", "bundle.missing_file",
                        f"manifest.json lists {relative}, which is not in the bundle; add the "
                        "file or remove it from the manifest", MANIFEST)
            )  # fmt: skip
            continue
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(
                Problem("", "bundle.file_too_large",
                        f"the file is {size} bytes; a bundle file may be at most "
                        f"{MAX_FILE_BYTES} bytes (5 MB): split the document", relative)
            )  # fmt: skip
            continue
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if isinstance(digest, str) and actual != digest:
            problems.append(
                Problem("", "bundle.checksum_mismatch",
                        f"the file's sha256 is {actual} but manifest.json says {digest}: it was "
                        "changed after export; restore it or update the manifest", relative)
            )  # fmt: skip
    return problems


def _manifest_layers(manifest: Mapping[str, Any], problems: list[Problem]) -> dict[str | None, str]:
    """Unit key (None: HQ) -> directory, from the manifest's valid layer entries."""
    layers: dict[str | None, str] = {}
    entries = manifest.get("layers")
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("directory"), str):
            continue
        unit_key, directory = entry.get("unit"), entry["directory"]
        if directory != layer_directory(unit_key):
            problems.append(
                Problem(f"/layers/{index}/directory", "bundle.layer_directory",
                        f"the layer of {'HQ' if unit_key is None else repr(unit_key)} must live "
                        f"in {layer_directory(unit_key)!r}, not {directory!r}; move its files "
                        "and correct the manifest", MANIFEST)
            )  # fmt: skip
            continue
        if unit_key in layers or directory in layers.values():
            problems.append(
                Problem(f"/layers/{index}", "bundle.duplicate_layer",
                        f"layer {directory!r} (unit {unit_key!r}) is listed twice; list each "
                        "layer once", MANIFEST)
            )  # fmt: skip
            continue
        layers[unit_key] = directory
    return layers


def _place(
    relative: str, layers: Mapping[str | None, str], problems: list[Problem]
) -> tuple[str, str, str] | None:
    """(layer directory, kind, key) of a document file, or None after noting the problem."""
    for directory in layers.values():
        rest = relative.removeprefix(directory + "/")
        if rest == relative:
            continue
        parts = rest.split("/")
        if len(parts) == 2 and parts[1].endswith(".json") and len(parts[1]) > 5:
            return directory, parts[0], parts[1].removesuffix(".json")
        break
    problems.append(
        Problem("", "bundle.unexpected_file",
                f"{relative} is not where a bundle keeps documents; a document lives at "
                "<layer directory from manifest.json>/<kind>/<key>.json", relative)
    )  # fmt: skip
    return None


def _path_problems(
    relative: str, document: Mapping[str, Any], kind: str, key: str
) -> list[Problem]:
    problems = []
    if isinstance(document.get("kind"), str) and document["kind"] != kind:
        problems.append(
            Problem("/kind", "bundle.path_mismatch",
                    f"the document is a {document['kind']!r} but lies in the {kind!r} directory; "
                    "move the file or correct its kind", relative)
        )  # fmt: skip
    if isinstance(document.get("key"), str) and document["key"] != key:
        problems.append(
            Problem("/key", "bundle.path_mismatch",
                    f"the document's key is {document['key']!r} but its file is {key}.json; "
                    "rename the file or correct the key", relative)
        )  # fmt: skip
    return problems


def _read_listed(
    root: Path, relative: str, on_disk: Mapping[str, Path], problems: list[Problem]
) -> Any:
    if relative not in on_disk:
        problems.append(
            Problem("", "bundle.missing_file", f"the bundle has no {relative}", relative)
        )
        return None
    return _read_json(root / relative, relative, problems)


def _read_json(path: Path, relative: str, problems: list[Problem]) -> Any:
    """The parsed file, or None after noting why it could not be read."""
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_FILE_BYTES:
        return None  # reported once, by the size check
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        problems.append(
            Problem("", "bundle.invalid_encoding",
                    f"byte {exc.start} is not UTF-8; save the file as UTF-8", relative)
        )  # fmt: skip
    except json.JSONDecodeError as exc:
        problems.append(
            Problem("", "bundle.invalid_json",
                    f"line {exc.lineno} column {exc.colno}: {exc.msg}; fix the JSON syntax",
                    relative)
        )  # fmt: skip
    return None


# --- export --------------------------------------------------------------------------------------


def export_bundle(engine: Engine, tenant_key: str, directory: str | Path) -> Bundle:
    """Write the tenant's published configuration (all layers) and org units as a bundle.

    `directory` must be missing, empty or an earlier bundle (whose files are
    replaced). Returns what was written.
    """
    root = Path(directory)
    with engine.connect() as connection:
        tenant = load_tenant(connection, tenant_key)
        units = units_by_key(connection, tenant.id)
        layers = published_layers_in(connection, tenant.id)
    ordered_units = _units_in_order(units)
    unit_documents = [units[key].as_document() for key in ordered_units]
    layer_order = [None, *(key for key in ordered_units if key in layers)]
    bundle_layers = []
    directories = set()
    for unit_key in layer_order:
        directory_name = layer_directory(unit_key)
        if directory_name in directories:
            raise MetadataError(
                f"unit {unit_key!r} and the HQ layer would share the directory "
                f"{directory_name!r}; rename the unit's key"
            )
        directories.add(directory_name)
        documents = sorted(layers.get(unit_key, []), key=_identity)
        bundle_layers.append(BundleLayer(unit_key, directory_name, tuple(documents)))
    bundle = Bundle(tenant.key, dict(tenant.name), tuple(unit_documents), tuple(bundle_layers))
    _write(root, bundle)
    return bundle


def _units_in_order(units: Mapping[str, Any]) -> list[str]:
    by_id = sorted(units, key=lambda key: units[key].id)
    return parents_first(by_id, {key: unit.parent_key for key, unit in units.items()})


def _write(root: Path, bundle: Bundle) -> None:
    files: dict[str, bytes] = {
        ORG_UNITS: _dump({"kind": "org_units", "units": list(bundle.org_units)})
    }
    for layer in bundle.layers:
        for document in layer.documents:
            files[_path_of(layer.directory, document)] = _dump(document)
    manifest = {
        "format_version": FORMAT_VERSION,
        "tenant": {"key": bundle.tenant_key, "name": dict(bundle.tenant_name)},
        "layers": [
            {"unit": layer.unit_key, "directory": layer.directory} for layer in bundle.layers
        ],
        "files": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
    }
    _clear(root)
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / MANIFEST).write_bytes(_dump(manifest))


def _clear(root: Path) -> None:
    """Make `root` ready for a bundle: create it, or remove the files of the bundle in it."""
    if not root.exists():
        root.mkdir(parents=True)
        return
    if not any(root.iterdir()):
        return
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise MetadataError(
            f"{root} is not empty and holds no bundle; export into an empty directory"
        )
    try:
        old_files = list(json.loads(manifest_path.read_text(encoding="utf-8"))["files"])
    except (ValueError, KeyError, TypeError):
        old_files = []
    for relative in [*old_files, MANIFEST]:
        path = root / relative
        if path.is_file() and root.resolve() in path.resolve().parents:
            path.unlink()
    layers_root = root / "layers"
    if layers_root.is_dir():
        for folder in sorted(layers_root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def _dump(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


# --- import and diff ----------------------------------------------------------------------------


def import_bundle(
    engine: Engine,
    tenant_key: str,
    directory: str | Path,
    author: str,
    hooks: Sequence[PublishHook] = (),
    comment: str = "",
) -> ImportResult:
    """Validate the bundle, then apply its org units and every changed layer in one transaction.

    Raises BundleInvalid (nothing written) listing every problem. Layers whose
    documents already match are left alone, so importing twice changes nothing.
    """
    problems = validate_bundle(directory)
    if problems:
        raise BundleInvalid(problems, f"the bundle in {directory} was not imported")
    bundle = read_bundle(directory)
    message = comment or f"imported from bundle {Path(directory).name}"
    with engine.connect() as connection, connection.begin() as transaction:
        tenant = lock_tenant(connection, tenant_key)
        existing = units_by_key(connection, tenant.id)
        unit_changes, unit_problems = plan_units(existing, bundle.org_units)
        if unit_problems:
            raise BundleInvalid(unit_problems, f"the bundle in {directory} was not imported")
        published = published_layers_in(connection, tenant.id)
        changes, unchanged = [], []
        for layer in bundle.layers:
            if _same_documents(published.get(layer.unit_key, []), layer.documents):
                unchanged.append(layer.unit_key)
            else:
                changes.append(LayerChange(layer.unit_key, layer.documents))
        if not unit_changes and not changes:
            transaction.rollback()  # undo the lock's version bump: nothing changes
            return ImportResult(unit_changes, (), tuple(unchanged))
        try:
            upsert_units(connection, tenant.id, bundle.org_units)
            if changes:
                versions = publish_locked(connection, tenant, changes, author, message, hooks)
            else:
                _check_units_against_layers(connection, tenant.id, published)
                versions = ()
        except ConfigurationInvalid as exc:
            if isinstance(exc, BundleInvalid):
                raise
            raise BundleInvalid(
                exc.problems, f"the bundle in {directory} was not imported"
            ) from exc
    return ImportResult(unit_changes, tuple(versions), tuple(unchanged))


def diff_bundle(engine: Engine, tenant_key: str, directory: str | Path) -> BundleDiff:
    """What importing the bundle into the tenant would change (BundleInvalid if it is bad)."""
    problems = validate_bundle(directory)
    if problems:
        raise BundleInvalid(problems, f"the bundle in {directory} is invalid")
    bundle = read_bundle(directory)
    with engine.connect() as connection:
        tenant = load_tenant(connection, tenant_key)
        existing = units_by_key(connection, tenant.id)
        published = published_layers_in(connection, tenant.id)
    unit_changes, _problems = plan_units(existing, bundle.org_units)
    layers = tuple(
        (layer.unit_key, diff_documents(published.get(layer.unit_key, []), layer.documents))
        for layer in bundle.layers
    )
    return BundleDiff(unit_changes, layers)


def _check_units_against_layers(
    connection: Any, tenant_id: int, published: Mapping[str | None, Sequence[Mapping[str, Any]]]
) -> None:
    """Changed units alone can break a layer (a unit kind it does not define): validate."""
    problems = validate_layers(published, units_by_key(connection, tenant_id))
    if problems:
        raise ConfigurationInvalid(problems, "the org units do not fit the configuration")


def _same_documents(
    current: Sequence[Mapping[str, Any]], incoming: Sequence[Mapping[str, Any]]
) -> bool:
    return sorted(map(_canonical, current)) == sorted(map(_canonical, incoming))


def _canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, ensure_ascii=False)


def _identity(document: Mapping[str, Any]) -> tuple[str, str]:
    return str(document.get("kind")), str(document.get("key"))


def _path_of(directory: str, document: Mapping[str, Any]) -> str:
    kind, key = _identity(document)
    return f"{directory}/{kind}/{key}.json"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
