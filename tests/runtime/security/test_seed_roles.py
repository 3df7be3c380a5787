"""The seed configuration's roles, sharing, restriction and field rules, as its demo users see them.

The demo tenant is installed from seed_configs/multi_org_crm exactly as
``crm-platform init --demo`` does (fewer customers). What each demo user should
see is worked out here from the data itself (owning units, owners, product
lines, channels) read by the system principal, not from the policy under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crm_platform.metadata.org_tree import units_by_key
from crm_platform.runtime import users as users_module
from crm_platform.runtime.demo_data import install_demo
from crm_platform.runtime.demo_values import DEMO_EMAIL_DOMAIN
from crm_platform.runtime.errors import AccessDenied, RecordNotFound
from crm_platform.runtime.principal import Principal
from crm_platform.services import Platform, build_platform
from tests.runtime.security.world import DATABASES, open_engine

SERVICE_LINES = {"maintenance_services", "equipment_leasing"}
TRADING_LINES = {"industrial_trading"}
EQUIPMENT_LINES = {"heavy_equipment", "precision_equipment"}


class Demo:
    """The installed demo tenant, its units and a principal per demo user."""

    def __init__(self, platform: Platform, tenant_key: str):
        self.platform = platform
        self.records = platform.records
        with platform.engine.connect() as connection:
            from crm_platform.runtime.tenants import get_tenant

            self.tenant = get_tenant(connection, tenant_key)
            self.units = units_by_key(connection, self.tenant.id)
        self.by_id = {unit.id: unit for unit in self.units.values()}
        self.system = Principal.system(self.tenant.id, "seed role tests")
        self._all: dict[str, list[dict[str, Any]]] = {}

    def principal(self, local: str) -> Principal:
        with self.platform.engine.connect() as connection:
            user = users_module.find_user_by_email(
                connection, self.tenant.id, f"{local}@{DEMO_EMAIL_DOMAIN}"
            )
            assert user is not None
            return users_module.principal_for(connection, user.id, locale="en")

    def all(self, entity: str) -> list[dict[str, Any]]:
        """Every record of an entity, as the system sees it."""
        if entity not in self._all:
            self._all[entity] = list(self.records.export(self.system, entity))
        return self._all[entity]

    def below(self, unit_key: str) -> set[int]:
        """The ids of a unit and every unit under it, by walking parent keys."""
        found = set()
        for unit in self.units.values():
            current: str | None = unit.key
            while current is not None:
                if current == unit_key:
                    found.add(unit.id)
                    break
                current = self.units[current].parent_key
        return found

    def seen(self, principal: Principal, entity: str) -> dict[int, dict[str, Any]]:
        """What the principal lists of an entity (every page)."""
        rows: dict[int, dict[str, Any]] = {}
        cursor = None
        while True:
            page = self.records.list(principal, entity, page_size=200, cursor=cursor)
            rows.update({row["id"]: row for row in page.rows})
            if page.next_cursor is None:
                return rows
            cursor = page.next_cursor


@pytest.fixture(scope="module", params=DATABASES)
def demo(request, tmp_path_factory) -> Iterator[Demo]:
    saved = users_module.PASSWORD_HASH_METHOD
    users_module.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    try:
        for engine in open_engine(request, tmp_path_factory, "seed_roles"):
            platform = build_platform(engine)
            install_demo(engine, platform.records, "huachen", customers=60, seed=7)
            yield Demo(platform, "huachen")
    finally:
        users_module.PASSWORD_HASH_METHOD = saved


def _ids_owned_in(demo: Demo, entity: str, units: set[int]) -> set[int]:
    return {r["id"] for r in demo.all(entity) if r["owning_unit_id"] in units}


def test_group_admin_sees_and_changes_everything(demo):
    admin = demo.principal("admin")
    for entity in ("customer", "opportunity", "contract", "price_list", "product"):
        assert set(demo.seen(admin, entity)) == {r["id"] for r in demo.all(entity)}
    customer = demo.all("customer")[0]
    changed = demo.records.update(
        admin, "customer", customer["id"], {"name": customer["name"] + "（集团）"}, 1
    )
    assert changed["version"] == 2
    demo._all.pop("customer")


def test_group_finance_reads_every_contract_amount_but_cannot_change_customers(demo):
    finance = demo.principal("finance")
    contracts = demo.seen(finance, "contract")
    assert set(contracts) == {r["id"] for r in demo.all("contract")}
    assert all("amount" in row and row["amount"] is not None for row in contracts.values())
    customer = demo.all("customer")[-1]
    with pytest.raises(AccessDenied):
        demo.records.update(finance, "customer", customer["id"], {"name": "x"}, customer["version"])
    assert demo.seen(finance, "lead") == {}


def test_division_analyst_reads_and_exports_only_their_division(demo):
    analyst = demo.principal("analyst.equipment")
    division = demo.below("bu_equipment")
    expected = _ids_owned_in(demo, "customer", division)
    assert expected and set(demo.seen(analyst, "customer")) == expected
    exported = {row["id"] for row in demo.records.export(analyst, "customer")}
    assert exported == expected
    outside = next(r for r in demo.all("customer") if r["owning_unit_id"] not in division)
    with pytest.raises(RecordNotFound):
        demo.records.get(analyst, "customer", outside["id"])


def test_bu_head_sees_their_division_and_only_the_products_it_sells(demo):
    head = demo.principal("head.equipment")
    division = demo.below("bu_equipment")
    assert set(demo.seen(head, "opportunity")) == _ids_owned_in(demo, "opportunity", division)
    products = demo.seen(head, "product")
    expected = {
        r["id"]
        for r in demo.all("product")
        if r.get("product_line") not in SERVICE_LINES | TRADING_LINES
    }
    assert set(products) == expected
    assert {r["product_line"] for r in products.values()} <= EQUIPMENT_LINES | {None}
    trading = next(r for r in demo.all("product") if r.get("product_line") in TRADING_LINES)
    with pytest.raises(RecordNotFound):
        demo.records.get(head, "product", trading["id"])


def test_retail_manager_never_sees_the_wholesale_price_list(demo):
    retail = demo.principal("manager.retail")
    wholesale_manager = demo.principal("manager.wholesale")
    all_prices = demo.all("price_list")
    wholesale = {r["id"] for r in all_prices if r.get("channel") == "wholesale"}
    assert wholesale
    assert set(demo.seen(retail, "price_list")) == {r["id"] for r in all_prices} - wholesale
    assert wholesale <= set(demo.seen(wholesale_manager, "price_list"))
    subsidiary = demo.below("sub_trading_retail")
    assert set(demo.seen(retail, "customer")) == _ids_owned_in(demo, "customer", subsidiary)


def test_branch_sales_rep_works_their_own_deals_sees_their_line_and_no_contract_amounts(demo):
    local = "rep1.east.heavy"
    rep = demo.principal(local)
    branch = demo.units["br_heavy_east"].id
    assert set(demo.seen(rep, "customer")) == _ids_owned_in(demo, "customer", {branch})
    contracts = demo.seen(rep, "contract")
    mine = {r["id"] for r in demo.all("contract") if r["owner_user_id"] == rep.user_id}
    assert set(contracts) == mine
    assert all("amount" not in row for row in contracts.values())
    opportunities = demo.seen(rep, "opportunity")
    own = {r["id"] for r in demo.all("opportunity") if r["owner_user_id"] == rep.user_id}
    # the division's lines are shared with every unit of the division (sharing rules)
    lines = {r["id"] for r in demo.all("opportunity") if r["product_line"] in EQUIPMENT_LINES}
    assert own and set(opportunities) == own | lines
    someone_elses = next(
        r
        for r in demo.all("opportunity")
        if r["product_line"] == "heavy_equipment" and r["owner_user_id"] != rep.user_id
    )
    with pytest.raises(AccessDenied):
        demo.records.update(rep, "opportunity", someone_elses["id"], {"name": "x"}, 1)
    mine_one = demo.records.get(rep, "opportunity", sorted(own)[0])
    renamed = demo.records.update(
        rep, "opportunity", mine_one["id"], {"name": "跟进中"}, mine_one["version"]
    )
    assert renamed["name"] == "跟进中"


def test_service_agent_sees_masked_contacts_and_no_prices(demo):
    agent = demo.principal("agent.east.service")
    branch = demo.units["br_service_east"].id
    contacts = demo.seen(agent, "contact")
    assert contacts and set(contacts) == _ids_owned_in(demo, "contact", {branch})
    originals = {r["id"]: r for r in demo.all("contact")}
    for record_id, row in contacts.items():
        mobile, email = originals[record_id]["mobile"], originals[record_id]["email"]
        if mobile:
            assert row["mobile"] != mobile and "****" in row["mobile"]
            assert row["mobile"][-4:] == mobile[-4:]
        if email:
            assert row["email"].endswith(email.partition("@")[2]) and "***" in row["email"]
    prices = demo.seen(agent, "price_list")
    assert prices and all("price" not in row for row in prices.values())
    with pytest.raises(RecordNotFound):
        outside = next(r for r in demo.all("contact") if r["owning_unit_id"] != branch)
        demo.records.get(agent, "contact", outside["id"])


def test_only_an_administrator_may_explain_a_users_access(demo):
    from crm_platform.runtime.explain import explain_record

    admin = demo.principal("admin")
    rep = demo.principal("rep1.east.heavy")
    customer = next(iter(demo.seen(rep, "customer")))
    explained = explain_record(demo.records, admin, "customer", customer, rep.user_id)
    assert explained.fields.user_id == rep.user_id
    assert explained.access.granted("read")
    with pytest.raises(AccessDenied):
        explain_record(demo.records, rep, "customer", customer)
    with pytest.raises(AccessDenied):
        explain_record(demo.records, rep, "customer", customer, admin.user_id)
    with pytest.raises(RecordNotFound) as missing:
        explain_record(demo.records, admin, "customer", customer, 999_999)
    assert missing.value.entity == "user"
