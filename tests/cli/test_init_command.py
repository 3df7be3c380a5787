"""`crm-platform init [--demo]` on an empty database, and again on the same database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, select

from crm_platform.cli import context, main
from crm_platform.db import make_engine
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime import users
from crm_platform.runtime.demo_values import DEMO_PASSWORD, DEMO_USERS, SEED_BUNDLE
from crm_platform.runtime.principal import Principal
from crm_platform.services import build_platform


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner whose commands use an empty test database (no platform tables yet)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path / "instance"))
    # 43 demo users at scrypt's cost would dominate the test; production keeps the default.
    monkeypatch.setattr(users, "PASSWORD_HASH_METHOD", "pbkdf2:sha256:1000")
    context.settings.cache_clear()
    yield CliRunner()
    context.settings.cache_clear()


def _counts(database_url: str, tenant_key: str) -> dict[str, int]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            tenant_id = connection.execute(
                select(Tenant.id).where(Tenant.key == tenant_key)
            ).scalar_one()
        records = build_platform(engine).records
        system = Principal.system(tenant_id, reason="init test")
        entities = sorted(p.stem for p in (SEED_BUNDLE / "layers" / "hq" / "entity").glob("*"))
        return {e: records.count(system, e, cap=None).value for e in entities}
    finally:
        engine.dispose()


def test_init_creates_the_platform_tables_and_can_run_twice(
    cli: CliRunner, database_url: str
) -> None:
    first = cli.invoke(main, ["init"])
    assert first.exit_code == 0, first.output
    assert "database ready" in first.output
    engine = make_engine(database_url)
    try:
        assert {"tenants", "org_units", "users"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    again = cli.invoke(main, ["init"])
    assert again.exit_code == 0, again.output


def test_init_demo_builds_the_tenant_prints_sign_ins_and_keeps_data_on_rerun(
    cli: CliRunner, database_url: str
) -> None:
    first = cli.invoke(main, ["init", "--demo", "--customers", "12"])
    assert first.exit_code == 0, first.output
    assert "demo tenant 'huachen' created in" in first.output
    assert "12 customer" in first.output
    assert "http://127.0.0.1:5000" in first.output
    assert DEMO_PASSWORD in first.output
    for user in DEMO_USERS:
        assert user.email in first.output
    counts = _counts(database_url, "huachen")
    assert counts["customer"] == 12
    assert all(counts[e] for e in ("contact", "lead", "opportunity", "product", "price_list"))

    again = cli.invoke(main, ["init", "--demo", "--customers", "12"])
    assert again.exit_code == 0, again.output
    assert "already exists: its data was kept" in again.output
    assert "admin@huachen.example" in again.output
    assert _counts(database_url, "huachen") == counts


def test_init_demo_with_an_invalid_tenant_key_explains_the_rule(cli: CliRunner) -> None:
    result = cli.invoke(main, ["init", "--demo", "--tenant", "Bad-Key", "--customers", "1"])
    assert result.exit_code != 0
    assert "lower-case letters" in result.output
