"""Process configuration, read from the environment once at start-up."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_INSTANCE_PATH = Path.cwd() / "instance"


@dataclass(frozen=True)
class Settings:
    """Where the platform keeps its data and how it reaches its services."""

    database_url: str
    redis_url: str | None
    secret_key: str
    instance_path: Path

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, instance_path: Path | None = None
    ) -> Settings:
        """Build settings from `DATABASE_URL`, `REDIS_URL`, `SECRET_KEY` and `CRM_INSTANCE_PATH`.

        Without `DATABASE_URL` the embedded SQLite database under the instance folder
        is used; without `SECRET_KEY` one is generated once into the instance folder
        so that sessions survive a restart and every worker shares it.
        """
        env = os.environ if environ is None else environ
        instance = Path(instance_path or env.get("CRM_INSTANCE_PATH") or DEFAULT_INSTANCE_PATH)
        instance.mkdir(parents=True, exist_ok=True)
        database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'crm.sqlite3'}"
        redis_url = env.get("REDIS_URL") or None
        secret_key = env.get("SECRET_KEY") or _instance_secret(instance)
        return cls(database_url, redis_url, secret_key, instance)


def _instance_secret(instance: Path) -> str:
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
