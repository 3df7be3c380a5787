"""Merging configuration layers: the effective configuration of a unit, the physical one, locks.

A chain is the list of layers on a unit's path, HQ first. Each layer may add
documents; it may replace an inherited form, list view, role, field security
profile, sharing or restriction rule (or unit kinds) by key unless that document
is locked; it extends inherited entities only through ``entity_extension``
documents (new fields, overrides of unlocked fields). All documents are assumed
schema-valid: `validation.validate_tenant` filters out the others first.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from crm_platform.errors import Problem
from crm_platform.metadata.errors import MetadataError
from crm_platform.metadata.field_types import FieldDef
from crm_platform.metadata.model import (
    DEFAULT_UNIT_KINDS,
    PARSERS,
    Configuration,
    EntityDef,
    UnitKindDef,
    parse_unit_kinds,
)

REPLACEABLE_KINDS: frozenset[str] = frozenset(
    {
        "form",
        "list_view",
        "role",
        "field_security",
        "sharing_rule",
        "restriction_rule",
        "unit_kinds",
    }
)
"""Kinds a lower layer may replace by key (unless the inherited document is locked)."""

_OVERRIDABLE = ("label", "help", "required")

KIND_NOUNS: Mapping[str, str] = MappingProxyType(
    {
        "entity_extension": "entity extension",
        "list_view": "list view",
        "field_security": "field security profile",
        "sharing_rule": "sharing rule",
        "restriction_rule": "restriction rule",
        "unit_kinds": "unit kinds",
    }
)
"""How messages name a kind."""


@dataclass(frozen=True)
class LayerDocuments:
    """The documents of one layer; `unit_key` None is the tenant (HQ) layer."""

    unit_key: str | None
    documents: tuple[Mapping[str, Any], ...]


def layer_directory(unit_key: str | None) -> str:
    """The bundle directory of a layer: ``layers/hq`` or ``layers/<unit key>``."""
    return f"layers/{unit_key or 'hq'}"


def document_path(unit_key: str | None, document: Any, index: int = 0) -> str:
    """Where a document of a layer lives in a bundle: ``layers/<unit|hq>/<kind>/<key>.json``.

    A document without a usable key is named by its position in the layer, which
    no key can clash with (keys start with a letter).
    """
    kind = document.get("kind") if isinstance(document, Mapping) else None
    key = document.get("key") if isinstance(document, Mapping) else None
    if kind == "org_units":
        return "org_units.json"
    kind_part = kind if isinstance(kind, str) and kind else "unknown"
    key_part = key if isinstance(key, str) and key else str(index)
    return f"{layer_directory(unit_key)}/{kind_part}/{key_part}.json"


def describe_layer(unit_key: str | None) -> str:
    """How messages name a layer: ``the HQ layer`` or ``the layer of unit 'x'``."""
    return "the HQ layer" if unit_key is None else f"the layer of unit {unit_key!r}"


@dataclass
class _Placed:
    """A document in effect, with the layer that placed it and how deep that layer is."""

    document: dict[str, Any]
    unit_key: str | None
    depth: int


@dataclass
class _EntityState:
    document: dict[str, Any]
    unit_key: str | None
    field_layers: dict[str, str | None]


class _Merger:
    """Folds layers into effective documents, noting each lock or clash it has to refuse.

    `physical` folds every layer of a tenant side by side instead of down one path:
    nothing is replaced or overridden, everything new is added.
    """

    def __init__(self, *, physical: bool = False) -> None:
        self.physical = physical
        self.entities: dict[str, _EntityState] = {}
        self.placed: dict[tuple[str, str], _Placed] = {}
        self.extensions: dict[str, _Placed] = {}
        self.problems: list[Problem] = []

    def add(self, layer: LayerDocuments, depth: int) -> None:
        keyed = [
            (index, doc)
            for index, doc in enumerate(layer.documents)
            if isinstance(doc, Mapping) and isinstance(doc.get("key"), str)
        ]
        seen: set[tuple[str, str]] = set()
        unique = []
        for index, doc in keyed:
            identity = (doc["kind"], doc["key"])
            if identity not in seen:  # a repeat within a layer is `key.duplicate`, not merged
                seen.add(identity)
                unique.append((index, doc))
        # Entities first, so that an extension may precede its entity in the layer's list.
        for index, doc in unique:
            if doc["kind"] == "entity":
                self._add_entity(layer.unit_key, doc, index)
        for index, doc in unique:
            if doc["kind"] == "entity_extension":
                self._add_extension(layer.unit_key, doc, index, depth)
        for index, doc in unique:
            if doc["kind"] not in ("entity", "entity_extension"):
                self._add_document(layer.unit_key, doc, index, depth)

    def _problem(
        self, unit_key: str | None, doc: Any, index: int, pointer: str, code: str, message: str
    ) -> None:
        self.problems.append(Problem(pointer, code, message, document_path(unit_key, doc, index)))

    def _add_entity(self, unit_key: str | None, doc: Mapping[str, Any], index: int) -> None:
        existing = self.entities.get(doc["key"])
        if existing is not None:
            if existing.unit_key != unit_key:
                self._problem(
                    unit_key,
                    doc,
                    index,
                    "",
                    "layer.entity_redefined",
                    f"entity {doc['key']!r} is already defined by "
                    f"{describe_layer(existing.unit_key)}; a layer cannot redefine it. "
                    "Add fields with an entity_extension document instead, or choose another key",
                )
            return
        document = copy.deepcopy(dict(doc))
        self.entities[doc["key"]] = _EntityState(
            document, unit_key, {f["key"]: unit_key for f in document["fields"]}
        )

    def _add_extension(
        self, unit_key: str | None, doc: Mapping[str, Any], index: int, depth: int
    ) -> None:
        previous = self.extensions.get(doc["key"])
        if previous is not None and not self.physical:
            self._problem(
                unit_key,
                doc,
                index,
                "/key",
                "layer.extension_redefined",
                f"entity_extension {doc['key']!r} is already defined by "
                f"{describe_layer(previous.unit_key)}; give this extension another key",
            )
            return
        if previous is None:
            self.extensions[doc["key"]] = _Placed(copy.deepcopy(dict(doc)), unit_key, depth)
        state = self.entities.get(doc["entity"])
        if state is None:
            return  # an unknown entity is reported by semantic validation
        fields = state.document["fields"]
        added: set[str] = set()
        for position, field_doc in enumerate(doc.get("fields", ())):
            key = field_doc["key"]
            if key in added:
                continue  # reported as field.duplicate_key
            added.add(key)
            if key in state.field_layers:
                self._problem(
                    unit_key,
                    doc,
                    index,
                    f"/fields/{position}/key",
                    "layer.field_key_clash",
                    f"entity {doc['entity']!r} already has a field {key!r} (from "
                    f"{describe_layer(state.field_layers[key])}); field keys are unique per "
                    "entity across the whole tenant, because every layer's fields share one "
                    "table. Choose another key",
                )
                continue
            fields.append(copy.deepcopy(dict(field_doc)))
            state.field_layers[key] = unit_key
        if not self.physical:
            for key, override in doc.get("field_overrides", {}).items():
                self._override(state, unit_key, doc, index, key, override)

    def _override(
        self,
        state: _EntityState,
        unit_key: str | None,
        doc: Mapping[str, Any],
        index: int,
        key: str,
        override: Mapping[str, Any],
    ) -> None:
        field_doc = next((f for f in state.document["fields"] if f["key"] == key), None)
        if field_doc is None:
            return  # reported as ref.unknown_field
        entity_key = state.document["key"]
        owner = describe_layer(state.field_layers[key])
        pointer = f"/field_overrides/{_escape(key)}"
        if field_doc.get("locked") or (state.document.get("locked") and unit_key != state.unit_key):
            what = "field" if field_doc.get("locked") else "entity"
            locker = owner if field_doc.get("locked") else describe_layer(state.unit_key)
            subject = f"field {key!r} of entity {entity_key!r}"
            self._problem(
                unit_key,
                doc,
                index,
                pointer,
                "layer.locked",
                f"{subject} is locked by {locker}"
                + ("" if what == "field" else f" (it locks the whole entity {entity_key!r})")
                + "; remove this override",
            )
            return
        for name in _OVERRIDABLE:
            if name in override:
                field_doc[name] = copy.deepcopy(override[name])
        options = field_doc.get("options")
        for position, option in enumerate(override.get("add_options", ())):
            if options is None:
                return  # reported by semantic validation (options on a non-choice field)
            current = next((o for o in options if o["key"] == option["key"]), None)
            if current is None:
                options.append(copy.deepcopy(dict(option)))
            elif current.get("locked"):
                self._problem(
                    unit_key,
                    doc,
                    index,
                    f"{pointer}/add_options/{position}",
                    "layer.locked",
                    f"option {option['key']!r} of field {key!r} on entity {entity_key!r} is "
                    f"locked by {owner}; remove it from add_options or use a new option key",
                )
            else:
                current.update(copy.deepcopy(dict(option)))

    def _add_document(
        self, unit_key: str | None, doc: Mapping[str, Any], index: int, depth: int
    ) -> None:
        identity = (doc["kind"], doc["key"])
        existing = self.placed.get(identity)
        if existing is not None:
            if self.physical:
                return
            if existing.document.get("locked"):
                self._problem(
                    unit_key,
                    doc,
                    index,
                    "",
                    "layer.locked",
                    f"{KIND_NOUNS.get(doc['kind'], doc['kind'])} {doc['key']!r} is locked by "
                    f"{describe_layer(existing.unit_key)}; remove this document or give it "
                    "another key",
                )
                return
            if doc["kind"] not in REPLACEABLE_KINDS:
                return
        self.placed[identity] = _Placed(copy.deepcopy(dict(doc)), unit_key, depth)

    def configuration(self, unit_key: str | None) -> Configuration:
        entities: dict[str, EntityDef] = {}
        documents: dict[tuple[str, str], Mapping[str, Any]] = {}
        for key, state in self.entities.items():
            entity = EntityDef.from_document(state.document, state.unit_key)
            fields = tuple(
                FieldDef.from_document(f, state.field_layers[f["key"]])
                for f in state.document["fields"]
            )
            entities[key] = dataclasses.replace(entity, fields=fields)
            documents[("entity", key)] = state.document
        for key, placed in self.extensions.items():
            documents[("entity_extension", key)] = placed.document
        parsed: dict[str, dict[str, Any]] = {kind: {} for kind in PARSERS}
        kinds: dict[str, UnitKindDef] = {}
        for (kind, key), placed in self.placed.items():
            documents[(kind, key)] = placed.document
            if kind in PARSERS:
                parsed[kind][key] = PARSERS[kind](placed.document, placed.unit_key)
            elif kind == "unit_kinds":
                for unit_kind in parse_unit_kinds(placed.document, placed.unit_key):
                    kinds.setdefault(unit_kind.key, unit_kind)
        levels = {
            key: dataclasses.replace(kind, level=level)
            for level, (key, kind) in enumerate(kinds.items())
        }
        return Configuration(
            unit_key=unit_key,
            entities=MappingProxyType(entities),
            forms=MappingProxyType(parsed["form"]),
            list_views=MappingProxyType(parsed["list_view"]),
            roles=MappingProxyType(parsed["role"]),
            field_security=MappingProxyType(parsed["field_security"]),
            sharing_rules=MappingProxyType(parsed["sharing_rule"]),
            restriction_rules=MappingProxyType(parsed["restriction_rule"]),
            unit_kinds=MappingProxyType(levels) if levels else DEFAULT_UNIT_KINDS,
            documents=MappingProxyType(documents),
            default_forms=MappingProxyType(self._defaults("form")),
            default_list_views=MappingProxyType(self._defaults("list_view")),
        )

    def _defaults(self, kind: str) -> dict[str, str]:
        """Entity -> key of the default of `kind` placed by the deepest layer (first one there)."""
        chosen: dict[str, tuple[int, str]] = {}
        for (placed_kind, key), placed in self.placed.items():
            if placed_kind != kind or not placed.document.get("default"):
                continue
            entity = placed.document["entity"]
            if entity not in chosen or placed.depth > chosen[entity][0]:
                chosen[entity] = (placed.depth, key)
        return {entity: key for entity, (_depth, key) in chosen.items()}


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _merge(chain: Iterable[LayerDocuments], *, physical: bool = False) -> _Merger:
    merger = _Merger(physical=physical)
    for depth, layer in enumerate(chain):
        merger.add(layer, depth)
    return merger


def effective_configuration(chain: Sequence[LayerDocuments]) -> Configuration:
    """The configuration in effect at the last layer's unit; `chain` runs from HQ down."""
    unit_key = chain[-1].unit_key if chain else None
    return _merge(chain).configuration(unit_key)


def physical_configuration(layers: Sequence[LayerDocuments]) -> Configuration:
    """HQ's configuration plus every entity and field any layer adds: what tables are built from.

    Other layers contribute the documents HQ does not have (their own forms and list
    views, so sort indexes cover them), never replacements or field overrides.
    """
    ordered = sorted(layers, key=lambda layer: layer.unit_key is not None)
    return _merge(ordered, physical=True).configuration(None)


def merge_chain(chain: Sequence[LayerDocuments]) -> tuple[Configuration, list[Problem]]:
    """The effective configuration of a chain and its lock problems, in one pass."""
    merger = _merge(chain)
    return merger.configuration(chain[-1].unit_key if chain else None), merger.problems


def lock_problems(chain: Sequence[LayerDocuments]) -> list[Problem]:
    """What the layers of one chain (HQ first) change that they may not: locks, redefinitions."""
    return _merge(chain).problems


def merge_physical(layers: Sequence[LayerDocuments]) -> tuple[Configuration, list[Problem]]:
    """The physical configuration and the clashes found building it, in one pass."""
    ordered = sorted(layers, key=lambda layer: layer.unit_key is not None)
    merger = _merge(ordered, physical=True)
    return merger.configuration(None), merger.problems


def physical_problems(layers: Sequence[LayerDocuments]) -> list[Problem]:
    """Clashes between layers that are not on one path: the same field or entity added twice."""
    ordered = sorted(layers, key=lambda layer: layer.unit_key is not None)
    return _merge(ordered, physical=True).problems


class OrgCycle(MetadataError):
    """The parent links of the org units loop; `units` are the units on the loop."""

    def __init__(self, units: Sequence[str]):
        self.units = tuple(units)
        super().__init__(
            f"org units {' -> '.join(self.units)} form a cycle (each arrow leads to the unit's "
            "parent); a unit cannot be its own ancestor, so give one of them another parent"
        )


def unit_path(unit_key: str, org_parents: Mapping[str, str | None]) -> list[str]:
    """The keys from the root down to `unit_key` (inclusive); parents missing from the map end it.

    Raises `OrgCycle` when the parent links loop.
    """
    path: list[str] = []
    current: str | None = unit_key
    while current is not None:
        if current in path:
            raise OrgCycle([*path[path.index(current) :], current])
        path.append(current)
        current = org_parents.get(current)
    path.reverse()
    return path


def chain_for(
    unit_key: str | None,
    layers: Mapping[str | None, Sequence[Mapping[str, Any]]],
    org_parents: Mapping[str, str | None],
) -> list[LayerDocuments]:
    """The layers that apply at `unit_key`, HQ first, down its path (None: HQ alone)."""
    chain = [LayerDocuments(None, tuple(layers.get(None, ())))]
    if unit_key is None:
        return chain
    for key in unit_path(unit_key, org_parents):
        if key in layers:
            chain.append(LayerDocuments(key, tuple(layers[key])))
    return chain
