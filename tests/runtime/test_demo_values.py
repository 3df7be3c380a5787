"""Demo values are valid, reproducible, and the demo users fit the seed bundle."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from crm_platform.runtime import regions
from crm_platform.runtime.demo_values import (
    DEMO_PASSWORD,
    DEMO_USERS,
    SEED_BUNDLE,
    DemoValues,
    seed_choice_keys,
)
from crm_platform.runtime.phones import normalize_cn_phone
from crm_platform.runtime.uscc import is_valid_uscc
from crm_platform.runtime.values import uscc_check_character

USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
E164_MAINLAND_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")
SAMPLES = 200


def _roles() -> set[str]:
    return {path.stem for path in (SEED_BUNDLE / "layers" / "hq" / "role").glob("*.json")}


def _units() -> dict[str, dict[str, object]]:
    document = json.loads((SEED_BUNDLE / "org_units.json").read_text(encoding="utf-8"))
    return {unit["key"]: unit for unit in document["units"]}


def test_generated_uscc_codes_carry_valid_check_characters() -> None:
    values = DemoValues(seed=7)
    codes = [values.uscc() for _ in range(SAMPLES)]
    for code in codes:
        assert USCC.match(code), code
        assert uscc_check_character(code[:17]) == code[17]
        assert is_valid_uscc(code)
        assert regions.is_known(code[2:8])
    assert len(set(codes)) == len(codes)


def test_uscc_embeds_the_given_region() -> None:
    assert DemoValues(seed=1).uscc("440106")[2:8] == "440106"


def test_mobiles_are_mainland_numbers_in_e164() -> None:
    values = DemoValues(seed=7)
    for _ in range(SAMPLES):
        number = values.mobile()
        assert E164_MAINLAND_MOBILE.match(number)
        assert normalize_cn_phone(number) == number


def test_landlines_normalise_as_mainland_numbers() -> None:
    values = DemoValues(seed=8)
    for _ in range(50):
        landline = values.landline()
        assert normalize_cn_phone(landline) == "+86" + landline.lstrip("0").replace("-", "")


def test_same_seed_gives_the_same_values() -> None:
    def draw(seed: int) -> list[object]:
        values = DemoValues(seed=seed)
        return [
            values.company_name(industry="manufacturing"),
            values.person_name(),
            values.uscc(),
            values.mobile(),
            values.region_code(),
            values.choice("customer", "industry"),
            values.choices("customer", "product_lines"),
            values.amount(10_000, 5_000_000),
            values.day(date(2025, 1, 1), date(2026, 12, 31)),
            values.email(),
            values.address(),
        ]

    assert draw(42) == draw(42)
    assert draw(42) != draw(43)


def test_region_codes_are_known_districts_of_sales_provinces() -> None:
    values = DemoValues(seed=3)
    for _ in range(SAMPLES):
        region = regions.region(values.region_code())
        assert region is not None
        assert region.level == regions.DISTRICT


def test_company_names_are_chinese_with_a_legal_form() -> None:
    values = DemoValues(seed=5)
    names = [values.company_name() for _ in range(SAMPLES)]
    assert all(name.endswith("公司") for name in names)
    assert len(set(names)) > SAMPLES * 0.9


def test_choice_values_come_from_the_seed_entities() -> None:
    values = DemoValues(seed=9)
    stages = Counter(values.choice("opportunity", "stage") for _ in range(SAMPLES))
    assert set(stages) <= set(seed_choice_keys("opportunity", "stage"))
    assert len(stages) > 1
    lines = values.choices("customer", "product_lines", 1, 3)
    assert 1 <= len(lines) <= 3
    assert set(lines) <= set(seed_choice_keys("customer", "product_lines"))


def test_unknown_seed_field_is_reported() -> None:
    with pytest.raises(KeyError, match="no field 'nope'"):
        seed_choice_keys("customer", "nope")


def test_amounts_are_rounded_money_within_bounds() -> None:
    values = DemoValues(seed=11)
    for _ in range(SAMPLES):
        amount = values.amount(10_000, 200_000)
        assert Decimal(10_000) <= amount <= Decimal(200_000)
        assert amount % 1000 == 0
        assert amount.as_tuple().exponent == -2


def test_every_demo_user_has_a_seed_role_and_unit() -> None:
    roles, units = _roles(), _units()
    for user in DEMO_USERS:
        assert user.role in roles, user
        assert user.unit in units, user
        assert user.locale in {"en", "zh-Hans", "zh-Hant"}
        assert user.email.endswith("@huachen.example")


def test_demo_users_cover_every_role_and_level() -> None:
    units = _units()
    assert {user.role for user in DEMO_USERS} == _roles()
    assert len({user.email for user in DEMO_USERS}) == len(DEMO_USERS)
    heads = {user.unit for user in DEMO_USERS if user.role == "bu_head"}
    assert heads == {key for key, unit in units.items() if unit["kind"] == "business_unit"}
    managers = {user.unit for user in DEMO_USERS if user.role == "subsidiary_manager"}
    assert managers == {key for key, unit in units.items() if unit["kind"] == "subsidiary"}
    reps = Counter(user.unit for user in DEMO_USERS if user.role == "branch_sales_rep")
    branches = {key for key, unit in units.items() if unit["kind"] == "branch"}
    assert reps == dict.fromkeys(branches, 2)
    assert [user.unit for user in DEMO_USERS if user.role == "group_admin"] == ["group_hq"]


def test_demo_password_is_documented_and_not_empty() -> None:
    assert len(DEMO_PASSWORD) >= 8


def _seed_fields(entity: str) -> dict[str, dict[str, Any]]:
    path = SEED_BUNDLE / "layers" / "hq" / "entity" / f"{entity}.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    return {field["key"]: field for field in document["fields"]}


def _records(values: DemoValues) -> dict[str, dict[str, Any]]:
    today = date(2026, 6, 30)
    customer = values.customer()
    contract = values.contract(1, str(customer["name"]), today)
    return {
        "customer": customer,
        "contact": values.contact(),
        "lead": values.lead(),
        "opportunity": values.opportunity(str(customer["name"]), today),
        "order": values.order(1, today),
        "contract": contract,
        "payment_collection": values.payment(1, contract["amount"], contract["signed_date"]),
        "case": values.case(),
    }


def test_record_builders_fill_only_seed_fields_with_valid_choices() -> None:
    values = DemoValues(seed=13)
    for _ in range(20):
        for entity, record in _records(values).items():
            fields = _seed_fields(entity)
            assert set(record) <= set(fields), entity
            for key, value in record.items():
                options = {option["key"] for option in fields[key].get("options", [])}
                if fields[key]["type"] == "choice":
                    assert value in options, (entity, key, value)
                if fields[key]["type"] == "multi_choice":
                    assert set(value) <= options, (entity, key, value)


def test_customer_record_is_coherent() -> None:
    customer = DemoValues(seed=17).customer()
    assert str(customer["uscc"])[2:8] == customer["region"]
    assert regions.is_known(str(customer["region"]))


def test_record_builders_are_reproducible() -> None:
    assert _records(DemoValues(seed=21)) == _records(DemoValues(seed=21))
