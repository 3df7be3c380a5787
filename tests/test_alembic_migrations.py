"""The Alembic revisions create exactly the platform tables the table modules declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from crm_platform.db import make_engine
from crm_platform.migrations import (
    current_revision,
    include_name_for_compare,
    platform_tables_metadata,
    upgrade_database,
)


def test_upgrade_head_on_an_empty_database_matches_the_table_modules(database_url: str) -> None:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        metadata = platform_tables_metadata()
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_name": include_name_for_compare}
            )
            differences = compare_metadata(context, metadata)
            tables = set(inspect(connection).get_table_names())
        assert differences == []
        assert set(metadata.tables) <= tables
        assert current_revision(engine) is not None
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        first = current_revision(engine)
        upgrade_database(engine)
        assert current_revision(engine) == first
    finally:
        engine.dispose()
