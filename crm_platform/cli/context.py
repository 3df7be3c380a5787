"""What every command needs: settings and an engine with the platform tables in place."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine

from crm_platform.db import make_engine
from crm_platform.settings import Settings


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process settings, read from the environment once."""
    return Settings.from_env()


def engine() -> Engine:
    """An engine on the configured database."""
    return make_engine(settings().database_url)
