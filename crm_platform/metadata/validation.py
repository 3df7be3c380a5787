"""Semantic validation of a tenant's configuration, returning every problem at once.

`validate_tenant` runs the whole pipeline: the schema of every document, then,
for the documents that pass, the checks that need the effective configuration
around them (references resolve, keys are unique, operators fit field types,
locks hold). Each layer's documents are checked in the effective configuration
of their own unit: a lower unit only ever sees more fields, never fewer, so a
document valid where it is defined stays valid below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crm_platform.errors import Problem
from crm_platform.metadata.errors import ConfigurationInvalid
from crm_platform.metadata.layers import (
    LayerDocuments,
    OrgCycle,
    describe_layer,
    document_path,
    layer_directory,
    merge_chain,
    merge_physical,
    unit_path,
)
from crm_platform.metadata.model import Configuration
from crm_platform.metadata.schemas import validate_document
from crm_platform.metadata.validation_documents import (
    DOCUMENT_CHECKS,
    CheckContext,
    did_you_mean,
)

ORG_UNITS_DOCUMENT = "org_units.json"

__all__ = [
    "check_tenant",
    "org_unit_problems",
    "validate_chain",
    "validate_layer",
    "validate_tenant",
]


def validate_layer(
    unit_key: str | None,
    documents: Sequence[Mapping[str, Any]],
    config: Configuration,
    units: Iterable[str] | None = None,
    physical: Configuration | None = None,
) -> list[Problem]:
    """Semantic problems of one layer's schema-valid documents in `config`, its unit's view.

    `units` (org unit keys) enables checks of unit references; `physical` (the
    tenant's physical configuration) lets messages point at fields of other layers.
    """
    ctx = CheckContext(config, frozenset(units) if units is not None else None, physical)
    problems = _layer_problems(unit_key, documents)
    for index, document in enumerate(documents):
        name = document_path(unit_key, document, index)
        for pointer, code, message in DOCUMENT_CHECKS[document["kind"]](document, ctx):
            problems.append(Problem(pointer, code, message, name))
    return problems


def _layer_problems(unit_key: str | None, documents: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Within one layer: a (kind, key) used twice, two defaults for one entity."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    defaults: dict[tuple[str, str], str] = {}
    for index, document in enumerate(documents):
        kind, key = document["kind"], document["key"]
        name = document_path(unit_key, document, index)
        if (kind, key) in seen:
            problems.append(
                Problem(
                    "/key",
                    "key.duplicate",
                    f"{describe_layer(unit_key)} has two {kind} documents with key {key!r}; "
                    "rename or remove one",
                    name,
                )
            )
            continue
        seen.add((kind, key))
        if kind in ("form", "list_view") and document.get("default"):
            entity = document["entity"]
            first = defaults.setdefault((kind, entity), key)
            if first != key:
                problems.append(
                    Problem(
                        "/default",
                        f"{kind}.multiple_defaults",
                        f"{kind} {first!r} is already the default for entity {entity!r} in "
                        f"{describe_layer(unit_key)}; set 'default' on only one of them",
                        name,
                    )
                )
    return problems


def validate_chain(
    chain: Sequence[LayerDocuments],
    units: Iterable[str] | None = None,
    physical: Configuration | None = None,
) -> list[Problem]:
    """Lock problems of a chain (HQ first) and semantic problems of its last layer."""
    return _validate_chain(chain, units, physical)[1]


def _validate_chain(
    chain: Sequence[LayerDocuments],
    units: Iterable[str] | None,
    physical: Configuration | None = None,
) -> tuple[Configuration, list[Problem]]:
    config, problems = merge_chain(chain)
    last = chain[-1]
    problems.extend(validate_layer(last.unit_key, last.documents, config, units, physical))
    return config, problems


def validate_tenant(
    layers: Mapping[str | None, Sequence[Mapping[str, Any]]],
    org_parents: Mapping[str, str | None],
    org_kinds: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every problem of a tenant's configuration: schemas, references, locks, clashes, org units.

    `layers` maps a unit key (None: HQ) to its documents; `org_parents` maps each
    org unit to its parent (None at the root); `org_kinds`, when given, maps each
    unit to its kind, in the order of ``org_units.json`` (pointers use that order).
    """
    problems: list[Problem] = []
    valid: dict[str | None, tuple[Mapping[str, Any], ...]] = {}
    for unit_key, documents in layers.items():
        if unit_key is not None and unit_key not in org_parents:
            problems.append(
                Problem(
                    "",
                    "ref.unknown_unit",
                    f"there is a layer for org unit {unit_key!r}, which does not exist"
                    f"{did_you_mean(unit_key, org_parents)}; create the unit or remove the layer",
                    layer_directory(unit_key),
                )
            )
        passing = []
        for index, document in enumerate(documents):
            found = validate_document(document, document_path(unit_key, document, index))
            problems.extend(found)
            if not found:
                passing.append(document)
        if unit_key is None or unit_key in org_parents:
            valid[unit_key] = tuple(passing)

    problems.extend(_org_problems(org_parents, org_kinds))
    units = frozenset(org_parents)
    chains: dict[str | None, list[LayerDocuments]] = {}
    for unit_key in [None, *(key for key in valid if key is not None)]:
        chain = _chain(unit_key, valid, org_parents)
        if chain is not None:  # a cycle is reported by _org_problems
            chains[unit_key] = chain
    # Parents before children, so a clash is reported on the lower of the two layers.
    side_by_side = sorted(
        (chain[-1] for chain in chains.values()),
        key=lambda layer: (len(chains[layer.unit_key]), layer.unit_key or ""),
    )
    physical, clashes = merge_physical(side_by_side)
    configs: dict[str | None, Configuration] = {}
    for unit_key, chain in chains.items():
        configs[unit_key], found = _validate_chain(chain, units, physical)
        problems.extend(found)
    problems.extend(clashes)
    if org_kinds is not None:
        problems.extend(_unit_kind_problems(org_parents, org_kinds, valid, configs))
    return _unique(problems)


def check_tenant(
    layers: Mapping[str | None, Sequence[Mapping[str, Any]]],
    org_parents: Mapping[str, str | None],
    org_kinds: Mapping[str, str] | None = None,
) -> None:
    """Raise `ConfigurationInvalid` listing every problem `validate_tenant` finds."""
    problems = validate_tenant(layers, org_parents, org_kinds)
    if problems:
        raise ConfigurationInvalid(problems, "the tenant's configuration is invalid")


def _chain(
    unit_key: str | None,
    valid: Mapping[str | None, Sequence[Mapping[str, Any]]],
    org_parents: Mapping[str, str | None],
) -> list[LayerDocuments] | None:
    chain = [LayerDocuments(None, tuple(valid.get(None, ())))]
    if unit_key is None:
        return chain
    try:
        path = unit_path(unit_key, org_parents)
    except OrgCycle:
        return None
    chain.extend(LayerDocuments(key, tuple(valid[key])) for key in path if key in valid)
    return chain


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    """Problems once each: the same spot can be found from several units' chains."""
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for problem in problems:
        identity = (problem.document, problem.pointer, problem.code)
        if identity not in seen:
            seen.add(identity)
            unique.append(problem)
    return unique


# --- org units --------------------------------------------------------------------------------


def org_unit_problems(
    document: Mapping[str, Any], unit_kinds: Iterable[str] | None = None
) -> list[Problem]:
    """Semantic problems of a schema-valid ``org_units.json``: keys, parents first, kinds."""
    problems: list[Problem] = []
    units = document["units"]
    all_keys = {unit["key"] for unit in units}
    listed: set[str] = set()
    kinds = frozenset(unit_kinds) if unit_kinds is not None else None
    for index, unit in enumerate(units):
        key, parent = unit["key"], unit["parent"]
        if key in listed:
            problems.append(
                Problem(
                    f"/units/{index}/key",
                    "org.duplicate_key",
                    f"org unit {key!r} is listed twice; keep one",
                    ORG_UNITS_DOCUMENT,
                )
            )
        if parent is not None and parent not in all_keys:
            problems.append(
                Problem(
                    f"/units/{index}/parent",
                    "org.unknown_parent",
                    f"org unit {key!r} has parent {parent!r}, which is not an org unit"
                    f"{did_you_mean(parent, all_keys)}",
                    ORG_UNITS_DOCUMENT,
                )
            )
        elif parent is not None and parent not in listed:
            problems.append(
                Problem(
                    f"/units/{index}/parent",
                    "org.parent_order",
                    f"org unit {key!r} comes before its parent {parent!r}; list parents first "
                    "(this also rules out cycles)",
                    ORG_UNITS_DOCUMENT,
                )
            )
        if kinds is not None and unit["kind"] not in kinds:
            problems.append(_unknown_kind(index, key, unit["kind"], kinds))
        listed.add(key)
    return problems


def _unknown_kind(index: int, key: str, kind: str, kinds: Iterable[str]) -> Problem:
    known = sorted(kinds)
    return Problem(
        f"/units/{index}/kind",
        "org.unknown_kind",
        f"org unit {key!r} is of kind {kind!r}, which is not a unit kind of the tenant; "
        f"use one of: {', '.join(known)}{did_you_mean(kind, known)}",
        ORG_UNITS_DOCUMENT,
    )


def _org_problems(
    org_parents: Mapping[str, str | None], org_kinds: Mapping[str, str] | None
) -> list[Problem]:
    problems: list[Problem] = []
    positions = {key: index for index, key in enumerate(org_kinds or org_parents)}
    reported: set[frozenset[str]] = set()
    for key, parent in org_parents.items():
        index = positions.get(key, 0)
        if parent is not None and parent not in org_parents:
            problems.append(
                Problem(
                    f"/units/{index}/parent",
                    "org.unknown_parent",
                    f"org unit {key!r} has parent {parent!r}, which is not an org unit"
                    f"{did_you_mean(parent, org_parents)}",
                    ORG_UNITS_DOCUMENT,
                )
            )
            continue
        try:
            unit_path(key, org_parents)
        except OrgCycle as cycle:
            loop = frozenset(cycle.units)
            if loop not in reported:
                reported.add(loop)
                problems.append(
                    Problem(f"/units/{index}/parent", "org.cycle", str(cycle), ORG_UNITS_DOCUMENT)
                )
    return problems


def _unit_kind_problems(
    org_parents: Mapping[str, str | None],
    org_kinds: Mapping[str, str],
    valid: Mapping[str | None, Sequence[Mapping[str, Any]]],
    configs: Mapping[str | None, Configuration],
) -> list[Problem]:
    problems = []
    for index, (key, kind) in enumerate(org_kinds.items()):
        try:
            path = unit_path(key, org_parents) if key in org_parents else []
        except OrgCycle:
            path = []
        # The unit kinds in effect at the unit: those of its closest layered ancestor-or-self.
        layered = [unit for unit in path if unit in valid and unit in configs]
        config = configs.get(layered[-1] if layered else None)
        if config is not None and kind not in config.unit_kinds:
            problems.append(_unknown_kind(index, key, kind, config.unit_kinds))
    return problems
