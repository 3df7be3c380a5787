"""The number of SQL statements a page runs, pinned so that an N+1 cannot come back unnoticed."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from blueprints.context import db
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.users import principal_for
from tests.statement_log import queries, statements_sent
from tests.web.conftest import Org, add_user, sign_in

LIST_PAGE_STATEMENTS = 6
"""The most one list page may run (transaction control aside), however many owners and owning
units its rows have.

As measured: the session's user with its tenant's versions and the unit worked at,
in one statement (flask-login's user loader, `session_reads.read_session`), the page
and its count, all the owners' names, all the rows' owning units, and the user's own
unit (named in the unit filter) when no row is owned there. The configuration, the
principal's roles and memberships, the capabilities of every entity and the
administrator check are answered from caches keyed by the versions that read
returned (`blueprints.context`).
"""
PAGE_SIZE = 5
"""The page size of the accounts' list view in `tests.web.world`: one owner per row here."""


def _create_owned_by(service: RecordService, user_id: int, name: str) -> None:
    with service.engine.connect() as connection:
        principal = principal_for(connection, user_id)
    service.create(principal, "account", {"name": name})


def _warm_list_page(
    client: FlaskClient, published: RecordService, user: str
) -> tuple[str, list[str]]:
    """The account list's text as `user` sees it, and its queries, once the caches are warm."""
    sign_in(client, user)
    client.get("/r/account/")  # warm the process's caches (configuration, compiled access)
    with statements_sent(published.engine) as sent:
        page = client.get("/r/account/")
    assert page.status_code == 200
    return page.get_data(as_text=True), queries(sent)


def test_list_page_statements_do_not_grow_with_the_owners_on_the_page(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    with published.engine.begin() as connection:
        owners = [
            add_user(connection, acme.tenant_id, f"rep{n}@acme.cn", f"Seller {n}", acme.branch_a)
            for n in range(PAGE_SIZE)
        ]
    for n, owner in enumerate(owners):
        _create_owned_by(published, owner, f"Sigma {n}")
    text, seen = _warm_list_page(client, published, acme.bu_head)
    assert all(f">Sigma {n}<" in text for n in range(PAGE_SIZE))
    assert all(f"Seller {n}" in text for n in range(PAGE_SIZE))  # every owner named
    assert len(seen) <= LIST_PAGE_STATEMENTS, "\n".join(" ".join(q.split())[:150] for q in seen)


def test_list_page_names_every_owning_unit_on_the_page_in_one_statement(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    units = (acme.branch_a, acme.branch_b, acme.bu, acme.branch_a, acme.branch_b)
    with published.engine.begin() as connection:
        owners = [
            add_user(connection, acme.tenant_id, f"seller{n}@acme.cn", f"Seller {n}", unit_id)
            for n, unit_id in enumerate(units)
        ]
    for n, owner in enumerate(owners):
        _create_owned_by(published, owner, f"Tau {n}")
    text, seen = _warm_list_page(client, published, acme.bu_head)
    assert all(f">Tau {n}<" in text for n in range(PAGE_SIZE))
    assert all(name in text for name in ("Branch A", "Branch B", "BU East"))
    assert len(seen) <= LIST_PAGE_STATEMENTS, "\n".join(" ".join(q.split())[:150] for q in seen)


def test_the_unit_choice_names_all_the_users_units_in_one_statement(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    sign_in(client, acme.matrix)  # holds roles at several units: the page offers a choice
    client.get("/r/account/")

    with statements_sent(published.engine) as sent:
        page = client.get("/r/account/")

    assert page.status_code == 200
    unit_reads = [sql for sql in queries(sent) if "FROM org_units" in sql]
    assert len(unit_reads) <= 1, "\n".join(" ".join(s.split())[:150] for s in unit_reads)


def test_a_page_sends_no_begin(client: FlaskClient, acme: Org, published: RecordService) -> None:
    # A GET reads one statement at a time: SQLite's explicit BEGIN is not sent.
    sign_in(client, acme.bu_head)
    client.get("/r/account/")
    with statements_sent(published.engine) as sent:
        page = client.get("/r/account/")
    assert page.status_code == 200
    assert sent and not [s for s in sent if s.controls_a_transaction], sent


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_only_reading_requests_run_their_statements_without_a_transaction(
    app: Flask, published: RecordService, method: str
) -> None:
    with app.test_request_context("/r/account/", method=method):
        connection = db()
        reading = (
            connection.connection.driver_connection.autocommit  # psycopg sends no BEGIN
            if connection.dialect.name == "postgresql"
            else bool(connection.get_execution_options().get("crm_read_statements"))
        )
    assert reading == (method != "POST")
