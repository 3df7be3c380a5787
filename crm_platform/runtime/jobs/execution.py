"""Running one attempt of a job, the same way in a worker and inline."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

from sqlalchemy import Engine

from crm_platform.runtime.jobs import state
from crm_platform.runtime.jobs.errors import InvalidJobPayload
from crm_platform.runtime.jobs.tasks import lookup_task
from crm_platform.runtime.principal import Principal

PROGRESS_WRITE_INTERVAL = 0.5
"""Seconds between progress writes; a task may report every row without flooding the database."""


class JobContext:
    """What a running task knows about its job: tenant, id, attempt, engine, and progress.

    `progress` writes at most every `PROGRESS_WRITE_INTERVAL` seconds; the last
    reported values are always written when the attempt ends.
    """

    def __init__(
        self, engine: Engine, *, job_id: str, tenant_id: int, task: str, attempt: int
    ) -> None:
        self.engine = engine
        self.job_id = job_id
        self.tenant_id = tenant_id
        self.task = task
        self.attempt = attempt
        self._pending: tuple[int, int | None, str] | None = None
        self._last_write = 0.0

    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """Report that `done` of `total` units are finished, with a short message for people."""
        if done < 0 or (total is not None and total < 0):
            raise ValueError(f"progress counts must be >= 0, got done={done}, total={total}")
        self._pending = (done, total, message)
        now = time.monotonic()
        if now - self._last_write >= PROGRESS_WRITE_INTERVAL:
            state.record_progress(self.engine, self.job_id, done, total, message)
            self._last_write = now
            self._pending = None

    def system_principal(self, reason: str | None = None) -> Principal:
        """The audited system principal of this job's tenant, for calls into the record service."""
        return Principal.system(self.tenant_id, reason or f"job {self.task} {self.job_id}")

    def unwritten_progress(self) -> tuple[int, int | None, str] | None:
        """The last progress report not yet in the database, if any."""
        return self._pending


@dataclass(frozen=True)
class AttemptOutcome:
    """How one attempt ended; `exception` is set when it failed."""

    ran: bool
    succeeded: bool
    will_retry: bool = False
    exception: BaseException | None = None


def run_attempt(
    engine: Engine,
    job_id: str,
    module: str | None = None,
    *,
    queue_will_retry: bool = True,
) -> AttemptOutcome:
    """Run the next attempt of job `job_id` and record how it went.

    `module` is imported when the task is not registered yet (a worker learns
    tasks from the job). `queue_will_retry` is False when the queue has no retry
    left for this job, so the record never promises a retry that will not come.
    A job that already finished is not run again (`ran` is False): rq may hand
    over a job twice after a worker died, and the first outcome stands.
    """
    claimed = state.claim_attempt(engine, job_id)
    if claimed is None:
        return AttemptOutcome(ran=False, succeeded=False)
    ctx = JobContext(
        engine,
        job_id=job_id,
        tenant_id=claimed.tenant_id,
        task=claimed.task,
        attempt=claimed.attempt,
    )
    try:
        task = lookup_task(claimed.task, module)
        result = task(ctx, *claimed.args, **claimed.kwargs)
        state.check_json(claimed.task, "the result", result)
    except Exception as exc:
        will_retry = (
            queue_will_retry
            and claimed.attempt < claimed.max_attempts
            and not isinstance(exc, InvalidJobPayload)
        )
        state.record_failure(
            engine,
            job_id,
            error=describe_error(exc),
            traceback_text=traceback.format_exc(),
            will_retry=will_retry,
            progress=ctx.unwritten_progress(),
        )
        return AttemptOutcome(ran=True, succeeded=False, will_retry=will_retry, exception=exc)
    state.record_success(engine, job_id, result, ctx.unwritten_progress())
    return AttemptOutcome(ran=True, succeeded=True)


def run_inline(engine: Engine, job_id: str) -> None:
    """Run a job to its end in this process, retrying at once up to its policy.

    Retry intervals are not waited for inline: the caller is usually a request,
    and the intervals exist to let a remote service recover, which a worker does better.
    """
    while run_attempt(engine, job_id).will_retry:
        pass


def describe_error(exc: BaseException) -> str:
    """The user-facing text of a failure: exception type and message, no traceback."""
    message = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {message}" if message else name
