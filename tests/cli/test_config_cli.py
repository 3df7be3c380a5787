"""`crm-platform config validate|export|import|diff` through click's runner on a real database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from crm_platform.cli import context, main
from crm_platform.metadata.tables import ConfigVersion
from tests.metadata.store_configs import UNITS, customer_entity, rehash, write_bundle


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner whose commands use the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path / "instance"))
    context.settings.cache_clear()
    yield CliRunner()
    context.settings.cache_clear()


def _versions(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(ConfigVersion)).scalar_one()


def _bad_bundle(tmp_path: Path) -> Path:
    root = write_bundle(tmp_path)
    list_view = root / "layers/hq/list_view/customer_all.json"
    document = json.loads(list_view.read_text(encoding="utf-8"))
    document["entity"] = "client"
    list_view.write_text(json.dumps(document), encoding="utf-8")
    (root / "layers/hq/form/customer_default.json").write_text("{ nope")
    rehash(root)
    return root


def test_validate_accepts_a_good_bundle_without_a_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["config", "validate", str(write_bundle(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "valid bundle (tenant acme, 4 org units, 2 layers, 5 documents)" in result.output


def test_validate_prints_every_problem_on_its_own_line_and_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["config", "validate", str(_bad_bundle(tmp_path))])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(
        line.startswith("layers/hq/form/customer_default.json#: line 1 column 3")
        and line.endswith("[bundle.invalid_json]")
        for line in lines
    )
    assert any(
        line.startswith("layers/hq/list_view/customer_all.json#/entity:")
        and line.endswith("[ref.unknown_entity]")
        for line in lines
    )
    assert "is not a valid bundle (2 problem(s))" in result.output


def test_import_into_a_missing_tenant_says_how_to_create_it(
    cli: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    result = cli.invoke(main, ["config", "import", "--tenant", "acme", str(write_bundle(tmp_path))])
    assert result.exit_code == 1
    assert "crm-platform tenant create acme" in result.output
    assert _versions(engine) == 0


def test_import_of_a_bad_bundle_prints_the_problems_and_changes_nothing(
    cli: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    assert cli.invoke(main, ["tenant", "create", "acme", "--name-en", "Acme"]).exit_code == 0
    result = cli.invoke(main, ["config", "import", "--tenant", "acme", str(_bad_bundle(tmp_path))])
    assert result.exit_code == 1
    assert "[ref.unknown_entity]" in result.output and "nothing was imported" in result.output
    assert _versions(engine) == 0


def test_import_diff_and_export_round_trip(cli: CliRunner, engine: Engine, tmp_path: Path) -> None:
    assert cli.invoke(main, ["tenant", "create", "acme", "--name-en", "Acme"]).exit_code == 0
    bundle = write_bundle(tmp_path)
    diff = cli.invoke(main, ["config", "diff", "--tenant", "acme", str(bundle)])
    assert diff.exit_code == 0, diff.output
    assert "+ org_unit/group (added)" in diff.output
    assert "+ entity/customer (added)" in diff.output

    imported = cli.invoke(
        main, ["config", "import", "--tenant", "acme", "--author", "ops", str(bundle)]
    )
    assert imported.exit_code == 0, imported.output
    assert f"org units: {len(UNITS)} created" in imported.output
    assert "layers/hq: published version 1 (3 documents)" in imported.output

    again = cli.invoke(main, ["config", "import", "--tenant", "acme", str(bundle)])
    assert again.exit_code == 0
    assert "nothing to import" in again.output
    assert _versions(engine) == 2
    assert (
        "no changes" in cli.invoke(main, ["config", "diff", "--tenant", "acme", str(bundle)]).output
    )

    out = tmp_path / "exported"
    exported = cli.invoke(main, ["config", "export", "--tenant", "acme", str(out)])
    assert exported.exit_code == 0, exported.output
    check = cli.invoke(main, ["config", "validate", str(out)])
    assert check.exit_code == 0, check.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["tenant"] == {"key": "acme", "name": {"en": "Acme"}}


def test_diff_prints_the_table_migration_the_import_would_run(
    cli: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    assert cli.invoke(main, ["tenant", "create", "acme", "--name-en", "Acme"]).exit_code == 0
    bundle = write_bundle(tmp_path)
    first = cli.invoke(main, ["config", "diff", "--tenant", "acme", str(bundle)])
    assert first.exit_code == 0, first.output
    assert "Table migration plan:" in first.output
    assert "create the table of entity customer" in first.output

    assert cli.invoke(main, ["config", "import", "--tenant", "acme", str(bundle)]).exit_code == 0
    changed = write_bundle(
        tmp_path / "changed",
        layers={None: [customer_entity(fields=[*customer_entity()["fields"], _phone()])]},
    )
    second = cli.invoke(main, ["config", "diff", "--tenant", "acme", str(changed)])
    assert second.exit_code == 0, second.output
    assert "add column" in second.output and "customer.phone" in second.output
    assert (
        "Table migration plan: no change"
        in cli.invoke(main, ["config", "diff", "--tenant", "acme", str(bundle)]).output
    )


def _phone() -> dict:
    return {"key": "phone", "label": {"en": "Phone"}, "type": "phone"}
