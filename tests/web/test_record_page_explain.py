"""The "explain access" panel of the record page: an administrator's tool, for any user."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine

from crm_platform.runtime.org import create_unit
from crm_platform.runtime.tenants import create_tenant
from tests.web.conftest import add_user
from tests.web.seed_world import SeedWorld, seed

__all__ = ["seed"]  # the fixture the tests below use


def _granted(page: str, privilege: str) -> str:
    """``yes`` or ``no``: the "here" cell of a privilege's row in the explanation."""
    found = re.search(
        rf'<tr data-privilege="{privilege}">.*?data-granted="(yes|no)"', page, re.DOTALL
    )
    assert found, f"no row for {privilege}"
    return found.group(1)


def _field_level(page: str, field: str) -> str:
    found = re.search(rf'<tr data-field-level="{field}">.*?data-level="(\w+)"', page, re.DOTALL)
    assert found, f"no field row for {field}"
    return found.group(1)


@pytest.mark.parametrize("person", ["rep", "analyst", "agent"])
def test_non_administrator_neither_sees_nor_can_ask_for_the_explanation(
    seed: SeedWorld, person: str
) -> None:
    client = seed.client(person)
    path = f"/r/customer/{seed.rep_customer}"
    page = client.get(path).get_data(as_text=True)
    assert 'id="explain-access"' not in page and 'id="explain-link"' not in page
    for query in ("?explain=1", f"?explain=1&explain_user={seed.user_ids['admin']}"):
        asked = client.get(path + query)
        assert asked.status_code == 200
        text = asked.get_data(as_text=True)
        assert 'id="explain-access"' not in text and "data-privilege" not in text


def test_administrator_gets_the_link_then_their_own_explanation_with_its_sources(
    seed: SeedWorld,
) -> None:
    client = seed.client("admin")
    path = f"/r/customer/{seed.rep_customer}"
    page = client.get(path).get_data(as_text=True)
    assert 'id="explain-link"' in page and "data-privilege" not in page
    explained = client.get(path + "?explain=1").get_data(as_text=True)
    assert "Access of Group Admin to this record:" in explained
    assert "Role <code>group_admin</code> @ <code>group_hq</code>" in explained
    assert _granted(explained, "read") == "yes" and _granted(explained, "delete") == "yes"


def test_administrator_explains_another_users_access_naming_role_and_unit(
    seed: SeedWorld,
) -> None:
    client = seed.client("admin")
    rep = seed.user_ids["rep"]
    own = client.get(f"/r/customer/{seed.rep_customer}?explain=1&explain_user={rep}")
    page = own.get_data(as_text=True)
    assert "Access of East Rep to this record:" in page
    assert "Role <code>branch_sales_rep</code> @ <code>br_heavy_east</code>" in page
    assert "group_admin" not in page.split('id="explained-access"')[1]
    assert _granted(page, "read") == "yes" and _granted(page, "update") == "yes"
    assert _granted(page, "delete") == "no"
    # The picker shows the explained user by name and carries their id.
    assert 'value="East Rep"' in page and f'name="explain_user" value="{rep}"' in page
    theirs = client.get(f"/r/customer/{seed.colleague_customer}?explain=1&explain_user={rep}")
    colleague = theirs.get_data(as_text=True)
    assert _granted(colleague, "read") == "yes" and _granted(colleague, "update") == "no"


def test_administrator_sees_why_a_user_of_a_sibling_branch_cannot_read_the_record(
    seed: SeedWorld,
) -> None:
    client = seed.client("admin")
    sibling = seed.user_ids["sibling"]
    page = client.get(f"/r/customer/{seed.rep_customer}?explain=1&explain_user={sibling}").get_data(
        as_text=True
    )
    assert "Access of South Rep to this record:" in page
    assert _granted(page, "read") == "no"
    assert "<code>br_heavy_south</code>" in page and "does not apply" in page


def test_administrator_sees_another_users_field_security_with_its_profile(
    seed: SeedWorld,
) -> None:
    client = seed.client("admin")
    agent = seed.user_ids["agent"]
    page = client.get(f"/r/contact/{seed.rep_contact}?explain=1&explain_user={agent}").get_data(
        as_text=True
    )
    assert _field_level(page, "mobile") == "masked"
    assert _field_level(page, "email") == "masked"
    assert _field_level(page, "name") == "edit"
    assert "profile <code>service_agent_contact</code>" in page
    own = client.get(f"/r/contact/{seed.rep_contact}?explain=1").get_data(as_text=True)
    assert _field_level(own, "mobile") == "edit"


def test_explaining_an_unknown_a_malformed_or_another_tenants_user_says_so(
    seed: SeedWorld, web_engine: Engine
) -> None:
    other = create_tenant(web_engine, "other", {"en": "Other"})
    with web_engine.begin() as connection:
        unit = create_unit(connection, other.id, "hq", {"en": "HQ"}, "group")
        stranger = add_user(connection, other.id, "stranger@other.cn", "Stranger", unit.id)
    client = seed.client("admin")
    path = f"/r/customer/{seed.rep_customer}?explain=1&explain_user="
    for asked, message in [
        ("999999", "There is no such user in your organisation."),
        (str(stranger), "There is no such user in your organisation."),
        ("9" * 40, "Choose a user from the list."),
        ("Rep", "Choose a user from the list."),
    ]:
        response = client.get(path + asked)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, asked
        assert message in page, asked
        assert "Stranger" not in page and "data-privilege" not in page


def test_explanation_speaks_the_administrators_language(seed: SeedWorld) -> None:
    client = seed.client("admin", "zh-Hant")
    rep = seed.user_ids["rep"]
    page = client.get(f"/r/customer/{seed.rep_customer}?explain=1&explain_user={rep}").get_data(
        as_text=True
    )
    assert "East Rep 對此記錄的存取權限：" in page
    assert "<td>讀取</td>" in page and "角色 <code>branch_sales_rep</code>" in page
    assert "欄位安全" in page
