"""Semantic validation: actionable messages, all problems at once, org units, the seed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_platform.metadata.errors import ConfigurationInvalid
from crm_platform.metadata.layers import LayerDocuments, chain_for, document_path
from crm_platform.metadata.validation import (
    check_tenant,
    org_unit_problems,
    validate_chain,
    validate_tenant,
)

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "corpus" / "valid_baseline.json"
SEED = HERE.parent.parent / "seed_configs" / "multi_org_crm"


@pytest.fixture
def tenant() -> dict[str, Any]:
    case = json.loads(BASELINE.read_text(encoding="utf-8"))
    layers = {None if unit == "hq" else unit: docs for unit, docs in case["layers"].items()}
    return {"layers": layers, "org": case["org"], "kinds": case["org_kinds"]}


def _doc(tenant: dict[str, Any], unit: str | None, kind: str, key: str) -> dict[str, Any]:
    return next(d for d in tenant["layers"][unit] if d["kind"] == kind and d["key"] == key)


def _validate(tenant: dict[str, Any]):
    return validate_tenant(tenant["layers"], tenant["org"], tenant["kinds"])


def test_misspelt_form_field_message_suggests_the_right_key(tenant) -> None:
    form = _doc(tenant, None, "form", "customer_main")
    form["sections"][0]["columns"][1][1]["field"] = "credit_limt"
    (problem,) = _validate(tenant)
    assert problem.message == (
        "form 'customer_main' places field 'credit_limt' which entity 'customer' does not "
        "have; did you mean 'credit_limit'?"
    )


def test_condition_messages_name_the_usable_operators_and_options(tenant) -> None:
    rule = _doc(tenant, None, "sharing_rule", "share_key_accounts")
    rule["condition"] = {
        "all": [
            {"field": "name", "op": "between", "value": ["A", "M"]},
            {"field": "level", "op": "eq", "value": "A"},
        ]
    }
    bad_operator, unknown_option = _validate(tenant)
    assert bad_operator.pointer == "/condition/all/0/op"
    assert "'between' does not apply to field 'name' of type 'text'" in bad_operator.message
    assert "contains" in bad_operator.message
    assert unknown_option.pointer == "/condition/all/1/value"
    assert "did you mean 'a'" in unknown_option.message


def test_check_tenant_raises_with_every_problem(tenant) -> None:
    _doc(tenant, None, "form", "contact_main")["entity"] = "contacts"
    _doc(tenant, None, "role", "analyst")["privileges"]["deal"] = {"read": "tenant"}
    with pytest.raises(ConfigurationInvalid) as raised:
        check_tenant(tenant["layers"], tenant["org"], tenant["kinds"])
    assert [p.code for p in raised.value.problems] == ["ref.unknown_entity", "ref.unknown_entity"]
    assert "contacts" in str(raised.value) and "deal" in str(raised.value)
    check_tenant(*_valid_args())


def _valid_args():
    case = json.loads(BASELINE.read_text(encoding="utf-8"))
    layers = {None if unit == "hq" else unit: docs for unit, docs in case["layers"].items()}
    return layers, case["org"], case["org_kinds"]


def test_schema_invalid_document_is_not_checked_semantically(tenant) -> None:
    view = _doc(tenant, None, "list_view", "customer_all")
    view["columns"].append("nonexistent")
    view["page_size"] = 0
    assert [(p.pointer, p.code) for p in _validate(tenant)] == [("/page_size", "schema.minimum")]


def test_hq_problem_is_reported_once_however_many_units_have_layers(tenant) -> None:
    _doc(tenant, None, "form", "customer_main")["sections"][0]["columns"][0][0]["field"] = "nam"
    for unit in ("east_branch", "trading_bu"):
        tenant["layers"][unit] = [
            {"kind": "role", "key": f"{unit}_role", "label": {"en": unit}, "privileges": {}}
        ]
    assert [p.code for p in _validate(tenant)] == ["ref.unknown_field"]


def test_a_unit_layer_sees_the_fields_of_its_ancestors_layers(tenant) -> None:
    tenant["layers"]["east_branch"] = [
        {
            "kind": "list_view",
            "key": "east_customers",
            "entity": "customer",
            "label": {"en": "East"},
            "columns": ["name", "installed_base"],
            "default_filter": {"field": "service_tier", "op": "eq", "value": "gold"},
        }
    ]
    assert _validate(tenant) == []
    tenant["org"]["east_branch"] = "trading_bu"
    assert {p.code for p in _validate(tenant)} == {"ref.unknown_field", "condition.unknown_field"}


def test_validate_chain_checks_only_the_last_layer_and_the_locks(tenant) -> None:
    extension = _doc(tenant, "equipment_bu", "entity_extension", "customer_equipment")
    extension["field_overrides"]["credit_limit"] = {"required": True}
    chain = chain_for("equipment_bu", tenant["layers"], tenant["org"])
    assert [p.code for p in validate_chain(chain)] == ["layer.locked"]
    hq_only = [LayerDocuments(None, tuple(tenant["layers"][None]))]
    assert validate_chain(hq_only) == []


def test_unit_references_are_checked_against_the_org(tenant) -> None:
    del tenant["org"]["trading_bu"]
    del tenant["kinds"]["trading_bu"]
    (problem,) = _validate(tenant)
    assert (problem.document, problem.pointer, problem.code) == (
        "layers/hq/restriction_rule/hide_inactive.json",
        "/applies_to/units/0/unit",
        "ref.unknown_unit",
    )


def test_unit_kinds_of_a_unit_layer_apply_to_its_subtree(tenant) -> None:
    tenant["kinds"]["east_branch"] = "workshop"
    assert [p.code for p in _validate(tenant)] == ["org.unknown_kind"]
    tenant["layers"]["equipment_bu"].append(
        {
            "kind": "unit_kinds",
            "key": "equipment_levels",
            "kinds": [{"key": "workshop", "label": {"en": "Workshop"}}],
        }
    )
    assert _validate(tenant) == []


def test_org_units_document_checks() -> None:
    def unit(key: str, parent: str | None, kind: str = "branch") -> dict[str, Any]:
        return {"key": key, "name": {"en": key}, "kind": kind, "parent": parent}

    document = {
        "kind": "org_units",
        "units": [
            unit("group", None, "group"),
            unit("east", "north"),
            unit("north", "group"),
            unit("north", "group"),
            unit("lost", "nowhere"),
            unit("team_a", "east", "squad"),
        ],
    }
    found = [(p.pointer, p.code) for p in org_unit_problems(document, ["group", "branch"])]
    assert found == [
        ("/units/1/parent", "org.parent_order"),
        ("/units/3/key", "org.duplicate_key"),
        ("/units/4/parent", "org.unknown_parent"),
        ("/units/5/kind", "org.unknown_kind"),
    ]


def test_unit_layer_problems_name_the_unit_layers_document(tenant) -> None:
    form = copy.deepcopy(_doc(tenant, "equipment_bu", "form", "customer_equipment"))
    form["key"] = "customer_equipment_2"
    form["sections"][0]["columns"][0].append({"field": "name"})
    tenant["layers"]["equipment_bu"].append(form)
    found = sorted((p.document, p.code) for p in _validate(tenant))
    assert found == [
        ("layers/equipment_bu/form/customer_equipment_2.json", "form.duplicate_field"),
        ("layers/equipment_bu/form/customer_equipment_2.json", "form.multiple_defaults"),
    ]


@pytest.mark.skipif(not SEED.exists(), reason="the seed configuration is not there")
def test_seed_configuration_is_valid() -> None:
    layers: dict[str | None, list[Any]] = {}
    for directory in sorted((SEED / "layers").iterdir()):
        unit = None if directory.name == "hq" else directory.name
        layers[unit] = [json.loads(p.read_text("utf-8")) for p in sorted(directory.rglob("*.json"))]
    org = json.loads((SEED / "org_units.json").read_text("utf-8"))
    parents = {u["key"]: u["parent"] for u in org["units"]}
    kinds = {u["key"]: u["kind"] for u in org["units"]}
    assert [str(p) for p in validate_tenant(layers, parents, kinds)] == []
    assert org_unit_problems(org) == []


def test_missing_field_message_names_the_layer_that_adds_it(tenant) -> None:
    form = _doc(tenant, None, "form", "customer_compact")
    form["sections"][0]["columns"][0].append({"field": "installed_base"})
    (problem,) = _validate(tenant)
    assert problem.code == "ref.unknown_field"
    assert "added by the layer of unit 'equipment_bu'" in problem.message


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _resolves(document: Any, pointer: str) -> bool:
    node = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


_REPLACEMENTS = ["zzz", "name", "level", "customer", "a", 0, -1, 2.5, True, None, [], {}]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_configurations_never_crash_and_every_pointer_resolves(data) -> None:
    case = json.loads(BASELINE.read_text(encoding="utf-8"))
    layers = {None if unit == "hq" else unit: docs for unit, docs in case["layers"].items()}
    for _ in range(data.draw(st.integers(1, 3))):
        unit = data.draw(st.sampled_from(sorted(layers, key=str)))
        document = data.draw(st.sampled_from(layers[unit]))
        path = data.draw(st.sampled_from(_paths(document)[1:]))
        parent = document
        for token in path[:-1]:
            parent = parent[token]
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(st.sampled_from(_REPLACEMENTS))
    documents: dict[str, list[Any]] = {}
    for unit, docs in layers.items():
        for index, document in enumerate(docs):
            documents.setdefault(document_path(unit, document, index), []).append(document)
    for problem in validate_tenant(layers, case["org"], case["org_kinds"]):
        assert problem.message
        if problem.document in documents:
            assert any(_resolves(d, problem.pointer) for d in documents[problem.document]), problem
