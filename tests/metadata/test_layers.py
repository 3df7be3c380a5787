"""Layer merging: what each unit sees, replacement, locks, defaults, the physical configuration."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from crm_platform.metadata.layers import (
    LayerDocuments,
    OrgCycle,
    chain_for,
    effective_configuration,
    lock_problems,
    physical_configuration,
    physical_problems,
    unit_path,
)
from crm_platform.metadata.model import DEFAULT_UNIT_KINDS

BASELINE = Path(__file__).resolve().parent / "corpus" / "valid_baseline.json"


@pytest.fixture
def tenant() -> dict[str, Any]:
    """The corpus's valid tenant: layers by unit (None: HQ) and org parents."""
    case = json.loads(BASELINE.read_text(encoding="utf-8"))
    layers = {None if unit == "hq" else unit: docs for unit, docs in case["layers"].items()}
    return {"layers": layers, "org": case["org"]}


def _config(tenant: dict[str, Any], unit: str | None):
    return effective_configuration(chain_for(unit, tenant["layers"], tenant["org"]))


def _doc(tenant: dict[str, Any], unit: str | None, kind: str, key: str) -> dict[str, Any]:
    return next(d for d in tenant["layers"][unit] if d["kind"] == kind and d["key"] == key)


def _label(text: str) -> dict[str, str]:
    return {"en": text}


def test_extension_fields_are_visible_at_and_below_their_unit_only(tenant) -> None:
    hq = _config(tenant, None).entity("customer")
    bu = _config(tenant, "equipment_bu").entity("customer")
    branch = _config(tenant, "east_branch").entity("customer")
    sibling = _config(tenant, "trading_bu").entity("customer")
    assert not hq.has_field("installed_base")
    assert bu.field("installed_base").layer == "equipment_bu"
    assert branch.field("installed_base").type == "integer"
    assert not sibling.has_field("installed_base")
    assert bu.field_keys[: len(hq.field_keys)] == hq.field_keys


def test_field_overrides_apply_below_the_unit_and_leave_hq_unchanged(tenant) -> None:
    hq = _config(tenant, None).entity("customer")
    bu = _config(tenant, "equipment_bu").entity("customer")
    assert hq.field("notes").label["en"] == "Notes" and not hq.field("notes").required
    assert bu.field("notes").label["en"] == "Equipment notes" and bu.field("notes").required
    assert bu.field("notes").layer is None  # still an HQ field, only relabelled
    assert hq.field("level").option_keys == ("a", "b", "c")
    assert bu.field("level").option_keys == ("a", "b", "c", "d")


def test_closest_default_form_and_list_view_win(tenant) -> None:
    assert _config(tenant, None).default_form("customer").key == "customer_main"
    assert _config(tenant, "equipment_bu").default_form("customer").key == "customer_equipment"
    assert _config(tenant, "east_branch").default_form("customer").key == "customer_equipment"
    assert _config(tenant, "trading_bu").default_form("customer").key == "customer_main"
    branch_form = copy.deepcopy(_doc(tenant, None, "form", "customer_main"))
    branch_form.update(key="customer_east", default=True)
    tenant["layers"]["east_branch"] = [branch_form]
    assert _config(tenant, "east_branch").default_form("customer").key == "customer_east"
    assert _config(tenant, "equipment_bu").default_list_view("customer").key == "customer_all"


def test_default_form_falls_back_to_the_first_form_then_none(tenant) -> None:
    _doc(tenant, None, "form", "contact_main")["default"] = False
    config = _config(tenant, None)
    assert config.default_form("contact").key == "contact_main"
    assert config.default_form("product") is None
    assert config.default_list_view("contact") is None


def test_lower_layer_replaces_an_unlocked_document_by_key(tenant) -> None:
    view = copy.deepcopy(_doc(tenant, None, "list_view", "customer_all"))
    view["columns"] = ["name", "installed_base"]
    tenant["layers"]["equipment_bu"].append(view)
    assert _config(tenant, "equipment_bu").list_views["customer_all"].columns == (
        "name",
        "installed_base",
    )
    assert _config(tenant, "equipment_bu").list_views["customer_all"].layer == "equipment_bu"
    assert "installed_base" not in _config(tenant, None).list_views["customer_all"].columns
    assert lock_problems(chain_for("equipment_bu", tenant["layers"], tenant["org"])) == []


def test_locked_document_is_kept_and_the_replacement_reported(tenant) -> None:
    form = copy.deepcopy(_doc(tenant, None, "form", "customer_compact"))
    form["label"] = _label("Ours")
    tenant["layers"]["equipment_bu"].append(form)
    chain = chain_for("equipment_bu", tenant["layers"], tenant["org"])
    assert effective_configuration(chain).forms["customer_compact"].label["en"] != "Ours"
    (problem,) = lock_problems(chain)
    assert (problem.document, problem.pointer, problem.code) == (
        "layers/equipment_bu/form/customer_compact.json",
        "",
        "layer.locked",
    )
    assert "locked by the HQ layer" in problem.message


def test_override_of_a_locked_field_is_refused_with_a_message_naming_the_lock(tenant) -> None:
    extension = _doc(tenant, "equipment_bu", "entity_extension", "customer_equipment")
    extension["field_overrides"]["credit_limit"] = {"label": _label("Limit")}
    chain = chain_for("equipment_bu", tenant["layers"], tenant["org"])
    assert effective_configuration(chain).entity("customer").field("credit_limit").label == {
        "en": "Credit limit"
    }
    (problem,) = lock_problems(chain)
    assert problem.pointer == "/field_overrides/credit_limit"
    assert problem.message.startswith(
        "field 'credit_limit' of entity 'customer' is locked by the HQ layer; remove this override"
    )


def test_locked_entity_takes_new_fields_but_no_overrides(tenant) -> None:
    tenant["layers"]["equipment_bu"].append(
        {
            "kind": "entity_extension",
            "key": "product_equipment",
            "entity": "product",
            "fields": [{"key": "spare_part", "label": _label("Spare part"), "type": "boolean"}],
            "field_overrides": {"price": {"required": True}},
        }
    )
    chain = chain_for("equipment_bu", tenant["layers"], tenant["org"])
    product = effective_configuration(chain).entity("product")
    assert product.field("spare_part").layer == "equipment_bu"
    assert not product.field("price").required
    assert [p.code for p in lock_problems(chain)] == ["layer.locked"]


def test_locked_option_cannot_be_relabelled_but_unlocked_one_can(tenant) -> None:
    extension = _doc(tenant, "equipment_bu", "entity_extension", "customer_equipment")
    extension["field_overrides"]["level"]["add_options"] += [
        {"key": "a", "label": _label("Renamed")},
        {"key": "b", "label": _label("Regular")},
    ]
    chain = chain_for("equipment_bu", tenant["layers"], tenant["org"])
    level = effective_configuration(chain).entity("customer").field("level")
    assert level.option("a").label["en"] == "Key account"
    assert level.option("b").label["en"] == "Regular"
    assert [(p.pointer, p.code) for p in lock_problems(chain)] == [
        ("/field_overrides/level/add_options/1", "layer.locked")
    ]


def test_entity_cannot_be_redefined_below(tenant) -> None:
    contact = copy.deepcopy(_doc(tenant, None, "entity", "contact"))
    contact["label"] = _label("Person")
    tenant["layers"]["equipment_bu"].append(contact)
    chain = chain_for("equipment_bu", tenant["layers"], tenant["org"])
    assert effective_configuration(chain).entity("contact").label["en"] == "Contact"
    assert [p.code for p in lock_problems(chain)] == ["layer.entity_redefined"]


def test_unit_layer_may_define_its_own_entity(tenant) -> None:
    machine = {
        "kind": "entity",
        "key": "machine",
        "label": _label("Machine"),
        "plural_label": _label("Machines"),
        "ownership": "unit_owned",
        "title_field": "serial",
        "fields": [{"key": "serial", "label": _label("Serial"), "type": "text"}],
    }
    tenant["layers"]["equipment_bu"].append(machine)
    assert _config(tenant, "equipment_bu").entity("machine").layer == "equipment_bu"
    assert not _config(tenant, None).has_entity("machine")
    assert physical_configuration(
        [LayerDocuments(u, tuple(d)) for u, d in tenant["layers"].items()]
    ).has_entity("machine")


def test_physical_configuration_has_every_layers_fields_and_no_overrides(tenant) -> None:
    tenant["layers"]["trading_bu"] = [
        {
            "kind": "entity_extension",
            "key": "customer_trading",
            "entity": "customer",
            "fields": [{"key": "wholesale", "label": _label("Wholesale"), "type": "boolean"}],
        }
    ]
    layers = [LayerDocuments(u, tuple(d)) for u, d in tenant["layers"].items()]
    customer = physical_configuration(layers).entity("customer")
    assert {"installed_base", "service_tier", "wholesale"} <= set(customer.field_keys)
    assert customer.field("wholesale").layer == "trading_bu"
    assert customer.field("notes").label["en"] == "Notes"
    assert customer.field("level").option_keys == ("a", "b", "c")
    assert physical_problems(layers) == []


def test_sibling_layers_adding_one_field_key_clash(tenant) -> None:
    tenant["layers"]["trading_bu"] = [
        {
            "kind": "entity_extension",
            "key": "customer_trading",
            "entity": "customer",
            "fields": [{"key": "installed_base", "label": _label("Base"), "type": "text"}],
        }
    ]
    layers = [LayerDocuments(u, tuple(d)) for u, d in tenant["layers"].items()]
    (problem,) = physical_problems(layers)
    assert problem.code == "layer.field_key_clash"
    assert problem.document == "layers/trading_bu/entity_extension/customer_trading.json"
    assert "the layer of unit 'equipment_bu'" in problem.message
    assert physical_configuration(layers).entity("customer").field("installed_base").type == (
        "integer"
    )


def test_documents_hold_the_merged_entity_for_diffing(tenant) -> None:
    documents = _config(tenant, "equipment_bu").documents
    customer = documents[("entity", "customer")]
    assert "installed_base" in [f["key"] for f in customer["fields"]]
    assert ("entity_extension", "customer_equipment") in documents
    assert ("form", "customer_equipment") in documents
    hq_customer = _config(tenant, None).documents[("entity", "customer")]
    assert "installed_base" not in [f["key"] for f in hq_customer["fields"]]


def test_merging_does_not_mutate_the_input_documents(tenant) -> None:
    before = copy.deepcopy(tenant["layers"])
    _config(tenant, "east_branch")
    physical_configuration([LayerDocuments(u, tuple(d)) for u, d in tenant["layers"].items()])
    assert tenant["layers"] == before


def test_unit_kinds_default_when_no_document_defines_them(tenant) -> None:
    assert list(_config(tenant, None).unit_kinds) == ["group", "business_unit", "branch"]
    tenant["layers"][None] = [d for d in tenant["layers"][None] if d["kind"] != "unit_kinds"]
    assert _config(tenant, None).unit_kinds is DEFAULT_UNIT_KINDS


def test_chain_follows_the_org_path_and_skips_units_without_layers(tenant) -> None:
    chain = chain_for("east_branch", tenant["layers"], tenant["org"])
    assert [layer.unit_key for layer in chain] == [None, "equipment_bu"]
    assert unit_path("east_branch", tenant["org"]) == ["group", "equipment_bu", "east_branch"]
    assert [layer.unit_key for layer in chain_for(None, tenant["layers"], tenant["org"])] == [None]


def test_unit_path_refuses_a_cycle() -> None:
    with pytest.raises(OrgCycle, match="cycle"):
        unit_path("a", {"a": "b", "b": "a"})
