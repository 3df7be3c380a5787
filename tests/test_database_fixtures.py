"""The database fixtures give each test an empty database with the platform tables."""

from __future__ import annotations

from sqlalchemy import Engine, inspect


def test_platform_tables_exist_in_a_fresh_database(engine: Engine) -> None:
    names = set(inspect(engine).get_table_names())
    assert {"tenants", "org_units", "org_unit_closure", "config_layers", "users"} <= names
