"""`python -m crm_platform.cli`, the same as the `crm-platform` console script."""

from __future__ import annotations

from crm_platform.cli import main

main()
