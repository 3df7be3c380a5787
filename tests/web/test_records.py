"""Generated screens: navigation, list, form, record page, conflicts, scope and field security."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient  # noqa: TID251 - tests of the web layer

from crm_platform.runtime.principal import Principal
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.users import principal_for
from tests.web.conftest import Org, csrf_token, sign_in
from tests.web.world import HOSTILE

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(serial: int) -> str:
    """A valid unified social credit code for a serial number."""
    body = "91350100" + f"{serial:09d}"
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return body + USCC_ALPHABET[(31 - total % 31) % 31]


def principal(service: RecordService, user_id: int) -> Principal:
    with service.engine.connect() as connection:
        return principal_for(connection, user_id)


def create(service: RecordService, acme: Org, user: str, entity: str = "account", **values: Any):
    return service.create(principal(service, acme.user_ids[user]), entity, values)


def text(response) -> str:
    return response.get_data(as_text=True)


def form_post(client: FlaskClient, path: str, data: dict[str, Any], token_from: str):
    return client.post(path, data={"csrf_token": csrf_token(client, token_from), **data})


# -- navigation and lists --------------------------------------------------------------------------


def test_navigation_lists_entities_in_order_with_localized_labels(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    sign_in(client, acme.rep_a)
    page = text(client.get("/"))
    nav = page[page.index('class="sidebar"') :]
    assert nav.index("Accounts") < nav.index("Contacts")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    # The user's own setting (en) wins over the browser.
    assert "Accounts" in text(client.get("/"))


def test_hostile_entity_label_is_shown_as_text(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    sign_in(client, acme.rep_a)
    for path in ("/", "/r/account/new", "/designer/"):
        page = text(client.get(path))
        assert HOSTILE not in page, path
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text(client.get("/"))


def test_unknown_entity_is_404(client: FlaskClient, acme: Org, published: RecordService) -> None:
    sign_in(client, acme.rep_a)
    assert client.get("/r/nothing/").status_code == 404
    assert client.get("/r/nothing/1").status_code == 404


def test_new_form_has_sections_widgets_and_conditions(
    client: FlaskClient, acme: Org, published: RecordService
) -> None:
    sign_in(client, acme.rep_a)
    page = text(client.get("/r/account/new"))
    assert "Basics" in page and "More" in page
    assert re.search(r'<select id="field-stage" name="stage"', page)
    assert 'name="amount_currency"' in page
    assert 'type="date" id="field-founded"' in page
    assert "data-uscc" in page and "data-region-code" in page
    # The lost reason is shown only for lost deals, live in the browser.
    block = re.search(r'<div class="field[^"]*" data-field="lost_reason"[^>]*>', page)
    assert block and "hidden" in block.group(0)
    assert "data-visible-when=" in block.group(0)
    locked = re.search(r'data-field="amount"[^>]*data-readonly-when="([^"]+)"', page)
    assert locked and "&#34;won&#34;" in locked.group(1)
