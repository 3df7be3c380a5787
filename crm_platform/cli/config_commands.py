"""`crm-platform config validate|export|import|diff`."""

from __future__ import annotations

import click


@click.group(help="Validate, export, import and diff configuration bundles.")
def config() -> None:
    """Configuration bundle commands."""
