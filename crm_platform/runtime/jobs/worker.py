"""The rq worker of the platform, and the scheduler-driven periodic schedules.

A periodic schedule is a chain of "tick" jobs in rq's scheduled registry: each
tick schedules the next one and then enqueues the task (once per tenant). Tick
ids name the schedule and the aligned run time, and are scheduled with rq's
`unique=True`, so any number of workers keep exactly one chain per schedule and
a worker that starts after Redis lost the chain starts it again. Nothing a
second worker needs is kept in process memory.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from redis import Redis
from rq import Worker
from rq.exceptions import DuplicateJobError
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from sqlalchemy import Engine, select

from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.jobs import state
from crm_platform.runtime.jobs.client import SERIALIZER, JobClient, rq_queue
from crm_platform.runtime.jobs.entry import perform_queued_job, worker_engine
from crm_platform.runtime.jobs.tasks import PERIODIC, PeriodicTask, import_task_modules

log = logging.getLogger(__name__)

_PERFORM_PATH = f"{perform_queued_job.__module__}.{perform_queued_job.__qualname__}"

WORKER_LOST_ERROR = (
    "WorkerLost: the worker process running this job ended before the job did "
    "(it ran past its timeout or was killed); see the worker log"
)


class PlatformWorker(Worker):
    """rq's forking worker, which also records jobs whose work horse died mid-run.

    A job that raises records its own failure; one whose process was killed
    (timeout, out of memory, a signal) cannot, so the worker marks it here.
    """

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: StartedJobRegistry | None = None,
        exc_string: str = "",
        execution: Execution | None = None,
    ) -> None:
        """Let rq fail or retry the job, then record it if its attempt could not."""
        will_retry = job.should_retry and self._stopped_job_id != job.id
        super().handle_job_failure(
            job,
            queue,
            started_job_registry=started_job_registry,
            exc_string=exc_string,
            execution=execution,
        )
        if job.func_name == _PERFORM_PATH:
            state.record_failure(
                worker_engine(),
                job.id,
                error=WORKER_LOST_ERROR,
                traceback_text=exc_string or None,
                will_retry=will_retry,
                only_if_running=True,
            )


def run_worker(
    redis_url: str,
    queues: Sequence[str],
    *,
    burst: bool = False,
    with_scheduler: bool = True,
    import_modules: Iterable[str] = (),
    logging_level: str = "INFO",
) -> bool:
    """Work the named queues until stopped (or, with `burst`, until they are empty).

    Imports the platform's task modules and `import_modules` first, so their
    periodic schedules on these queues are (re)started. Returns True when the
    worker ran any job.
    """
    import_task_modules(import_modules)
    connection = Redis.from_url(redis_url)
    ensure_periodic_schedules(connection, queues)
    worker = PlatformWorker(
        [rq_queue(connection, name) for name in queues],
        connection=connection,
        serializer=SERIALIZER,
    )
    return worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=logging_level)


def ensure_periodic_schedules(connection: Redis, queues: Iterable[str]) -> list[str]:
    """Make sure every registered periodic schedule on `queues` has its next tick scheduled.

    Returns the names of the schedules whose tick this call added (the others had one).
    """
    wanted = set(queues)
    started = []
    for schedule in PERIODIC.values():
        if schedule.queue in wanted and _schedule_tick(connection, schedule, state.utcnow()):
            started.append(schedule.name)
    return started


def tick_job_id(schedule: PeriodicTask, run_at: datetime) -> str:
    """The rq job id of the tick of `schedule` due at `run_at`.

    rq ids allow only letters, digits, `_` and `-`; the digest keeps names that
    differ only in other characters apart.
    """
    readable = re.sub(r"[^A-Za-z0-9_]", "_", schedule.name)
    digest = hashlib.sha256(schedule.name.encode()).hexdigest()[:8]
    return f"crm-periodic-{readable}-{digest}-{int(run_at.timestamp())}"


def _schedule_tick(connection: Redis, schedule: PeriodicTask, after: datetime) -> bool:
    run_at = schedule.next_run_after(after)
    try:
        rq_queue(connection, schedule.queue).enqueue_at(
            run_at,
            run_periodic_tick,
            args=(schedule.name, schedule.module),
            job_id=tick_job_id(schedule, run_at),
            description=f"periodic {schedule.name}",
            result_ttl=0,
            unique=True,
        )
    except DuplicateJobError:
        return False
    return True


def run_periodic_tick(name: str, module: str) -> list[str]:
    """One run of periodic schedule `name`: schedule the next run, then enqueue its jobs.

    The next tick is scheduled first so that a failure while enqueueing (the
    database is down) costs this run, not the schedule. Returns the job ids.
    """
    import_task_modules((module,))
    schedule = PERIODIC.get(name)
    if schedule is None:
        # The schedule was removed from the code: let its chain of ticks end here.
        log.warning("periodic %s is no longer registered by %s; not rescheduling it", name, module)
        return []
    client = JobClient(worker_engine(), connection=_current_connection())
    assert client.connection is not None
    _schedule_tick(client.connection, schedule, state.utcnow())
    job_ids = []
    for tenant_id in _tenants_of(client.engine, schedule):
        handle = client.enqueue(
            schedule.task,
            *schedule.args,
            tenant_id=tenant_id,
            queue=schedule.queue,
            **dict(schedule.kwargs),
        )
        job_ids.append(handle.id)
    log.info("periodic %s enqueued %d job(s)", name, len(job_ids))
    return job_ids


def _current_connection() -> Redis:
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        raise RuntimeError("run_periodic_tick runs inside an rq worker only")
    return job.connection


def _tenants_of(engine: Engine, schedule: PeriodicTask) -> list[int]:
    if schedule.tenant_id is not None:
        return [schedule.tenant_id]
    with engine.connect() as conn:
        return list(conn.execute(select(Tenant.id).order_by(Tenant.id)).scalars())
