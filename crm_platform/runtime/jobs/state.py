"""Job state in the `job_runs` table: every transition is one short transaction.

Any process (the web process, a worker, the enqueuing process in inline mode)
reads a job's progress and outcome from here by id.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Engine, RowMapping, Table, insert, select, update

from crm_platform.runtime.job_tables import JobRun
from crm_platform.runtime.jobs.errors import InvalidJobPayload, JobNotFound

MESSAGE_LENGTH = 500

_runs = cast(Table, JobRun.__table__)


class JobState(StrEnum):
    """Where a job stands. `retrying` means it failed and another attempt is coming."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """True once nothing more will happen to the job."""
        return self in (JobState.SUCCEEDED, JobState.FAILED)


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of one job, as the web layer shows it (progress bar, result or error).

    `error` is safe to show a user (exception type and message); `error_traceback`
    is for operators and logs only.
    """

    id: str
    tenant_id: int
    task: str
    queue: str | None
    state: JobState
    done: int
    total: int | None
    message: str
    result: Any
    error: str | None
    error_traceback: str | None
    attempts: int
    max_attempts: int
    created_at: datetime
    scheduled_for: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        """True once the job succeeded or failed for good."""
        return self.state.finished

    @property
    def fraction(self) -> float | None:
        """Progress between 0 and 1, or None while the total is unknown."""
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


def new_job_id() -> str:
    """A fresh job id (also used as the rq job id)."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def check_json(task: str, what: str, value: Any) -> None:
    """Raise `InvalidJobPayload` unless `value` survives a JSON round trip unchanged."""
    try:
        round_trip = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidJobPayload(task, f"{what} is not JSON ({exc})") from None
    if round_trip != value:
        raise InvalidJobPayload(
            task, f"{what} changes in JSON (tuples become lists, keys become strings)"
        )


def create_run(
    engine: Engine,
    *,
    job_id: str,
    tenant_id: int,
    task: str,
    queue: str | None,
    args: list[Any],
    kwargs: dict[str, Any],
    max_attempts: int,
    scheduled_for: datetime | None = None,
) -> None:
    """Record a new job before it is handed to a queue, so its id is readable at once."""
    with engine.begin() as conn:
        conn.execute(
            insert(_runs).values(
                id=job_id,
                tenant_id=tenant_id,
                task=task,
                queue=queue,
                payload={"args": args, "kwargs": kwargs},
                status=JobState.SCHEDULED if scheduled_for else JobState.QUEUED,
                done=0,
                total=None,
                message="",
                attempts=0,
                max_attempts=max_attempts,
                created_at=utcnow(),
                scheduled_for=scheduled_for,
            )
        )


def delete_run(engine: Engine, job_id: str) -> None:
    """Forget a job that never reached its queue (enqueueing it failed)."""
    with engine.begin() as conn:
        conn.execute(_runs.delete().where(_runs.c.id == job_id))


@dataclass(frozen=True)
class ClaimedRun:
    """What an attempt needs to know about its job, read when the attempt starts."""

    job_id: str
    tenant_id: int
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempt: int
    max_attempts: int


def claim_attempt(engine: Engine, job_id: str) -> ClaimedRun | None:
    """Mark the job running and count the attempt; None if it already finished."""
    with engine.begin() as conn:
        row = conn.execute(select(_runs).where(_runs.c.id == job_id)).mappings().first()
        if row is None:
            raise JobNotFound(job_id)
        if JobState(row["status"]).finished:
            return None
        attempt = row["attempts"] + 1
        conn.execute(
            update(_runs)
            .where(_runs.c.id == job_id)
            .values(status=JobState.RUNNING, attempts=attempt, started_at=utcnow())
        )
    payload = row["payload"] or {}
    return ClaimedRun(
        job_id=job_id,
        tenant_id=row["tenant_id"],
        task=row["task"],
        args=list(payload.get("args", [])),
        kwargs=dict(payload.get("kwargs", {})),
        attempt=attempt,
        max_attempts=row["max_attempts"],
    )


def record_progress(
    engine: Engine, job_id: str, done: int, total: int | None, message: str
) -> None:
    """Store the latest progress of a running job."""
    with engine.begin() as conn:
        conn.execute(
            update(_runs)
            .where(_runs.c.id == job_id)
            .values(done=done, total=total, message=message[:MESSAGE_LENGTH])
        )


def record_success(
    engine: Engine, job_id: str, result: Any, progress: tuple[int, int | None, str] | None
) -> None:
    """The attempt returned `result`: the job succeeded."""
    values: dict[str, Any] = {
        "status": JobState.SUCCEEDED,
        "result": result,
        "error": None,
        "error_traceback": None,
        "finished_at": utcnow(),
    }
    values.update(_progress_values(progress))
    with engine.begin() as conn:
        conn.execute(update(_runs).where(_runs.c.id == job_id).values(**values))


def record_failure(
    engine: Engine,
    job_id: str,
    *,
    error: str,
    traceback_text: str | None,
    will_retry: bool,
    progress: tuple[int, int | None, str] | None = None,
    only_if_running: bool = False,
) -> None:
    """The attempt failed: the job waits for a retry, or failed for good."""
    values: dict[str, Any] = {
        "status": JobState.RETRYING if will_retry else JobState.FAILED,
        "error": error,
        "error_traceback": traceback_text,
        "finished_at": None if will_retry else utcnow(),
    }
    values.update(_progress_values(progress))
    statement = update(_runs).where(_runs.c.id == job_id)
    if only_if_running:
        statement = statement.where(_runs.c.status == JobState.RUNNING)
    with engine.begin() as conn:
        conn.execute(statement.values(**values))


def _progress_values(progress: tuple[int, int | None, str] | None) -> dict[str, Any]:
    if progress is None:
        return {}
    done, total, message = progress
    return {"done": done, "total": total, "message": message[:MESSAGE_LENGTH]}


def job_status(engine: Engine, job_id: str, tenant_id: int | None = None) -> JobStatus:
    """The current state of job `job_id`, from any process.

    With `tenant_id`, a job of another tenant is reported as not found, so a
    caller acting for one tenant never learns about another's jobs.
    """
    statement = select(_runs).where(_runs.c.id == job_id)
    if tenant_id is not None:
        statement = statement.where(_runs.c.tenant_id == tenant_id)
    with engine.connect() as conn:
        row = conn.execute(statement).mappings().first()
    if row is None:
        raise JobNotFound(job_id)
    return _status(row)


def recent_jobs(
    engine: Engine, tenant_id: int, *, task: str | None = None, limit: int = 50
) -> list[JobStatus]:
    """The tenant's latest jobs (optionally of one task), newest first."""
    statement = select(_runs).where(_runs.c.tenant_id == tenant_id)
    if task is not None:
        statement = statement.where(_runs.c.task == task)
    statement = statement.order_by(_runs.c.created_at.desc(), _runs.c.id).limit(limit)
    with engine.connect() as conn:
        return [_status(row) for row in conn.execute(statement).mappings()]


def _status(row: RowMapping) -> JobStatus:
    return JobStatus(
        id=row["id"],
        tenant_id=row["tenant_id"],
        task=row["task"],
        queue=row["queue"],
        state=JobState(row["status"]),
        done=row["done"],
        total=row["total"],
        message=row["message"],
        result=row["result"],
        error=row["error"],
        error_traceback=row["error_traceback"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        created_at=_aware(row["created_at"]),
        scheduled_for=_aware_or_none(row["scheduled_for"]),
        started_at=_aware_or_none(row["started_at"]),
        finished_at=_aware_or_none(row["finished_at"]),
    )


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _aware_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else _aware(moment)
