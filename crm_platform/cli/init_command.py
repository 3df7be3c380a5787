"""`crm-platform init [--demo]`: bring the database to the current schema, optionally with the demo.

`make run` calls ``init --demo`` before serving: the first run creates the demo
tenant with its users and records and prints the sign-ins; later runs find the
tenant, keep its data and print the sign-ins again.
"""

from __future__ import annotations

import time

import click
from sqlalchemy.engine import make_url

from crm_platform.cli import context
from crm_platform.errors import CrmPlatformError
from crm_platform.runtime.demo_data import (
    DEFAULT_CUSTOMERS,
    DEFAULT_SEED,
    DEFAULT_TENANT_KEY,
    DemoTenant,
    install_demo,
)

SERVE_URL = "http://127.0.0.1:5000"
"""Where `make run` serves the application (`crm-platform serve` defaults)."""


@click.command(help="Create or upgrade the platform tables; with --demo, add the demo tenant.")
@click.option("--demo", is_flag=True, help="Create the demo tenant with users and data if absent.")
@click.option(
    "--tenant",
    "tenant_key",
    default=DEFAULT_TENANT_KEY,
    show_default=True,
    help="Key of the demo tenant.",
)
@click.option(
    "--customers",
    default=DEFAULT_CUSTOMERS,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many demo customers to generate (each with contacts, deals, orders, cases).",
)
@click.option(
    "--seed",
    default=DEFAULT_SEED,
    show_default=True,
    type=int,
    help="Seed of the demo values; the same seed gives the same data.",
)
def init(demo: bool, tenant_key: str, customers: int, seed: int) -> None:
    """Upgrade the database to the current schema (idempotent); with --demo, install the demo."""
    from crm_platform.migrations import upgrade_database
    from crm_platform.services import build_platform

    started = time.perf_counter()
    settings = context.settings()
    engine = context.engine()
    try:
        upgrade_database(engine)
        click.echo(f"database ready: {_redacted(settings.database_url)}")
        if not demo:
            return
        platform = build_platform(engine)
        click.echo(f"preparing demo tenant {tenant_key!r}...")
        result = install_demo(
            engine,
            platform.records,
            tenant_key,
            customers=customers,
            seed=seed,
            progress=lambda message: click.echo(
                f"  {message} ({time.perf_counter() - started:.1f} s)"
            ),
        )
    except CrmPlatformError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    _report(result, time.perf_counter() - started)


def _report(result: DemoTenant, seconds: float) -> None:
    if result.created:
        made = ", ".join(f"{count:,} {entity}" for entity, count in result.counts.items())
        click.echo(f"  records created: {made}")
        click.echo(f"demo tenant {result.key!r} created in {seconds:.1f} s")
    else:
        click.echo(f"demo tenant {result.key!r} already exists: its data was kept")
    if not result.sign_ins:
        click.echo(f"tenant {result.key!r} has no demo users to sign in with")
        return
    click.echo("")
    click.echo(
        f"Sign in at {SERVE_URL} (served by `make run` or `crm-platform serve`) as any of "
        f"these {len(result.sign_ins)} users,"
    )
    click.echo(f"each with the password: {result.password}")
    click.echo("")
    width = max(len(item.email) for item in result.sign_ins)
    roles = max(len(item.role) for item in result.sign_ins)
    units = max(len(item.unit_key) for item in result.sign_ins)
    click.echo(f"{'email':<{width}}  {'role':<{roles}}  {'unit':<{units}}  name")
    for item in result.sign_ins:
        # Chinese text last: its display width differs from its length, so it is not padded.
        unit_name = item.unit_name.get("zh-Hans") or item.unit_name.get("en", "")
        click.echo(
            f"{item.email:<{width}}  {item.role:<{roles}}  {item.unit_key:<{units}}  "
            f"{item.display_name} · {unit_name}"
        )
    click.echo("")


def _redacted(url: str) -> str:
    # Never print a database password to a terminal that may be shared or logged.
    return make_url(url).render_as_string(hide_password=True)
