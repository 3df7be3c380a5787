"""User and org unit fields are edited with type-ahead pickers that show names, never bare ids."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from werkzeug.test import TestResponse

from crm_platform.metadata.store import MetadataStore
from crm_platform.runtime.org import create_unit
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.tenants import create_tenant
from crm_platform.runtime.users import principal_for
from tests.web.conftest import Org, add_user, csrf_token, sign_in
from tests.web.picker_documents import PICKER_DOCUMENTS


@pytest.fixture
def visits(app, store: MetadataStore) -> RecordService:
    """The test configuration with the visit entity (a user and an org unit field) published."""
    store.publish("acme", None, "test", documents=PICKER_DOCUMENTS)
    service: RecordService = app.extensions["crm_platform"].records
    return service


def _text(response) -> str:
    return response.get_data(as_text=True)


def _post_visit(client: FlaskClient, subject: str, host: str, hosting_unit: str) -> TestResponse:
    """Submit the new visit form as the signed-in user, token included."""
    data = {"subject": subject, "host": host, "hosting_unit": hosting_unit}
    token = csrf_token(client, "/r/visit/new")
    return client.post("/r/visit/new", data={"csrf_token": token, **data})


def _visit(service: RecordService, acme: Org, **values: object) -> dict:
    with service.engine.connect() as connection:
        rep = principal_for(connection, acme.user_ids["rep_a"])
    return service.create(rep, "visit", {"subject": "Plant tour", **values})


def _search_box(page: str, key: str) -> str:
    found = re.search(rf'<input type="search" id="field-{key}" value="([^"]*)"', page)
    assert found, f"no picker for {key}"
    return found.group(1)


def test_user_and_unit_fields_get_pickers_instead_of_number_inputs(
    client: FlaskClient, acme: Org, visits: RecordService
) -> None:
    sign_in(client, acme.rep_a)
    page = _text(client.get("/r/visit/new"))
    host = re.search(r'<span class="reference-picker" data-lookup-url="([^"]+)">\s*'
                     r'<input type="hidden" name="host"', page)  # fmt: skip
    unit = re.search(r'<span class="reference-picker" data-lookup-url="([^"]+)">\s*'
                     r'<input type="hidden" name="hosting_unit"', page)  # fmt: skip
    assert host and host.group(1) == "/api/users"
    assert unit and unit.group(1) == "/api/org-units"
    assert 'id="field-host" name="host"' not in page and 'data-number="integer"' not in page
    assert "Type a name or email…" in page and "Type a unit name or key…" in page


def test_edit_form_shows_the_chosen_user_and_unit_by_name(
    client: FlaskClient, acme: Org, visits: RecordService
) -> None:
    visit = _visit(visits, acme, host=acme.user_ids["bu_head"], hosting_unit=acme.branch_b)
    sign_in(client, acme.rep_a)
    page = _text(client.get(f"/r/visit/{visit['id']}/edit"))
    assert _search_box(page, "host") == "BU Head"
    assert _search_box(page, "hosting_unit") == "Branch B"
    assert f'name="host" value="{acme.user_ids["bu_head"]}"' in page
    assert f'name="hosting_unit" value="{acme.branch_b}"' in page


def test_saving_picked_ids_names_the_user_and_unit_on_the_record_page(
    client: FlaskClient, acme: Org, visits: RecordService
) -> None:
    sign_in(client, acme.rep_a)
    response = _post_visit(client, "Quarterly review", str(acme.user_ids["matrix"]), str(acme.bu))
    assert response.status_code == 302
    page = _text(client.get(response.headers["Location"]))
    assert re.search(r'<dd data-field="host">\s*Matrix Person\s*</dd>', page)
    assert re.search(r'<dd data-field="hosting_unit">\s*BU East\s*</dd>', page)


def test_rejected_submission_shows_the_picked_user_and_unit_by_name_again(
    client: FlaskClient, acme: Org, visits: RecordService
) -> None:
    sign_in(client, acme.rep_a)
    response = _post_visit(client, "", str(acme.user_ids["bu_head"]), str(acme.branch_a))
    page = _text(response)
    assert response.status_code == 422
    assert 'id="error-subject"' in page
    assert _search_box(page, "host") == "BU Head"
    assert _search_box(page, "hosting_unit") == "Branch A"


def test_a_user_or_unit_of_another_tenant_is_refused_beside_its_field(
    client: FlaskClient, acme: Org, visits: RecordService, web_engine: Engine
) -> None:
    other = create_tenant(web_engine, "other", {"en": "Other"})
    with web_engine.begin() as connection:
        unit = create_unit(connection, other.id, "hq", {"en": "Other HQ"}, "group")
        stranger = add_user(connection, other.id, "stranger@other.cn", "Stranger", unit.id)
    sign_in(client, acme.rep_a)
    response = _post_visit(client, "Forged", str(stranger), str(unit.id))
    page = _text(response)
    assert response.status_code == 422
    assert 'id="error-host"' in page and 'id="error-hosting_unit"' in page
    assert "Stranger" not in page and "Other HQ" not in page
