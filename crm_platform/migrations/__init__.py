"""Alembic migrations of the platform tables, and running them from code.

The revisions in ``versions/`` must create exactly the tables the table modules
declare; `tests/test_alembic_migrations.py` compares the two on both databases.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, MetaData

import crm_platform
from crm_platform.db import make_engine, platform_metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent
_TABLE_PACKAGES = ("metadata", "runtime", "designer")


def platform_tables_metadata() -> MetaData:
    """The MetaData of every platform table, importing every ``*tables`` module first.

    `platform_metadata()` imports the main table modules; modules added since
    (job runs, sign-in failures, ...) register on the same MetaData once
    imported, so the migrations and their test see them all.
    """
    root = Path(crm_platform.__file__).resolve().parent
    for package in _TABLE_PACKAGES:
        for module in pkgutil.iter_modules([str(root / package)]):
            if module.name.endswith("tables") and module.name != "entity_tables":
                importlib.import_module(f"crm_platform.{package}.{module.name}")
    return platform_metadata()


def include_name_for_compare(name: str | None, type_: str, _parent_names: object) -> bool:
    """Leave tenants' record tables out of comparisons: on SQLite they are named `ns__entity`."""
    return not (type_ == "table" and name is not None and "__" in name)


def alembic_config() -> Config:
    """The Alembic configuration of the platform tables, from the packaged alembic.ini."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_database(engine_or_url: Engine | str) -> None:
    """Run `alembic upgrade head` on the platform tables, in one transaction."""
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first upgrade."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
