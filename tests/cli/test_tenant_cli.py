"""`crm-platform tenant create|list|drop` against a real database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from crm_platform.cli import context, main
from crm_platform.runtime.tenants import list_tenants


@pytest.fixture
def cli(engine: Engine, database_url: str, tmp_path, monkeypatch) -> Iterator[CliRunner]:
    """A runner whose commands use the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path / "instance"))
    context.settings.cache_clear()
    yield CliRunner()
    context.settings.cache_clear()


def _keys(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [t.key for t in list_tenants(connection)]


def test_create_and_list_tenants(cli: CliRunner, engine: Engine) -> None:
    result = cli.invoke(
        main, ["tenant", "create", "acme", "--name-en", "Acme", "--name-zh", "极致"]
    )
    assert result.exit_code == 0, result.output
    assert "namespace t_acme" in result.output
    listed = cli.invoke(main, ["tenant", "list"])
    assert listed.exit_code == 0
    assert "acme\tt_acme\tAcme / 极致" in listed.output


def test_create_with_an_invalid_key_explains_the_rule(cli: CliRunner, engine: Engine) -> None:
    result = cli.invoke(main, ["tenant", "create", "Bad-Key", "--name-en", "Bad"])
    assert result.exit_code != 0
    assert "lower-case letters" in result.output
    assert _keys(engine) == []


def test_drop_needs_the_key_typed_twice(cli: CliRunner, engine: Engine) -> None:
    cli.invoke(main, ["tenant", "create", "acme", "--name-en", "Acme"])
    refused = cli.invoke(main, ["tenant", "drop", "acme"], input="acme\nacne\n")
    assert refused.exit_code != 0
    assert "nothing was dropped" in refused.output
    assert _keys(engine) == ["acme"]
    dropped = cli.invoke(main, ["tenant", "drop", "acme"], input="acme\nacme\n")
    assert dropped.exit_code == 0, dropped.output
    assert _keys(engine) == []


def test_drop_of_an_unknown_tenant_fails_without_prompting(cli: CliRunner, engine: Engine) -> None:
    result = cli.invoke(main, ["tenant", "drop", "ghost"])
    assert result.exit_code != 0
    assert "there is no tenant 'ghost'" in result.output


def test_commands_on_an_uninitialised_database_say_to_run_init(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path / "instance"))
    context.settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["tenant", "list"])
    finally:
        context.settings.cache_clear()
    assert result.exit_code != 0
    assert "crm-platform init" in result.output
