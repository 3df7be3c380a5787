"""Enqueueing tasks: onto rq queues when Redis is configured, inline otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from redis import Redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer
from sqlalchemy import Engine

from crm_platform.runtime.jobs import execution, state
from crm_platform.runtime.jobs.entry import perform_queued_job
from crm_platform.runtime.jobs.errors import SchedulingUnavailable
from crm_platform.runtime.jobs.tasks import Task, resolve_task

if TYPE_CHECKING:
    from crm_platform.settings import Settings

SERIALIZER = JSONSerializer
"""rq payloads are JSON: a worker never unpickles what it reads from Redis."""

FAILED_JOB_TTL = 7 * 24 * 3600
"""Seconds rq keeps a failed job in its registry; the outcome itself lives in `job_runs`."""


def rq_queue(connection: Redis, name: str) -> Queue:
    """The rq queue `name` with the platform's serializer."""
    return Queue(name, connection=connection, serializer=SERIALIZER)


@dataclass(frozen=True)
class JobHandle:
    """The receipt of an enqueued job; read its progress with `job_status(engine, handle.id)`.

    `queue` is None when the job ran inline (no Redis): it has already finished.
    """

    id: str
    task: str
    tenant_id: int
    queue: str | None


class JobClient:
    """Enqueues tasks for a tenant: onto rq when `redis_url` is given, inline otherwise.

    Inline, `enqueue` runs the task (with its retries, without waiting between
    them) before it returns. Delayed jobs need the scheduler of a worker, so
    without Redis `enqueue_in`/`enqueue_at` raise `SchedulingUnavailable`, unless
    `run_delayed_inline` is set, which runs them at once (for development and tests).

    Enqueue after committing the transaction that wrote what the task reads: a
    worker may start the job before the caller's commit, and inline on SQLite the
    job would wait for the caller's write lock.
    """

    def __init__(
        self,
        engine: Engine,
        redis_url: str | None = None,
        *,
        connection: Redis | None = None,
        run_delayed_inline: bool = False,
    ) -> None:
        self.engine = engine
        self.run_delayed_inline = run_delayed_inline
        if connection is None and redis_url:
            connection = Redis.from_url(redis_url)
        self.connection = connection

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings, **options: Any) -> JobClient:
        """A client on the process' configured Redis (`REDIS_URL`), or inline without it."""
        return cls(engine, settings.redis_url, **options)

    @property
    def inline(self) -> bool:
        """True when jobs run in the calling process because no Redis is configured."""
        return self.connection is None

    def enqueue(
        self,
        task: Task | str,
        /,
        *args: Any,
        tenant_id: int,
        queue: str | None = None,
        **kwargs: Any,
    ) -> JobHandle:
        """Run `task(ctx, *args, **kwargs)` for `tenant_id` in the background.

        `queue` overrides the task's queue. Arguments must be JSON values.
        """
        return self._submit(task, args, kwargs, tenant_id=tenant_id, queue=queue, when=None)

    def enqueue_in(
        self,
        delay: timedelta,
        task: Task | str,
        /,
        *args: Any,
        tenant_id: int,
        queue: str | None = None,
        **kwargs: Any,
    ) -> JobHandle:
        """Run `task` for `tenant_id` once `delay` has passed (needs a worker's scheduler)."""
        when = state.utcnow() + delay
        return self._submit(task, args, kwargs, tenant_id=tenant_id, queue=queue, when=when)

    def enqueue_at(
        self,
        when: datetime,
        task: Task | str,
        /,
        *args: Any,
        tenant_id: int,
        queue: str | None = None,
        **kwargs: Any,
    ) -> JobHandle:
        """Run `task` for `tenant_id` at `when`, an aware datetime (needs the scheduler)."""
        if when.tzinfo is None:
            raise ValueError("enqueue_at needs an aware datetime (for example in UTC)")
        return self._submit(task, args, kwargs, tenant_id=tenant_id, queue=queue, when=when)

    def status(self, job_id: str, tenant_id: int | None = None) -> state.JobStatus:
        """The current state of a job (see `job_status`)."""
        return state.job_status(self.engine, job_id, tenant_id)

    def _submit(
        self,
        task_or_name: Task | str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        tenant_id: int,
        queue: str | None,
        when: datetime | None,
    ) -> JobHandle:
        task = resolve_task(task_or_name)
        if when is not None and when.microsecond:
            # rq's scheduler keeps whole seconds and would start the job up to a second early.
            when = when.replace(microsecond=0) + timedelta(seconds=1)
        arguments = list(args)
        state.check_json(task.name, "the positional arguments", arguments)
        state.check_json(task.name, "the keyword arguments", kwargs)
        inline = self.connection is None
        if inline and when is not None and not self.run_delayed_inline:
            raise SchedulingUnavailable(task.name)
        queue_name = None if inline else queue or task.queue
        job_id = state.new_job_id()
        state.create_run(
            self.engine,
            job_id=job_id,
            tenant_id=tenant_id,
            task=task.name,
            queue=queue_name,
            args=arguments,
            kwargs=kwargs,
            max_attempts=task.retry.max_attempts,
            scheduled_for=None if inline else when,
        )
        if inline:
            # Without Redis the job runs now, in this process; its state is kept all the same.
            execution.run_inline(self.engine, job_id)
        else:
            assert queue_name is not None
            try:
                self._put_on_queue(task, job_id, tenant_id, queue_name, when)
            except BaseException:
                state.delete_run(self.engine, job_id)
                raise
        return JobHandle(id=job_id, task=task.name, tenant_id=tenant_id, queue=queue_name)

    def _put_on_queue(
        self, task: Task, job_id: str, tenant_id: int, queue_name: str, when: datetime | None
    ) -> None:
        assert self.connection is not None
        rq_options: dict[str, Any] = {
            "args": (job_id, task.module),
            "job_id": job_id,
            "description": f"{task.name} for tenant {tenant_id}",
            "result_ttl": 0,
            "failure_ttl": FAILED_JOB_TTL,
        }
        if task.retry.max:
            rq_options["retry"] = Retry(max=task.retry.max, interval=list(task.retry.intervals))
        if task.timeout is not None:
            rq_options["job_timeout"] = task.timeout
        target = rq_queue(self.connection, queue_name)
        if when is None:
            target.enqueue(perform_queued_job, **rq_options)
        else:
            target.enqueue_at(when, perform_queued_job, **rq_options)
