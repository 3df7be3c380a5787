"""`crm-platform tenant create|list|drop`."""

from __future__ import annotations

import click


@click.group(help="Create, list and drop tenants.")
def tenant() -> None:
    """Tenant commands."""
