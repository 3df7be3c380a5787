"""The list page's rows: links, classes and values, written once per column rather than per cell."""

from __future__ import annotations

import re
from decimal import Decimal

from flask.testing import FlaskClient

from crm_platform.runtime.records import RecordService
from tests.web.conftest import Org, sign_in
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
