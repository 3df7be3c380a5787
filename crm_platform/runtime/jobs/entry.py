"""What an rq worker calls: the job's attempt, with an engine built from the environment.

rq refers to these functions by their dotted path; job payloads carry only the
job id and the task's module, and everything else is read from `job_runs`.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.pool import NullPool

from crm_platform.db import make_engine
from crm_platform.runtime.jobs import execution
from crm_platform.settings import Settings

_engine: Engine | None = None


def worker_engine() -> Engine:
    """The engine of this worker, on `DATABASE_URL` (`Settings.from_env()`).

    It keeps no pooled connections: rq forks a work horse per job, and a pooled
    connection inherited across a fork would be shared by two processes.
    """
    global _engine  # noqa: PLW0603 - one engine per worker process, made on its first job
    if _engine is None:
        _engine = make_engine(Settings.from_env().database_url, poolclass=NullPool)
    return _engine


def perform_queued_job(job_id: str, module: str | None = None) -> None:
    """Run one attempt of job `job_id` in a worker; raise its error so rq retries it."""
    from rq import get_current_job

    rq_job = get_current_job()
    outcome = execution.run_attempt(
        worker_engine(),
        job_id,
        module,
        queue_will_retry=rq_job is None or rq_job.should_retry,
    )
    if outcome.exception is None:
        return
    if rq_job is not None and not outcome.will_retry:
        # The record says failed for good (say, an invalid result); keep rq from retrying anyway.
        rq_job.retries_left = 0
    raise outcome.exception
