"""`crm-platform tenant create|list|drop`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import Engine, inspect

from crm_platform.cli import context
from crm_platform.errors import CrmPlatformError
from crm_platform.runtime.tenants import create_tenant, drop_tenant, get_tenant, list_tenants


@click.group(help="Create, list and drop tenants.")
def tenant() -> None:
    """Tenant commands."""


@contextmanager
def _engine() -> Iterator[Engine]:
    """The configured engine, disposed when the command ends; platform errors become messages."""
    engine = context.engine()
    try:
        if not inspect(engine).has_table("tenants"):
            raise click.ClickException(
                "the database has no platform tables yet; run `crm-platform init` first"
            )
        yield engine
    except CrmPlatformError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()


@tenant.command("create", help="Create a tenant and its namespace (schema or table prefix).")
@click.argument("key")
@click.option("--name-en", required=True, help="The tenant's name in English.")
@click.option("--name-zh", default=None, help="The tenant's name in Simplified Chinese.")
def create(key: str, name_en: str, name_zh: str | None) -> None:
    """Create tenant KEY."""
    name = {"en": name_en}
    if name_zh:
        name["zh-Hans"] = name_zh
    with _engine() as engine:
        created = create_tenant(engine, key, name)
    click.echo(f"created tenant {created.key} (namespace {created.namespace})")


@tenant.command("list", help="List every tenant.")
def list_() -> None:
    """One line per tenant: key, namespace, names."""
    with _engine() as engine, engine.connect() as connection:
        tenants = list_tenants(connection)
    if not tenants:
        click.echo("no tenants; create one with `crm-platform tenant create`")
    for item in tenants:
        names = " / ".join(item.name[lang] for lang in ("en", "zh-Hans") if lang in item.name)
        click.echo(f"{item.key}\t{item.namespace}\t{names}")


@tenant.command("drop", help="Drop a tenant: its tables, org, users and configuration.")
@click.argument("key")
def drop(key: str) -> None:
    """Drop tenant KEY after the key is typed twice."""
    with _engine() as engine:
        with engine.connect() as connection:
            get_tenant(connection, key)
        click.echo(f"This deletes every record, user and configuration of tenant {key!r}.")
        first = click.prompt("Type the tenant key to confirm")
        second = click.prompt("Type it again")
        if first != key or second != key:
            raise click.ClickException(
                f"the key was not typed as {key!r} twice; nothing was dropped"
            )
        drop_tenant(engine, key)
    click.echo(f"dropped tenant {key}")
