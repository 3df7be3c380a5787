"""`crm-platform config validate|export|import|diff`: configuration bundles on disk.

A bad bundle prints every problem on its own line (``file#pointer: message
[code]``) and exits non-zero; nothing is written to the database.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import Engine, select

from crm_platform.cli import context
from crm_platform.designer.previews import migration_preview
from crm_platform.errors import CrmPlatformError, Problem
from crm_platform.metadata.bundles import (
    Bundle,
    diff_bundle,
    export_bundle,
    import_bundle,
    read_bundle,
    validate_bundle,
)
from crm_platform.metadata.errors import ConfigurationInvalid
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.migrations import MigrationHook, describe_plan

_DIRECTORY = click.Path(file_okay=False, path_type=Path)


@click.group(help="Validate, export, import and diff configuration bundles.")
def config() -> None:
    """Configuration bundle commands."""


@config.command("validate", help="Check a bundle without touching the database.")
@click.argument("directory", type=_DIRECTORY)
def validate(directory: Path) -> None:
    """Validate the bundle in DIRECTORY: files, checksums, schemas, references, locks."""
    problems = validate_bundle(directory)
    if problems:
        _fail(problems, f"{directory} is not a valid bundle")
    click.echo(f"{directory}: valid bundle ({_summary(read_bundle(directory))})")


@config.command("export", help="Write a tenant's published configuration as a bundle.")
@click.option("--tenant", "tenant_key", required=True, help="Key of the tenant to export.")
@click.argument("directory", type=_DIRECTORY)
def export(tenant_key: str, directory: Path) -> None:
    """Export tenant KEY into DIRECTORY (missing, empty, or an earlier bundle)."""
    with _engine() as engine:
        bundle = export_bundle(engine, tenant_key, directory)
    click.echo(f"exported tenant {tenant_key} to {directory} ({_summary(bundle)})")


@config.command("import", help="Validate a bundle, then apply all of it in one transaction.")
@click.option("--tenant", "tenant_key", required=True, help="Key of the tenant to import into.")
@click.option("--author", default=None, help="Recorded as the author of the new versions.")
@click.argument("directory", type=_DIRECTORY)
def import_(tenant_key: str, directory: Path, author: str | None) -> None:
    """Import the bundle in DIRECTORY into tenant KEY; a second import changes nothing."""
    problems = validate_bundle(directory)
    if problems:
        _fail(problems, f"{directory} is not a valid bundle; nothing was imported")
    with _engine() as engine:
        _require_tenant(engine, tenant_key)
        result = import_bundle(
            engine,
            tenant_key,
            directory,
            author=author or _default_author(),
            hooks=[MigrationHook(engine)],
        )
    click.echo(result.render())


@config.command("diff", help="Show what importing a bundle would change.")
@click.option("--tenant", "tenant_key", required=True, help="Key of the tenant to compare with.")
@click.argument("directory", type=_DIRECTORY)
def diff(tenant_key: str, directory: Path) -> None:
    """Compare the bundle in DIRECTORY with tenant KEY's org units and published layers."""
    with _engine() as engine:
        _require_tenant(engine, tenant_key)
        changes = diff_bundle(engine, tenant_key, directory)
        plan = migration_preview(engine, tenant_key, read_bundle(directory).layer_documents())
    click.echo(changes.render())
    steps = describe_plan(plan)
    click.echo("\nTable migration plan:" if steps else "\nTable migration plan: no change")
    for number, step in enumerate(steps, start=1):
        click.echo(f"  {number}. {step}")


@contextmanager
def _engine() -> Iterator[Engine]:
    """The configured engine, disposed at the end; platform errors become messages."""
    engine = context.engine()
    try:
        yield engine
    except ConfigurationInvalid as exc:
        _fail(exc.problems, exc.summary)
    except CrmPlatformError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()


def _require_tenant(engine: Engine, tenant_key: str) -> None:
    with engine.connect() as connection:
        found = connection.execute(select(Tenant.id).where(Tenant.key == tenant_key)).first()
    if found is None:
        raise click.ClickException(
            f"there is no tenant {tenant_key!r}; create it first with "
            f"`crm-platform tenant create {tenant_key} --name-en NAME`, then run this again"
        )


def _fail(problems: Sequence[Problem], summary: str) -> None:
    for problem in problems:
        click.echo(str(problem))
    raise click.ClickException(f"{summary} ({len(problems)} problem(s))")


def _summary(bundle: Bundle) -> str:
    documents = sum(len(layer.documents) for layer in bundle.layers)
    return (
        f"tenant {bundle.tenant_key}, {len(bundle.org_units)} org units, "
        f"{len(bundle.layers)} layers, {documents} documents"
    )


def _default_author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "crm-platform"
