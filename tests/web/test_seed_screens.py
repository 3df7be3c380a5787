"""Every screen renders for the seed CRM (seed_configs/multi_org_crm) under its real roles.

The generated screens contain nothing entity-specific, so the seed's eleven
entities, their forms, list views, conditions and field security must all
render; this walks each entity's list, new form, record page and edit form as a
group admin, in each language, and checks the roles shape what a rep sees.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine

from blueprints.app import create_app
from crm_platform.metadata.bundles import import_bundle
from crm_platform.metadata.model import localize
from crm_platform.runtime import users
from crm_platform.runtime.org import get_unit_by_key
from crm_platform.runtime.tenants import create_tenant, get_tenant
from crm_platform.runtime.users import principal_for
from tests.web.conftest import add_user, post, sign_in

SEED = Path(__file__).resolve().parents[2] / "seed_configs" / "multi_org_crm"

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def seed_app(web_engine: Engine, database_url: str) -> Flask:
    """The seed imported into tenant ``demo``, a group admin and a branch rep, one customer."""
    app = create_app({"SECRET_KEY": "s", "DATABASE_URL": database_url, "ENGINE": web_engine})
    services = app.extensions["crm_platform"]
    tenant = create_tenant(web_engine, "demo", {"en": "Demo Group", "zh-Hans": "演示集团"})
    import_bundle(web_engine, "demo", SEED, author="test", hooks=services.store.hooks)
    with web_engine.begin() as connection:
        hq = get_unit_by_key(connection, tenant.id, "group_hq")
        branch = get_unit_by_key(connection, tenant.id, "br_heavy_east")
        admin = add_user(connection, tenant.id, "admin@demo.cn", "Admin", hq.id)
        rep = add_user(connection, tenant.id, "rep@demo.cn", "Rep", branch.id)
        users.assign_role(connection, admin, "group_admin", hq.id)
        users.assign_role(connection, rep, "branch_sales_rep", branch.id)
        rep_principal = principal_for(connection, rep)
    services.records.create(
        rep_principal,
        "customer",
        {"name": "测试机械有限公司", "region": "330106", "customer_type": "enterprise"},
    )
    return app


@pytest.mark.parametrize("language", ["en", "zh-Hans", "zh-Hant"])
def test_every_seed_entity_renders_for_a_group_admin(seed_app: Flask, language: str) -> None:
    client = seed_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert sign_in(client, "admin@demo.cn", tenant="demo").status_code == 302
    post(client, "/language", {"language": language, "next": "/"})
    configuration = seed_app.extensions["crm_platform"].store.effective("demo", None)
    home = client.get("/").get_data(as_text=True)
    for entity in configuration.entities_in_nav_order():
        assert localize(entity.plural_label, language) in home, entity.key
        listing = client.get(f"/r/{entity.key}/")
        assert listing.status_code == 200, entity.key
        assert client.get(f"/r/{entity.key}/new").status_code == 200, entity.key
    admin = client.get("/admin/").get_data(as_text=True)
    assert "br_heavy_east" in admin and admin.index("group_hq") < admin.index("bu_equipment")
    designer = client.get("/designer/").get_data(as_text=True)
    assert "customer_default" in designer
    api = client.get("/api/").get_json()
    assert {endpoint["name"] for endpoint in api["endpoints"]} == {
        "regions", "region_path", "lookup", "users", "org_units",
    }  # fmt: skip
    customers = client.get("/r/customer/").get_data(as_text=True)
    assert "测试机械有限公司" in customers
    found = re.search(r'href="/r/customer/(\d+)"', customers)
    assert found is not None
    assert client.get(f"/r/customer/{found.group(1)}").status_code == 200
    assert client.get(f"/r/customer/{found.group(1)}/edit").status_code == 200


def test_branch_rep_navigation_follows_the_seed_role(seed_app: Flask) -> None:
    client = seed_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(client, "rep@demo.cn", tenant="demo")
    home = client.get("/").get_data(as_text=True)
    nav = home[home.index('class="sidebar"') :]
    assert "Customers" in nav and "Leads" in nav
    assert "测试机械有限公司" in client.get("/r/customer/").get_data(as_text=True)


def test_record_page_explains_access_on_request(seed_app: Flask) -> None:
    # An administrator's tool (tests/web/test_record_page_explain.py has the rest).
    client = seed_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(client, "admin@demo.cn", tenant="demo")
    customers = client.get("/r/customer/").get_data(as_text=True)
    found = re.search(r'href="/r/customer/(\d+)"', customers)
    assert found is not None
    page = client.get(f"/r/customer/{found.group(1)}").get_data(as_text=True)
    assert 'id="explain-link"' in page and 'data-privilege="read"' not in page
    explained = client.get(f"/r/customer/{found.group(1)}?explain=1").get_data(as_text=True)
    assert 'data-privilege="read"' in explained
    assert "group_admin" in explained and "group_hq" in explained


def test_editing_a_readable_record_without_update_rights_is_403(
    seed_app: Flask, web_engine: Engine
) -> None:
    # The seed's branch rep reads the branch's customers but updates only their own.
    services = seed_app.extensions["crm_platform"]
    with web_engine.begin() as connection:
        tenant_id = get_tenant(connection, "demo").id
        branch = get_unit_by_key(connection, tenant_id, "br_heavy_east")
        colleague = add_user(connection, tenant_id, "colleague@demo.cn", "Colleague", branch.id)
        users.assign_role(connection, colleague, "branch_sales_rep", branch.id)
        colleague_principal = principal_for(connection, colleague)
    record = services.records.create(
        colleague_principal, "customer", {"name": "同事的客户", "region": "330106"}
    )
    client = seed_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(client, "rep@demo.cn", tenant="demo")
    path = f"/r/customer/{record['id']}"
    assert client.get(path).status_code == 200
    response = post(client, path + "/edit", {"_version": "1", "name": "改名"}, path + "/edit")
    assert response.status_code == 403
    assert "You may not do this" in response.get_data(as_text=True)


def _customer_id(client) -> str:
    customers = client.get("/r/customer/").get_data(as_text=True)
    found = re.search(r'href="/r/customer/(\d+)"', customers)
    assert found is not None
    return found.group(1)


def _add_seed_user(web_engine: Engine, email: str, role: str, unit_key: str) -> None:
    with web_engine.begin() as connection:
        tenant_id = get_tenant(connection, "demo").id
        unit = get_unit_by_key(connection, tenant_id, unit_key)
        user = add_user(connection, tenant_id, email, role.title(), unit.id)
        users.assign_role(connection, user, role, unit.id)


def test_owner_rep_sees_edit_and_new_but_no_delete_they_do_not_hold(seed_app: Flask) -> None:
    # The seed's branch rep updates their own customers and deletes none.
    client = seed_app.test_client()
    sign_in(client, "rep@demo.cn", tenant="demo")
    assert 'id="new-record"' in client.get("/r/customer/").get_data(as_text=True)
    page = client.get(f"/r/customer/{_customer_id(client)}").get_data(as_text=True)
    assert 'id="edit-record"' in page
    assert 'id="delete-record"' not in page


@pytest.mark.parametrize(
    ("role", "unit_key"),
    [("service_agent", "br_heavy_east"), ("analyst", "group_hq")],
)
def test_read_only_roles_see_no_edit_delete_or_new_on_a_customer(
    seed_app: Flask, web_engine: Engine, role: str, unit_key: str
) -> None:
    _add_seed_user(web_engine, f"{role}@demo.cn", role, unit_key)
    client = seed_app.test_client()
    sign_in(client, f"{role}@demo.cn", tenant="demo")
    listing = client.get("/r/customer/").get_data(as_text=True)
    assert "测试机械有限公司" in listing and 'id="new-record"' not in listing
    page = client.get(f"/r/customer/{_customer_id(client)}").get_data(as_text=True)
    assert "测试机械有限公司" in page
    assert 'id="edit-record"' not in page and 'id="delete-record"' not in page


def test_group_admin_sees_edit_and_delete_on_a_customer(seed_app: Flask) -> None:
    client = seed_app.test_client()
    sign_in(client, "admin@demo.cn", tenant="demo")
    page = client.get(f"/r/customer/{_customer_id(client)}").get_data(as_text=True)
    assert 'id="edit-record"' in page and 'id="delete-record"' in page


def test_seed_branch_rep_gets_404_on_designer_and_administration(seed_app: Flask) -> None:
    client = seed_app.test_client()
    sign_in(client, "rep@demo.cn", tenant="demo")
    assert client.get("/designer/").status_code == 404
    assert client.get("/admin/").status_code == 404


def test_seed_group_admin_role_held_at_a_branch_does_not_administer(
    seed_app: Flask, web_engine: Engine
) -> None:
    _add_seed_user(web_engine, "branch.admin@demo.cn", "group_admin", "br_heavy_east")
    client = seed_app.test_client()
    sign_in(client, "branch.admin@demo.cn", tenant="demo")
    assert client.get("/r/customer/").status_code == 200
    assert client.get("/designer/").status_code == 404
    assert client.get("/admin/").status_code == 404
