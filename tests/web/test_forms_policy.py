"""The new and edit forms honour the seed's roles before anything is shown or read.

Unreadable records stay 404; a readable entity or record without the create or
update privilege is a friendly 403 naming what is refused, with a link back.
"""

from __future__ import annotations

import pytest

from tests.web.conftest import csrf_token
from tests.web.seed_world import SeedWorld, seed

__all__ = ["seed"]  # the fixture the tests below use


def _customer_names(world: SeedWorld) -> set[str]:
    page = world.records.list(world.principal("admin"), "customer", page_size=50)
    return {row["name"] for row in page.rows}


def test_analyst_opening_a_new_customer_form_gets_a_403_linking_back_to_the_list(
    seed: SeedWorld,
) -> None:
    response = seed.client("analyst").get("/r/customer/new")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "You may not create a new Customer." in page
    assert 'id="refused-back" href="/r/customer/"' in page
    assert 'name="_orig"' not in page and 'id="save"' not in page


def test_refusal_is_in_the_users_language(seed: SeedWorld) -> None:
    response = seed.client("analyst", "zh-Hans").get("/r/customer/new")
    assert response.status_code == 403
    assert "您无权新建客户。" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "submission",
    [
        {"name": "分析师的客户", "customer_type": "enterprise", "region": "330106"},
        {"name": ""},  # invalid too: refused for the privilege, not reported field by field
    ],
)
def test_analyst_posting_a_new_customer_is_refused_before_the_submission_is_read(
    seed: SeedWorld, submission: dict[str, str]
) -> None:
    client = seed.client("analyst")
    token = csrf_token(client, "/r/customer/")
    response = client.post("/r/customer/new", data={"csrf_token": token, **submission})
    assert response.status_code == 403
    assert "You may not create a new Customer." in response.get_data(as_text=True)
    assert "分析师的客户" not in _customer_names(seed)


def test_rep_opening_the_edit_form_of_a_colleagues_customer_gets_a_403_linking_to_it(
    seed: SeedWorld,
) -> None:
    client = seed.client("rep")
    path = f"/r/customer/{seed.colleague_customer}"
    assert client.get(path).status_code == 200  # the branch's customers are readable
    response = client.get(path + "/edit")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "You may not change this Customer." in page
    assert f'id="refused-back" href="{path}"' in page
    assert "同事的客户" not in page  # no form filled with the record's values


def test_rep_posting_an_edit_of_a_colleagues_customer_is_refused_before_reading_it(
    seed: SeedWorld,
) -> None:
    client = seed.client("rep")
    path = f"/r/customer/{seed.colleague_customer}"
    token = csrf_token(client, path)
    # Without a version the submission would be a 400: the privilege is asked first.
    response = client.post(path + "/edit", data={"csrf_token": token, "name": "改名"})
    assert response.status_code == 403
    assert "You may not change this Customer." in response.get_data(as_text=True)
    assert "改名" not in _customer_names(seed)


@pytest.mark.parametrize("method", ["get", "post"])
def test_edit_of_another_branchs_customer_stays_404(seed: SeedWorld, method: str) -> None:
    client = seed.client("sibling")
    path = f"/r/customer/{seed.rep_customer}/edit"
    token = csrf_token(client, "/r/customer/")
    response = getattr(client, method)(path, data={"csrf_token": token, "_version": "1"})
    assert response.status_code == 404


def test_owner_rep_still_gets_the_new_and_edit_forms(seed: SeedWorld) -> None:
    client = seed.client("rep")
    assert client.get("/r/customer/new").status_code == 200
    edit = client.get(f"/r/customer/{seed.rep_customer}/edit")
    assert edit.status_code == 200
    assert "代表的客户" in edit.get_data(as_text=True)


def test_delete_the_core_refuses_names_the_action_and_links_back_to_the_record(
    seed: SeedWorld,
) -> None:
    # The seed's branch rep deletes no customers, not even their own.
    client = seed.client("rep")
    path = f"/r/customer/{seed.rep_customer}"
    token = csrf_token(client, path)
    response = client.post(path + "/delete", data={"csrf_token": token, "_version": "1"})
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "You may not delete this Customer." in page
    assert f'id="refused-back" href="{path}"' in page
