"""Masked values keep their shape; compiled access is cached until a version moves."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm_platform.runtime import users as users_module
from crm_platform.runtime.masking import mask_value
from crm_platform.runtime.tenants import bump_security_version
from tests.runtime.security.world import SecurityWorld


@pytest.mark.parametrize(
    ("field_type", "value", "masked"),
    [
        ("phone", "13812345678", "138****5678"),
        ("phone", "+8613812345678", "+86138****5678"),
        ("phone", "12345", "*****"),
        ("text", "张三丰", "张**"),
        ("text", "张三", "张*"),
        ("text", "王", "王*"),
        ("email", "zhang.wei@example.com", "z***@example.com"),
        ("email", "not-an-email", "n***********"),
        ("money", {"amount": Decimal("12.50"), "currency": "CNY"}, None),
        ("decimal", Decimal("3.14"), None),
        ("integer", 42, None),
        ("date", "2026-01-01", None),
        ("reference", 7, None),
        ("uscc", "91350100M000100Y43", "91**************43"),
        ("text", None, None),
    ],
)
def test_masked_values_keep_their_shape_and_amounts_vanish(field_type, value, masked):
    assert mask_value(field_type, value) == masked


def _compile(world: SecurityWorld, user: str):
    principal = world.principal(user)
    with world.engine.connect() as connection:
        ctx = world.service._context(connection, principal, "account")
        return world.policy.compiled(
            connection, ctx.tenant, principal, ctx.entity, ctx.table, ctx.config
        )


def test_compiled_access_is_cached_until_the_security_version_moves(world):
    world.add_user("cached", "mid", [("all_unit", "mid")])
    first = _compile(world, "cached")
    assert _compile(world, "cached") is first
    with world.engine.begin() as connection:
        bump_security_version(connection, world.tenant.id)
    again = _compile(world, "cached")
    assert again is not first and again.levels == first.levels


def test_a_new_role_assignment_recompiles_with_the_new_level(world):
    world.add_user("promoted", "mid", [("all_own", "mid")])
    assert _compile(world, "promoted").levels["read"] == "own"
    with world.engine.begin() as connection:
        users_module.assign_role(
            connection, world.users["promoted"], "all_tenant", world.units["far"]
        )
    compiled = _compile(world, "promoted")
    assert compiled.levels["read"] == "tenant"
    assert compiled.unit_grants["read"]["tenant"] == frozenset({world.units["far"]})
