"""Engines and the declarative base for the platform's own tables.

Per-entity record tables are not declared here: `runtime.tables` generates them
from published metadata into each tenant's namespace.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Connection, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONDocument = JSON().with_variant(JSONB(), "postgresql")
"""JSON on SQLite, JSONB on PostgreSQL."""


class Base(DeclarativeBase):
    """Declarative base of the platform tables (tenants, org, config layers, users, audit)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine tuned for the platform's access patterns.

    SQLite gets WAL, foreign keys and a busy timeout so a web process and a worker
    can share the file. PostgreSQL connections disable psycopg's automatic
    server-side prepare: after five executions it lets the server switch to a
    generic plan, which ran org-scoped queries 10-100x slower because the plan no
    longer knows how large the scoped subtree is. Statements therefore go to the
    server unprepared and are planned for their actual parameters every time.
    JSON columns store decimals, dates and sets as the audit trail shows them
    (`json_default`), so an import's audit entries need no conversion pass.
    """
    kwargs.setdefault("json_serializer", _JSON_SERIALIZER)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql"):
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("prepare_threshold", None)
        # No pre-ping: it costs a round trip on every checkout, a third of a list
        # page's time; recycling connections hourly covers server-side timeouts, and
        # a connection broken by a database restart fails one request, not every one.
        kwargs.setdefault("pool_recycle", 3600)
    return create_engine(url, **kwargs)


def json_default(value: Any) -> Any:
    """The JSON form of the non-JSON values records hold: decimals as text, UTC ISO instants."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"a {type(value).__name__} cannot be stored as JSON")


_JSON_SERIALIZER = functools.partial(json.dumps, default=json_default)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from pysqlite, which would otherwise run DDL
    # outside any transaction; `_sqlite_begin` emits BEGIN itself so a table
    # rebuild or a bundle import is all-or-nothing.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


READ_STATEMENTS = {"crm_read_statements": True}
"""Execution options of a SQLite connection whose statements are each a read on their own.

Such a connection needs no BEGIN: each SELECT is atomic by itself, as on
PostgreSQL in autocommit, and the BEGIN would be a second statement per page.
"""


def reading_statements(connection: Connection) -> Connection:
    """`connection`, set to run each statement on its own: for reads that need no snapshot.

    PostgreSQL in autocommit, SQLite with `READ_STATEMENTS`: no BEGIN before the
    first statement and no ROLLBACK when the connection goes back to the pool,
    two round trips saved for a page that reads one statement at a time.
    """
    if connection.dialect.name == "postgresql":
        return connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection.execution_options(**READ_STATEMENTS)


def _sqlite_begin(connection: Any) -> None:
    if connection.get_execution_options().get("crm_read_statements"):
        return
    connection.exec_driver_sql("BEGIN")


def platform_metadata() -> MetaData:
    """The MetaData of every platform table, with all table modules imported."""
    from crm_platform.metadata import tables as _metadata_tables  # noqa: F401
    from crm_platform.runtime import job_tables as _job_tables  # noqa: F401
    from crm_platform.runtime import sign_in_tables as _sign_in_tables  # noqa: F401
    from crm_platform.runtime import tables as _runtime_tables  # noqa: F401

    return Base.metadata


def create_platform_tables(engine: Engine) -> None:
    """Create the platform tables directly (tests); `crm-platform init` runs Alembic instead."""
    platform_metadata().create_all(engine)
