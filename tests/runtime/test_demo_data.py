"""The demo tenant: seed configuration, demo users, and valid related records in every entity."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from crm_platform.db import create_platform_tables, make_engine
from crm_platform.metadata.bundles import BundleInvalid
from crm_platform.metadata.org_tree import units_by_key
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime import regions, users
from crm_platform.runtime.demo_data import DemoTenant, install_demo
from crm_platform.runtime.demo_records import SUBSIDIARY_LINES
from crm_platform.runtime.demo_values import DEMO_PASSWORD, DEMO_USERS, SEED_BUNDLE
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.users import authenticate, find_user_by_email, principal_for
from crm_platform.runtime.values import uscc_check_character
from crm_platform.services import Platform, build_platform
from tests.runtime.records_world import DATABASES

CUSTOMERS = 36
TODAY = date(2026, 6, 30)
E164_MAINLAND_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")


@dataclass(frozen=True)
class Demo:
    """A database with the demo tenant installed once, shared by the tests of this module."""

    engine: Engine
    platform: Platform
    result: DemoTenant
    tenant_id: int

    def system(self) -> Principal:
        return Principal.system(self.tenant_id, reason="demo test")

    def rows(self, entity: str, principal: Principal | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.platform.records.list(
                principal or self.system(), entity, page_size=500, cursor=cursor
            )
            rows += page.rows
            if page.next_cursor is None:
                return sorted(rows, key=lambda row: row["id"])
            cursor = page.next_cursor


@pytest.fixture(scope="module", params=DATABASES)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
    else:
        from tests.conftest import _reset_postgres

        url = request.getfixturevalue("postgres_server_url")
        _reset_postgres(url)
    engine = make_engine(url)
    create_platform_tables(engine)
    with pytest.MonkeyPatch.context() as patch:
        # 43 users at scrypt's cost would dominate the test; the default is kept in production.
        patch.setattr(users, "PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000")
        platform = build_platform(engine)
        result = install_demo(engine, platform.records, customers=CUSTOMERS, today=TODAY)
        with engine.connect() as connection:
            tenant_id = connection.execute(
                select(Tenant.id).where(Tenant.key == "huachen")
            ).scalar_one()
        yield Demo(engine, platform, result, tenant_id)
    engine.dispose()


def _entities() -> list[str]:
    return sorted(path.stem for path in (SEED_BUNDLE / "layers" / "hq" / "entity").glob("*.json"))


def test_install_creates_the_tenant_with_records_of_every_entity(demo: Demo) -> None:
    assert demo.result.created
    assert set(demo.result.counts) == set(_entities())
    for entity in _entities():
        counted = demo.platform.records.count(demo.system(), entity, cap=None).value
        assert counted == demo.result.counts[entity] > 0, entity
    assert demo.result.counts["customer"] == CUSTOMERS


def test_every_demo_user_exists_with_their_role_and_signs_in(demo: Demo) -> None:
    assert [item.email for item in demo.result.sign_ins] == [u.email for u in DEMO_USERS]
    with demo.engine.connect() as connection:
        for user in DEMO_USERS:
            found = authenticate(connection, demo.tenant_id, user.email, DEMO_PASSWORD)
            assert found is not None, user.email
            grants = principal_for(connection, found.id).assignments
            assert [grant.role for grant in grants] == [user.role]


def test_install_again_keeps_the_tenant_and_its_records(demo: Demo) -> None:
    again = install_demo(demo.engine, demo.platform.records, customers=5, today=TODAY)
    assert not again.created
    assert again.counts == {}
    assert again.sign_ins == demo.result.sign_ins
    for entity in _entities():
        counted = demo.platform.records.count(demo.system(), entity, cap=None).value
        assert counted == demo.result.counts[entity], entity


def test_customers_carry_valid_uscc_codes_and_known_regions(demo: Demo) -> None:
    customers = demo.rows("customer")
    codes = [row["uscc"] for row in customers]
    assert len(set(codes)) == len(codes)
    for row in customers:
        assert uscc_check_character(row["uscc"][:17]) == row["uscc"][17]
        assert regions.is_known(row["region"])
        assert re.search("[\u4e00-\u9fff]{4,}公司$", row["name"]), row["name"]


def test_contacts_have_mainland_mobiles_and_one_primary_per_customer(demo: Demo) -> None:
    contacts = demo.rows("contact")
    for row in contacts:
        assert E164_MAINLAND_MOBILE.match(row["mobile"]), row["mobile"]
    primaries: dict[int, int] = {}
    for row in contacts:
        primaries[row["customer"]] = primaries.get(row["customer"], 0) + int(row["is_primary"])
    assert set(primaries.values()) == {1}
    assert len(primaries) == CUSTOMERS


def test_records_are_owned_by_the_branch_reps_of_their_unit(demo: Demo) -> None:
    with demo.engine.connect() as connection:
        reps = {
            u.email: find_user_by_email(connection, demo.tenant_id, u.email)
            for u in DEMO_USERS
            if u.role == "branch_sales_rep"
        }
    unit_of = {user.id: user.primary_unit_id for user in reps.values() if user is not None}
    for entity in ("customer", "contact", "opportunity", "order", "contract", "lead"):
        for row in demo.rows(entity):
            assert unit_of[row["owner_user_id"]] == row["owning_unit_id"], (entity, row["id"])


def test_a_rep_sees_their_branch_customers_and_not_the_sibling_branch(demo: Demo) -> None:
    everyone = demo.rows("customer")
    with demo.engine.connect() as connection:
        east = find_user_by_email(connection, demo.tenant_id, "rep1.east.heavy@huachen.example")
        south = find_user_by_email(connection, demo.tenant_id, "rep1.south.heavy@huachen.example")
        assert east is not None and south is not None
        rep = principal_for(connection, east.id)
    seen = {row["id"] for row in demo.rows("customer", rep)}
    branch = {row["id"] for row in everyone if row["owning_unit_id"] == east.primary_unit_id}
    sibling = {row["id"] for row in everyone if row["owning_unit_id"] == south.primary_unit_id}
    assert branch and sibling
    assert branch <= seen
    assert not seen & sibling


def test_deals_are_in_the_product_lines_of_the_owning_subsidiary(demo: Demo) -> None:
    with demo.engine.connect() as connection:
        units = units_by_key(connection, demo.tenant_id)
    lines_of_unit = {
        unit.id: SUBSIDIARY_LINES[unit.parent_key or ""]
        for unit in units.values()
        if unit.kind == "branch"
    }
    for entity in ("opportunity", "order", "lead"):
        for row in demo.rows(entity):
            assert row["product_line"] in lines_of_unit[row["owning_unit_id"]], (entity, row)
    opportunities = {row["id"]: row for row in demo.rows("opportunity")}
    signed = {"signed", "completed", "terminated"}
    for contract in demo.rows("contract"):
        deal = opportunities[contract["opportunity"]]
        assert deal["stage"] == ("won" if contract["status"] in signed else "negotiation")
        assert contract["customer"] == deal["customer"]


def test_payments_never_exceed_their_contract_and_are_not_in_the_future(demo: Demo) -> None:
    contracts = {row["id"]: row for row in demo.rows("contract")}
    collected: dict[int, Any] = {}
    for row in demo.rows("payment_collection"):
        assert row["received_date"] <= TODAY
        collected[row["contract"]] = collected.get(row["contract"], 0) + _amount(row["amount"])
    for contract_id, total in collected.items():
        assert total <= _amount(contracts[contract_id]["amount"])


def test_the_same_seed_gives_the_same_customers_in_another_tenant(demo: Demo) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users, "PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000")
        other = install_demo(
            demo.engine, demo.platform.records, "huachen_copy", customers=CUSTOMERS, today=TODAY
        )
    assert other.counts == demo.result.counts
    with demo.engine.connect() as connection:
        copy_id = connection.execute(
            select(Tenant.id).where(Tenant.key == "huachen_copy")
        ).scalar_one()
    copy = Principal.system(copy_id, reason="demo test")
    mine = [(r["name"], r["uscc"]) for r in demo.rows("customer")]
    theirs = [(r["name"], r["uscc"]) for r in demo.rows("customer", copy)]
    assert mine == theirs


def test_a_failed_install_leaves_no_half_built_tenant(demo: Demo, tmp_path: Path) -> None:
    broken = tmp_path / "bundle"
    shutil.copytree(SEED_BUNDLE, broken)
    entity = broken / "layers" / "hq" / "entity" / "customer.json"
    document = json.loads(entity.read_text(encoding="utf-8"))
    document["title_field"] = "no_such_field"
    entity.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(BundleInvalid):
        install_demo(demo.engine, demo.platform.records, "broken", customers=1, bundle=broken)
    with demo.engine.connect() as connection:
        assert connection.execute(select(Tenant.id).where(Tenant.key == "broken")).first() is None


def _amount(value: Any) -> Any:
    return value["amount"] if isinstance(value, dict) else value


def test_demo_records_were_made_and_changed_over_the_past_two_years(demo: Demo) -> None:
    customers = demo.rows("customer")
    created = [c["created_at"] for c in customers]
    assert all(c["created_at"] <= c["updated_at"] for c in customers)
    assert max(created) - min(created) > timedelta(days=365)
    assert len({c["updated_at"] for c in customers}) == len(customers)
