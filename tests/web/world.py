"""A published configuration for the web tests: accounts and contacts with every widget kind.

Published into the `acme` tenant of `conftest.py`. The `account` form has a
field shown only for lost deals and an amount locked once a deal is won; one
field label and the contacts' plural label carry markup, to prove it is escaped.
A test policy gives the user "restricted" a field profile (hidden, masked, read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from crm_platform.metadata.model import Configuration
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.entity_tables import create_entity_tables
from crm_platform.runtime.policy import (
    FieldLevel,
)

HOSTILE = "<script>alert('x')</script>"


def _label(en: str, hans: str | None = None) -> dict[str, str]:
    return {"en": en, "zh-Hans": hans or en + "（简）", "zh-Hant": (hans or en) + "（繁）"}


def _field(key: str, type_: str, en: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "label": _label(en), "type": type_, **extra}


ACCOUNT = {
    "kind": "entity",
    "key": "account",
    "label": _label("Account", "客户"),
    "plural_label": _label("Accounts", "客户"),
    "ownership": "user_owned",
    "title_field": "name",
    "search_fields": ["name", "city"],
    "nav_order": 10,
    "fields": [
        _field("name", "text", "Name", required=True, max_length=60),
        _field("uscc", "uscc", "Credit code", unique=True),
        _field(
            "stage",
            "choice",
            "Stage",
            options=[
                {"key": "open", "label": _label("Open", "进行中")},
                {"key": "won", "label": _label("Won", "赢单")},
                {"key": "lost", "label": _label("Lost", "输单")},
            ],
        ),
        _field("lost_reason", "text", "Lost reason"),
        _field("amount", "money", "Amount", scale=2, min=0),
        _field("region", "region", "Region"),
        _field("founded", "date", "Founded"),
        _field("employees", "integer", "Employees", min=0),
        _field("city", "text", "City"),
        _field("phone", "phone", "Phone"),
        _field("secret", "text", "Secret", sensitive=True),
        {"key": "notes", "label": {"en": "Notes " + HOSTILE}, "type": "long_text"},
    ],
}

CONTACT = {
    "kind": "entity",
    "key": "contact",
    "label": _label("Contact", "联系人"),
    "plural_label": {"en": "Contacts " + HOSTILE, "zh-Hans": "联系人"},
    "ownership": "user_owned",
    "title_field": "name",
    "search_fields": ["name"],
    "nav_order": 20,
    "fields": [
        _field("name", "text", "Name", required=True),
        _field("account", "reference", "Account", target="account"),
        _field("mobile", "phone", "Mobile"),
    ],
}

ACCOUNT_FORM = {
    "kind": "form",
    "key": "account_main",
    "entity": "account",
    "label": _label("Account"),
    "default": True,
    "sections": [
        {
            "key": "basics",
            "label": _label("Basics", "基本信息"),
            "columns": [
                [
                    {"field": "name"},
                    {"field": "uscc"},
                    {"field": "stage"},
                    {
                        "field": "lost_reason",
                        "visible_when": {"field": "stage", "op": "eq", "value": "lost"},
                    },
                ],
                [
                    {
                        "field": "amount",
                        "readonly_when": {"field": "stage", "op": "eq", "value": "won"},
                    },
                    {"field": "region"},
                    {"field": "founded"},
                    {"field": "employees"},
                ],
            ],
        },
        {
            "key": "more",
            "label": _label("More"),
            "columns": [
                [{"field": "city"}, {"field": "phone"}],
                [{"field": "secret"}, {"field": "notes"}],
            ],
        },
    ],
}

ACCOUNT_VIEW = {
    "kind": "list_view",
    "key": "accounts_all",
    "entity": "account",
    "label": _label("All accounts", "全部客户"),
    "default": True,
    "columns": [
        "name",
        "uscc",
        "stage",
        "amount",
        "city",
        "phone",
        "secret",
        "owner_user_id",
        "owning_unit_id",
        "updated_at",
    ],
    "default_sort": [{"field": "updated_at", "direction": "desc"}],
    "page_size": 5,
}

ADMINISTRATOR = {
    "kind": "role",
    "key": "administrator",
    "label": _label("Administrator"),
    "privileges": {"account": {"read": "tenant"}},
    "administer": True,
}

DOCUMENTS = [ACCOUNT, CONTACT, ACCOUNT_FORM, ACCOUNT_VIEW, ADMINISTRATOR]

RESTRICTED_LEVELS: Mapping[str, FieldLevel] = {
    "secret": "hidden",
    "phone": "masked",
    "city": "read",
}


def create_tables(
    connection: Connection, tenant: Tenant, before: Configuration | None, after: Configuration
) -> None:
    """Publish hook: create the entity tables of the published configuration."""
    create_entity_tables(connection, tenant, after)
