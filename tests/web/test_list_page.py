"""The list page's rows and links, written once per column or page rather than per cell or row."""

from __future__ import annotations

import re
from decimal import Decimal

from flask import Flask, url_for
from flask.testing import FlaskClient

from blueprints.list_page import list_link, record_url_prefix
from blueprints.navigation import list_urls
from crm_platform.runtime.records import RecordService
from tests.statement_log import queries, statements_sent
from tests.web.conftest import HTTP_ONLY, Org, sign_in
from tests.web.test_records import create, text


def test_rows_link_their_title_to_the_record_page(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    first = create(published, acme, "rep_a", name="Alpha & Co")
    second = create(published, acme, "rep_a", name="Beta")
    sign_in(client, acme.rep_a)

    listing = text(client.get("/r/account/"))

    assert f'<a href="/r/account/{first["id"]}">Alpha &amp; Co</a>' in listing
    assert f'<a href="/r/account/{second["id"]}">Beta</a>' in listing
    assert client.get(f"/r/account/{first['id']}").status_code == 200


def test_masked_and_numeric_cells_keep_their_classes(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    create(published, acme, "rep_a", name="Zeta", phone="13812345678", amount=Decimal("1234.5"))
    sign_in(client, acme.restricted)

    listing = text(client.get("/r/account/"))

    assert '<td class="masked">138****5678</td>' in listing
    assert re.search(r'<td class="number">[^<]*1,234\.50</td>', listing)


@HTTP_ONLY
def test_links_built_from_one_url_are_the_ones_url_for_builds(app: Flask) -> None:
    queries = [
        {},
        {"q": "北京 & co", "sort": "-name"},
        {"f.updated_at.from": "2026-01-01", "cursor": "eyJ2IjpbMV19/+=", "scope": "mine"},
    ]
    with app.test_request_context("/", base_url="http://crm.example/prefix"):
        list_url = url_for("records.list_records", entity="account")
        for query in queries:
            assert list_link(list_url, query) == url_for(
                "records.list_records", entity="account", **query
            )
        keys = ["account", "payment_collection", "a1"]
        assert list_urls(keys) == {key: url_for("records.list_records", entity=key) for key in keys}
        assert record_url_prefix("account") + "42" == url_for(
            "records.show_record", entity="account", record_id=42
        )


def test_list_page_reads_only_the_columns_it_shows(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    create(published, acme, "rep_a", name="Omega", lost_reason="price", employees=12)
    sign_in(client, acme.rep_a)
    client.get("/r/account/")  # warm the caches, so the page's own SELECT is all that reads rows

    with statements_sent(published.engine) as sent:
        listing = text(client.get("/r/account/"))

    assert ">Omega<" in listing
    page = next(sql for sql in queries(sent) if "ORDER BY" in sql and "account" in sql)
    assert "uscc" in page and "owning_unit_id" in page  # a column it shows, a system column
    assert "lost_reason" not in page and "employees" not in page and "notes" not in page
