"""The typed model: parsing, lookups, immutability, localized text, the field type registry."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from crm_platform.metadata.conditions import FIELD_TYPES as CONDITION_FIELD_TYPES
from crm_platform.metadata.conditions import OPERATORS
from crm_platform.metadata.field_types import (
    FIELD_TYPES,
    SYSTEM_FIELDS,
    FieldDef,
    is_reserved_field_key,
)
from crm_platform.metadata.layers import LayerDocuments, effective_configuration
from crm_platform.metadata.model import (
    Configuration,
    SortKey,
    UnitTarget,
    UnknownMetadataItem,
    localize,
)
from crm_platform.metadata.schemas import schema_for

BASELINE = Path(__file__).resolve().parent / "corpus" / "valid_baseline.json"


@pytest.fixture(scope="module")
def config() -> Configuration:
    case = json.loads(BASELINE.read_text(encoding="utf-8"))
    return effective_configuration([LayerDocuments(None, tuple(case["layers"]["hq"]))])


TEXT = {"en": "Customer", "zh-Hans": "客户", "zh-Hant": "客戶"}


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        (TEXT, "zh-Hant", "客戶"),
        (TEXT, "zh_TW", "客戶"),
        (TEXT, "zh-HK", "客戶"),
        (TEXT, "zh-Hans", "客户"),
        (TEXT, "zh-CN", "客户"),
        (TEXT, "zh", "客户"),
        (TEXT, "en-GB", "Customer"),
        (TEXT, "fr", "Customer"),
        ({"en": "Customer", "zh-Hans": "客户"}, "zh-Hant", "客户"),
        ({"en": "Customer", "zh-Hant": "客戶"}, "zh-CN", "客戶"),
        ({"en": "Customer"}, "zh-Hant", "Customer"),
        (None, "en", ""),
    ],
)
def test_localize_falls_back_between_scripts_then_to_english(text, locale, expected) -> None:
    assert localize(text, locale) == expected


def test_entity_is_parsed_with_typed_fields(config: Configuration) -> None:
    customer = config.entity("customer")
    assert customer.ownership == "user_owned"
    assert customer.title.key == "name"
    assert customer.search_fields == ("name", "uscc")
    assert customer.dedupe_keys == (("uscc",),)
    level = customer.field("level")
    assert level.option_keys == ("a", "b", "c") and level.option("a").locked
    assert level.default == "b"
    credit = customer.field("credit_limit")
    assert (credit.type, credit.currency, credit.min, credit.locked) == ("money", "CNY", 0, True)
    parent = customer.field("parent_customer")
    assert (parent.target, parent.on_delete) == ("customer", "set_null")
    assert customer.field("phone").sensitive
    assert all(field.layer is None for field in customer.fields)


def test_entity_field_lookup_includes_system_fields_and_names_what_is_missing(config) -> None:
    customer = config.entity("customer")
    assert customer.field("created_at").system
    assert not customer.has_field("created_at", include_system=False)
    assert "created_at" not in customer.field_keys
    with pytest.raises(UnknownMetadataItem, match="no field 'credit' in entity 'customer'"):
        customer.field("credit")
    with pytest.raises(UnknownMetadataItem, match="no entity 'client'"):
        config.entity("client")


def test_form_list_view_and_rules_are_parsed(config: Configuration) -> None:
    form = config.forms["customer_main"]
    assert form.default and form.entity == "customer"
    assert form.field_keys[:3] == ("name", "uscc", "region")
    credit = next(p for p in form.placements if p.field == "credit_limit")
    assert credit.readonly_when == {"field": "level", "op": "eq", "value": "a"}
    view = config.list_views["customer_all"]
    assert view.default_sort == (SortKey("name", "asc"), SortKey("updated_at", "desc"))
    assert view.page_size == 25 and view.default_filter is not None
    assert config.sharing_rules["share_key_accounts"].target == UnitTarget("east_branch", True)
    rule = config.restriction_rules["hide_inactive"]
    assert rule.roles == ("analyst",) and rule.units == (UnitTarget("trading_bu", True),)


def test_role_levels_default_to_none(config: Configuration) -> None:
    rep = config.roles["sales_rep"]
    assert rep.level("customer", "update") == "own"
    assert rep.level("contact", "delete") == "none"
    assert rep.level("opportunity", "read") == "none"


def test_field_security_lookup(config: Configuration) -> None:
    profile = config.field_security_for("sales_rep", "customer")
    assert profile is not None and profile.access("phone") == "masked"
    assert profile.access("name") == "edit"
    assert config.field_security_for("analyst", "customer") is None


def test_entities_in_nav_order_put_unordered_last(config: Configuration) -> None:
    assert [e.key for e in config.entities_in_nav_order()] == ["customer", "contact", "product"]
    assert [f.key for f in config.forms_for("customer")] == ["customer_main", "customer_compact"]


def test_configuration_is_immutable(config: Configuration) -> None:
    with pytest.raises(TypeError):
        config.entities["x"] = config.entity("customer")  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.entity("customer").key = "client"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.roles["sales_rep"].privileges["customer"]["read"] = "tenant"  # type: ignore[index]


def test_field_type_registry_matches_the_schema_enum() -> None:
    schema = schema_for("entity")
    assert set(FIELD_TYPES) == set(schema["$defs"]["field"]["properties"]["type"]["enum"])
    assert all(key == field_type.key for key, field_type in FIELD_TYPES.items())


def test_field_type_flags() -> None:
    assert FIELD_TYPES["money"].ordered and FIELD_TYPES["money"].value_kind == "decimal"
    assert not FIELD_TYPES["long_text"].sortable and FIELD_TYPES["long_text"].textual
    assert not FIELD_TYPES["multi_choice"].can_be_unique
    assert FIELD_TYPES["text"].can_be_title and not FIELD_TYPES["boolean"].can_be_title
    assert FIELD_TYPES["reference"].value_kind == "id"


def test_system_fields_and_reserved_keys() -> None:
    assert list(SYSTEM_FIELDS) == [
        "id",
        "owner_user_id",
        "owning_unit_id",
        "created_by",
        "created_at",
        "updated_by",
        "updated_at",
    ]
    assert SYSTEM_FIELDS["owning_unit_id"].type == "org_unit"
    for key in ("id", "version", "deleted_at", "budget_currency"):
        assert is_reserved_field_key(key)
    assert not is_reserved_field_key("currency")


def test_field_def_from_document_freezes_defaults() -> None:
    field = FieldDef.from_document(
        {
            "key": "tags",
            "label": {"en": "Tags"},
            "type": "multi_choice",
            "default": ["x"],
            "options": [{"key": "x", "label": {"en": "X"}}],
        },
        layer="equipment_bu",
    )
    assert field.default == ("x",) and field.layer == "equipment_bu"
    assert field.field_type.value_kind == "multi_choice"


@pytest.mark.parametrize("type_key", sorted(FIELD_TYPES))
def test_field_type_flags_agree_with_the_condition_operators(type_key: str) -> None:
    field_type = FIELD_TYPES[type_key]
    assert OPERATORS["gt"].accepts(type_key) == field_type.ordered
    assert OPERATORS["starts_with"].accepts(type_key) == field_type.textual
    assert set(CONDITION_FIELD_TYPES) == set(FIELD_TYPES)
