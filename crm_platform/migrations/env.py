"""Alembic environment of the platform tables (tenants, org tree, config layers, users...).

`upgrade_database` hands over an open connection in ``config.attributes``; run
from the command line, the URL comes from ``sqlalchemy.url`` or `DATABASE_URL`.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from crm_platform.db import make_engine
from crm_platform.migrations import include_name_for_compare, platform_tables_metadata
from crm_platform.settings import Settings

config = context.config
target_metadata = platform_tables_metadata()


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        include_name=include_name_for_compare,
        compare_type=True,
        **kwargs,
    )


def run_offline() -> None:
    """Emit the SQL of the migrations instead of running it (`alembic upgrade --sql`)."""
    url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    _configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations on the connection handed over, or on a new one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    engine = make_engine(url)
    try:
        with engine.begin() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
