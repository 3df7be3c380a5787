"""The seed CRM (seed_configs/multi_org_crm) behind the app, with one user per role the tests need.

The app is built by the composition root, so the seed's `RolePolicy` decides
what each user may do: the pages' refusals and the access explainer are tested
against the real roles, not a test policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from blueprints.app import create_app
from crm_platform.metadata.bundles import import_bundle
from crm_platform.runtime import users
from crm_platform.runtime.org import get_unit_by_key
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.tenants import create_tenant
from crm_platform.runtime.users import principal_for
from tests.web.conftest import add_user, post, sign_in

SEED = Path(__file__).resolve().parents[2] / "seed_configs" / "multi_org_crm"
PEOPLE = {
    # name: (email, display name, unit key, role)
    "admin": ("admin@demo.cn", "Group Admin", "group_hq", "group_admin"),
    "rep": ("rep@demo.cn", "East Rep", "br_heavy_east", "branch_sales_rep"),
    "colleague": ("colleague@demo.cn", "East Colleague", "br_heavy_east", "branch_sales_rep"),
    "sibling": ("rep.south@demo.cn", "South Rep", "br_heavy_south", "branch_sales_rep"),
    "agent": ("agent@demo.cn", "Service Agent", "br_heavy_east", "service_agent"),
    "analyst": ("analyst@demo.cn", "Group Analyst", "group_hq", "analyst"),
}


@dataclass(frozen=True)
class SeedWorld:
    """The app on the seed, its people's user ids, and records owned by the rep and a colleague."""

    app: Flask
    user_ids: dict[str, int]
    rep_customer: int
    colleague_customer: int
    rep_contact: int

    @property
    def records(self) -> RecordService:
        """The app's record service."""
        service: RecordService = self.app.extensions["crm_platform"].records
        return service

    def principal(self, person: str) -> Principal:
        """The principal of `person` at their primary unit, as the core sees them."""
        with self.records.engine.connect() as connection:
            return principal_for(connection, self.user_ids[person])

    def client(self, person: str, language: str = "en") -> FlaskClient:
        """A test client signed in as `person` (a key of `PEOPLE`), having chosen `language`."""
        client = self.app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        response = sign_in(client, PEOPLE[person][0], tenant="demo")
        assert response.status_code == 302, f"{person} could not sign in"
        if language != "en":
            post(client, "/language", {"language": language, "next": "/"})
        return client


@pytest.fixture
def seed(web_engine: Engine, database_url: str) -> SeedWorld:
    """The seed imported into tenant ``demo`` with `PEOPLE`, two customers and a contact."""
    app = create_app({"SECRET_KEY": "s", "DATABASE_URL": database_url, "ENGINE": web_engine})
    services = app.extensions["crm_platform"]
    tenant = create_tenant(web_engine, "demo", {"en": "Demo Group", "zh-Hans": "演示集团"})
    import_bundle(web_engine, "demo", SEED, author="test", hooks=services.store.hooks)
    ids: dict[str, int] = {}
    with web_engine.begin() as connection:
        for person, (email, name, unit_key, role) in PEOPLE.items():
            unit = get_unit_by_key(connection, tenant.id, unit_key)
            ids[person] = add_user(connection, tenant.id, email, name, unit.id)
            users.assign_role(connection, ids[person], role, unit.id)
        rep = principal_for(connection, ids["rep"])
        colleague = principal_for(connection, ids["colleague"])
    customer = {"customer_type": "enterprise", "region": "330106"}
    mine = services.records.create(rep, "customer", {"name": "代表的客户", **customer})
    theirs = services.records.create(colleague, "customer", {"name": "同事的客户", **customer})
    contact = services.records.create(
        rep, "contact", {"name": "王伟", "customer": mine["id"], "mobile": "13812345678"}
    )
    return SeedWorld(app, ids, mine["id"], theirs["id"], contact["id"])
