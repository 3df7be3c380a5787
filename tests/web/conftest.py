"""Fixtures of the web tests: an app on the test database, a small organisation, helpers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, insert
from werkzeug.security import generate_password_hash

from blueprints.app import create_app
from crm_platform.metadata.store import MetadataStore
from crm_platform.runtime import org, users
from crm_platform.runtime.entity_tables import EntityTables
from crm_platform.runtime.events import EventBus
from crm_platform.runtime.records import RecordService
from crm_platform.runtime.sign_in_tables import SignInFailure
from crm_platform.runtime.tables import User
from crm_platform.runtime.tenants import create_tenant
from tests.runtime.profiled_policy import ProfiledPolicy
from tests.web.world import DOCUMENTS, RESTRICTED_LEVELS, create_tables

PASSWORD = "correct horse 9"
HTTP_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
"""For tests of HTTP behaviour (headers, CSRF, redirects, languages) that no database changes."""
_FAST_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Org:
    """The test organisation: group > bu > branches a and b, and one user per place."""

    tenant_id: int
    group: int
    bu: int
    branch_a: int
    branch_b: int
    rep_a: str
    rep_b: str
    bu_head: str
    matrix: str
    restricted: str
    user_ids: dict[str, int]
    admin: str = "admin@acme.cn"


def add_user(
    connection: Connection, tenant_id: int, email: str, name: str, unit_id: int, locale: str = "en"
) -> int:
    """Insert a user whose password is `PASSWORD`, hashed cheaply.

    `users.create_user` hashes with scrypt (about 0.3 s); these fixtures create
    several users per test, so they store a fast PBKDF2 hash, which the same
    `check_password_hash` verifies.
    """
    return connection.execute(
        insert(User.__table__)
        .values(
            tenant_id=tenant_id,
            email=email,
            display_name=name,
            password_hash=_FAST_HASH,
            primary_unit_id=unit_id,
            active=True,
            locale=locale,
            created_at=datetime.now(UTC),
        )
        .returning(User.__table__.c.id)
    ).scalar_one()


@pytest.fixture
def web_engine(engine: Engine) -> Engine:
    """The test database with the sign-in throttling table too."""
    SignInFailure.__table__.create(engine, checkfirst=True)
    return engine


@pytest.fixture
def acme(web_engine: Engine) -> Org:
    """Tenant ``acme`` with a small tree and users (password `PASSWORD`)."""
    return make_acme(web_engine)


def make_acme(web_engine: Engine) -> Org:
    """Create tenant ``acme``: group > bu > branches a and b, users at each (see `Org`)."""
    tenant = create_tenant(web_engine, "acme", {"en": "Acme Group", "zh-Hans": "艾克米集团"})
    with web_engine.begin() as connection:
        group = org.create_unit(connection, tenant.id, "group", {"en": "Group"}, "group")
        bu = org.create_unit(
            connection, tenant.id, "bu", {"en": "BU East"}, "business_unit", group.id
        )
        a = org.create_unit(connection, tenant.id, "branch_a", {"en": "Branch A"}, "branch", bu.id)
        b = org.create_unit(connection, tenant.id, "branch_b", {"en": "Branch B"}, "branch", bu.id)
        people = {
            "rep_a": ("rep.a@acme.cn", "Rep A", a.id, "en"),
            "rep_b": ("rep.b@acme.cn", "Rep B", b.id, "en"),
            "bu_head": ("head@acme.cn", "BU Head", bu.id, "zh-Hans"),
            "matrix": ("matrix@acme.cn", "Matrix Person", a.id, "en"),
            "restricted": ("agent@acme.cn", "Service Agent", a.id, "en"),
            "admin": ("admin@acme.cn", "Admin", group.id, "en"),
        }
        ids = {
            name: add_user(connection, tenant.id, email, display, unit, locale)
            for name, (email, display, unit, locale) in people.items()
        }
        users.assign_role(connection, ids["matrix"], "sales_rep", a.id)
        users.assign_role(connection, ids["matrix"], "bu_head", bu.id)
        # `administrator` (tests.web.world) administers once the configuration is published.
        users.assign_role(connection, ids["admin"], "administrator", group.id)
    return Org(
        tenant.id, group.id, bu.id, a.id, b.id,
        rep_a="rep.a@acme.cn", rep_b="rep.b@acme.cn", bu_head="head@acme.cn",
        matrix="matrix@acme.cn",
        restricted="agent@acme.cn",
        user_ids=ids,
    )  # fmt: skip


@pytest.fixture
def store(web_engine: Engine) -> MetadataStore:
    """The metadata store, creating entity tables on publish."""
    return MetadataStore(web_engine, hooks=[create_tables])


@pytest.fixture
def app(web_engine: Engine, database_url: str, store: MetadataStore, acme: Org) -> Flask:
    """The application on the test database, with CSRF protection on as in production.

    Its record service gives the "restricted" user a field profile on accounts.
    """
    return make_app(web_engine, database_url, store, acme)


def make_app(engine: Engine, database_url: str, store: MetadataStore, acme: Org) -> Flask:
    """The app on `engine` whose record service profiles the "restricted" user's fields."""
    policy = ProfiledPolicy(
        RESTRICTED_LEVELS,
        entity="account",
        users={acme.user_ids["restricted"]},
        mask_text="138****5678",
    )
    service = RecordService(engine, store, EntityTables(store), policy, EventBus())
    return create_app(
        {
            "SECRET_KEY": "test secret",
            "DATABASE_URL": database_url,
            "ENGINE": engine,
            "METADATA_STORE": store,
            "RECORD_SERVICE": service,
            "TESTING": True,
        }
    )


@pytest.fixture
def published(app: Flask, store: MetadataStore) -> RecordService:
    """The test configuration (`tests.web.world`) published to acme; returns the record service."""
    store.publish("acme", None, "test", documents=DOCUMENTS)
    service: RecordService = app.extensions["crm_platform"].records
    return service


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    """A browser-like client that prefers English."""
    with app.test_client() as test_client:
        test_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        test_client.environ_base["REMOTE_ADDR"] = "192.0.2.10"
        yield test_client


def csrf_token(client: FlaskClient, path: str = "/sign-in") -> str:
    """The CSRF token a page of the app embeds in its forms."""
    page = client.get(path)
    found = _CSRF.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, tenant: str = "acme"):
    """Post the sign-in form as a person would, token included; returns the response."""
    token = csrf_token(client)
    return client.post(
        "/sign-in",
        data={"csrf_token": token, "organisation": tenant, "email": email, "password": password},
    )


def post(client: FlaskClient, path: str, data: dict[str, str], token_from: str = "/"):  # noqa: S107
    """Post a form with the CSRF token of the page it would be on."""
    return client.post(path, data={"csrf_token": csrf_token(client, token_from), **data})
