"""The `crm-platform` console script.

Each command group lives in its own module; this module only assembles them.
"""

from __future__ import annotations

import click

from crm_platform.cli import config_commands, server_commands, tenant_commands, worker_commands


@click.group(help="Administer the multi-organization CRM platform.")
def main() -> None:
    """Entry point of the `crm-platform` console script."""


main.add_command(config_commands.config)
main.add_command(tenant_commands.tenant)
main.add_command(worker_commands.worker)
for command in server_commands.COMMANDS:
    main.add_command(command)
