"""`crm-platform init`, `serve` and `worker`."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
