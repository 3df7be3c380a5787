"""`crm-platform worker`: run an rq worker on the configured Redis and database."""

from __future__ import annotations

import sys

import click

from crm_platform.cli import context


@click.command(help="Run a background worker on REDIS_URL, with jobs reading DATABASE_URL.")
@click.option(
    "--queue",
    "queues",
    multiple=True,
    default=("default",),
    show_default=True,
    help="A queue to work on; repeat for several, in priority order.",
)
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option(
    "--with-scheduler/--no-scheduler",
    default=True,
    show_default=True,
    help="Also move delayed, retried and periodic jobs onto their queues when due.",
)
@click.option(
    "--import",
    "import_modules",
    multiple=True,
    metavar="MODULE",
    help="A module defining tasks or periodic schedules to import at start-up; repeatable.",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
)
def worker(
    queues: tuple[str, ...],
    burst: bool,
    with_scheduler: bool,
    import_modules: tuple[str, ...],
    log_level: str,
) -> None:
    """Work the queues until stopped (or until empty with --burst)."""
    from crm_platform.runtime.jobs import run_worker

    settings = context.settings()
    if not settings.redis_url:
        raise click.UsageError(
            "REDIS_URL is not set. Without Redis, jobs run inline in the process that "
            "enqueues them, so a worker has nothing to do; set REDIS_URL to use workers."
        )
    # rq imports task modules by name; make the working directory importable as
    # `python -m` would, so `--import` works for project-local modules.
    if "" not in sys.path:
        sys.path.insert(0, "")
    run_worker(
        settings.redis_url,
        queues,
        burst=burst,
        with_scheduler=with_scheduler,
        import_modules=import_modules,
        logging_level=log_level,
    )
