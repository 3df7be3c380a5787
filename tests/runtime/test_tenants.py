"""Tenants: keys, namespaces, listing, and dropping a tenant whole."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, inspect, select

from crm_platform.metadata.errors import UnknownTenant
from crm_platform.metadata.tables import OrgUnit
from crm_platform.runtime import org, users
from crm_platform.runtime.entity_tables import table_location
from crm_platform.runtime.errors import InvalidOperation
from crm_platform.runtime.tables import User
from crm_platform.runtime.tenants import (
    create_tenant,
    drop_tenant,
    get_tenant,
    list_tenants,
    namespace_tables,
)


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt costs ~0.1 s a hash; these tests are about users, not hashing strength."""
    monkeypatch.setattr(users, "PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000")


def _make_entity_table(engine: Engine, namespace: str, entity: str) -> None:
    location = table_location(namespace, entity, engine.dialect.name)
    table = Table(
        location.name, MetaData(), Column("id", Integer, primary_key=True), schema=location.schema
    )
    with engine.begin() as connection:
        table.create(connection)


def test_create_tenant_makes_row_and_namespace(engine: Engine) -> None:
    tenant = create_tenant(engine, "acme", {"en": "Acme Group", "zh-Hans": "极致集团"})
    assert tenant.namespace == "t_acme"
    assert tenant.security_version == 0
    with engine.connect() as connection:
        assert get_tenant(connection, "acme").name == {"en": "Acme Group", "zh-Hans": "极致集团"}
    if engine.dialect.name == "postgresql":
        assert "t_acme" in inspect(engine).get_schema_names()


@pytest.mark.parametrize("key", ["a", "Acme", "1acme", "ac-me", "ac__me", "acme_", "x" * 32])
def test_invalid_tenant_key_is_refused(engine: Engine, key: str) -> None:
    with pytest.raises(InvalidOperation, match="tenant key"):
        create_tenant(engine, key, {"en": "X"})


def test_duplicate_tenant_key_is_refused(engine: Engine) -> None:
    create_tenant(engine, "acme", {"en": "Acme"})
    with pytest.raises(InvalidOperation, match="already exists"):
        create_tenant(engine, "acme", {"en": "Acme again"})


def test_unknown_tenant_raises(engine: Engine) -> None:
    with engine.connect() as connection, pytest.raises(UnknownTenant, match="nobody"):
        get_tenant(connection, "nobody")


def test_list_tenants_orders_by_key(engine: Engine) -> None:
    create_tenant(engine, "zeta", {"en": "Zeta"})
    create_tenant(engine, "alpha", {"en": "Alpha"})
    with engine.connect() as connection:
        assert [t.key for t in list_tenants(connection)] == ["alpha", "zeta"]


def test_drop_tenant_removes_its_tables_and_rows_but_not_a_lookalike_tenant(engine: Engine) -> None:
    ab = create_tenant(engine, "ab", {"en": "AB"})
    abc = create_tenant(engine, "ab_c", {"en": "AB C"})
    _make_entity_table(engine, ab.namespace, "customer")
    _make_entity_table(engine, ab.namespace, "c_deal")
    _make_entity_table(engine, abc.namespace, "customer")
    with engine.begin() as connection:
        root = org.create_unit(connection, ab.id, "hq", {"en": "HQ"}, "group")
        team = org.create_unit(connection, ab.id, "team", {"en": "Team"}, "team", root.id)
        user = users.create_user(connection, ab.id, "a@x.cn", "A", "secret123", team.id)
        users.assign_role(connection, user.id, "rep", team.id)
        other_root = org.create_unit(connection, abc.id, "hq", {"en": "HQ"}, "group")
    drop_tenant(engine, "ab")
    with engine.connect() as connection:
        assert [t.key for t in list_tenants(connection)] == ["ab_c"]
        assert namespace_tables(connection, ab.namespace) == []
        assert namespace_tables(connection, abc.namespace) == [
            table_location(abc.namespace, "customer", engine.dialect.name).name
        ]
        assert connection.execute(select(OrgUnit.id)).scalars().all() == [other_root.id]
        assert connection.execute(select(User.id)).scalars().all() == []
