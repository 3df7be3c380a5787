"""What pages keep per process follows the database: every worker sees a change on its next request.

A list page reads the tenant's versions once and keeps what it derives from
them (the principal, the capabilities, whether the user administers, the
configuration) per process under those versions. These tests warm those
answers in one worker, change the database through another or through the
core directly, and expect the very next request to see the change.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from blueprints.app import create_app
from blueprints.context import UNIT_SESSION_KEY
from crm_platform.runtime import users
from crm_platform.runtime.principal import Principal
from crm_platform.runtime.records import RecordService
from tests.web.conftest import Org, sign_in
from tests.web.test_records import text
from tests.web.world import ACCOUNT_VIEW, DOCUMENTS

READER = {
    "kind": "role",
    "key": "account_reader",
    "label": {"en": "Account reader"},
    "privileges": {"account": {"read": "unit"}},
}


def _worker(web_engine: Engine, database_url: str) -> Flask:
    """An app as `crm-platform serve` builds it (its services from the composition root)."""
    return create_app({"SECRET_KEY": "s", "DATABASE_URL": database_url, "ENGINE": web_engine})


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    sign_in(client, email)
    return client


def _sidebar(page: str) -> str:
    return page[page.index('class="sidebar"') :]


def test_a_role_granted_and_revoked_shows_on_the_next_request(
    web_engine: Engine, database_url: str, acme: Org
) -> None:
    worker = _worker(web_engine, database_url)
    worker.extensions["crm_platform"].store.publish(
        "acme", None, "test", documents=[*DOCUMENTS, READER]
    )
    client = _client(worker, acme.rep_a)
    assert client.get("/r/account/").status_code == 404  # no role yet, and now remembered

    with web_engine.begin() as connection:
        users.assign_role(connection, acme.user_ids["rep_a"], "account_reader", acme.branch_a)
    listing = client.get("/r/account/")
    assert listing.status_code == 200 and "Accounts" in _sidebar(text(listing))

    with web_engine.begin() as connection:
        users.revoke_role(connection, acme.user_ids["rep_a"], "account_reader", acme.branch_a)
    assert client.get("/r/account/").status_code == 404


def test_revoking_the_administrator_role_closes_the_designer_on_the_next_request(
    web_engine: Engine, database_url: str, acme: Org
) -> None:
    worker = _worker(web_engine, database_url)
    worker.extensions["crm_platform"].store.publish("acme", None, "test", documents=DOCUMENTS)
    client = _client(worker, acme.admin)
    assert client.get("/designer/").status_code == 200
    assert 'href="/designer/"' in text(client.get("/r/account/"))

    with web_engine.begin() as connection:
        users.revoke_role(connection, acme.user_ids["admin"], "administrator", acme.group)
    assert client.get("/designer/").status_code == 404
    assert 'href="/designer/"' not in text(client.get("/"))


def test_a_publish_by_another_worker_changes_the_list_on_the_next_request(
    web_engine: Engine, database_url: str, acme: Org
) -> None:
    worker, other = _worker(web_engine, database_url), _worker(web_engine, database_url)
    services = worker.extensions["crm_platform"]
    services.store.publish("acme", None, "test", documents=DOCUMENTS)
    system = Principal.system(acme.tenant_id, "test fixture", unit_id=acme.group)
    services.records.create(system, "account", {"name": "Gamma"})
    client = _client(worker, acme.admin)  # reads every account (tests.web.world)
    assert 'data-sort="updated_at"' in text(client.get("/r/account/"))

    narrower = {**ACCOUNT_VIEW, "columns": ["name", "city"]}
    other_documents = [narrower if d is ACCOUNT_VIEW else d for d in DOCUMENTS]
    other.extensions["crm_platform"].store.publish("acme", None, "test", documents=other_documents)
    assert 'data-sort="updated_at"' not in text(client.get("/r/account/"))


def test_a_chosen_unit_that_is_gone_falls_back_to_the_primary_unit(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    sign_in(client, acme.rep_a)
    with client.session_transaction() as session:
        session[UNIT_SESSION_KEY] = 999_999  # merged away, or another tenant's unit

    assert client.get("/r/account/").status_code == 200
    with client.session_transaction() as session:
        assert UNIT_SESSION_KEY not in session
