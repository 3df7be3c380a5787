"""Shared fixtures: every database test runs on SQLite and, where configured, on PostgreSQL.

PostgreSQL and Redis come from `TEST_POSTGRES_URL` and `TEST_REDIS_URL` (`.ci/run`
sets both). Without them the tests that need them are skipped locally; with `CI`
set, a missing or unreachable service fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from crm_platform.db import create_platform_tables, make_engine

IN_CI = bool(os.environ.get("CI"))


def _unavailable(service: str, why: str) -> None:
    message = f"{service} is not available for the tests: {why}"
    if IN_CI:
        pytest.fail(message + " (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    admin_url = os.environ.get("TEST_POSTGRES_URL")
    if not admin_url:
        _unavailable("PostgreSQL", "TEST_POSTGRES_URL is not set")
    assert admin_url is not None
    name = f"crm_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure means unavailable
        _unavailable("PostgreSQL", f"{admin_url}: {exc}")
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        schemas = conn.execute(
            text(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                "AND nspname <> 'information_schema'"
            )
        ).scalars()
        for schema in list(schemas):
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """An empty database: a SQLite file, or the session's PostgreSQL database wiped clean."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    url: str = request.getfixturevalue("postgres_server_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on an empty database with the platform tables created."""
    eng = make_engine(database_url)
    create_platform_tables(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server the job tests use; they isolate themselves by queue and key prefix."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        _unavailable("Redis", "TEST_REDIS_URL is not set")
    assert url is not None
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except Exception as exc:  # noqa: BLE001
        _unavailable("Redis", f"{url}: {exc}")
    return url
