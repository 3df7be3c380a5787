"""The job layer: inline without Redis, and in real rq worker processes with Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import CliRunner
from redis import Redis
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import Engine, insert, select

from crm_platform.cli import context as cli_context
from crm_platform.cli import main as cli_main
from crm_platform.metadata.tables import Tenant
from crm_platform.runtime.job_tables import JobRun
from crm_platform.runtime.jobs import (
    InvalidJobPayload,
    JobClient,
    JobContext,
    JobNotFound,
    JobState,
    JobStatus,
    SchedulingUnavailable,
    ensure_periodic_schedules,
    job_status,
    periodic,
    recent_jobs,
    task,
)
from crm_platform.runtime.jobs.client import SERIALIZER, rq_queue
from crm_platform.runtime.jobs.tasks import PERIODIC
from crm_platform.runtime.jobs.worker import WORKER_LOST_ERROR, tick_job_id
from tests.runtime import jobs_tasks

ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
"""Worker tests whose database work the inline tests already run on both databases."""


def _tenant(engine: Engine, key: str) -> int:
    with engine.begin() as conn:
        return conn.execute(
            insert(Tenant)
            .values(
                key=key,
                name={"en": key},
                namespace=f"t_{key}",
                created_at=datetime.now(UTC),
            )
            .returning(Tenant.id)
        ).scalar_one()


@pytest.fixture
def tenant_id(engine: Engine) -> int:
    return _tenant(engine, "acme")


# --- inline: no Redis -------------------------------------------------------------------------


def test_inline_job_runs_at_once_and_its_result_and_progress_are_readable(
    engine: Engine, tenant_id: int
) -> None:
    handle = JobClient(engine).enqueue(jobs_tasks.count, 3, tenant_id=tenant_id, label="row")

    status = job_status(engine, handle.id)
    assert handle.queue is None
    assert status.state is JobState.SUCCEEDED
    assert (status.done, status.total, status.message) == (3, 3, "row 3 of 3")
    assert status.fraction == 1.0
    assert status.result["counted"] == 3
    assert status.result["tenant_id"] == tenant_id
    assert status.result["job_id"] == handle.id
    assert status.result["pid"] == os.getpid()
    assert (status.attempts, status.max_attempts) == (1, 1)
    assert status.created_at <= status.started_at <= status.finished_at


def test_inline_failing_task_is_retried_per_its_policy_and_ends_failed_with_its_error(
    engine: Engine, tenant_id: int
) -> None:
    handle = JobClient(engine).enqueue("tests.jobs.always_fails", "no mailbox", tenant_id=tenant_id)

    status = job_status(engine, handle.id)
    assert status.state is JobState.FAILED
    assert status.attempts == status.max_attempts == 3
    assert status.error == "ValueError: no mailbox (attempt 3)"
    assert "Traceback" in status.error_traceback
    assert "Traceback" not in status.error
    assert (status.done, status.message) == (3, "attempt 3")
    assert status.result is None


def test_inline_task_failing_once_succeeds_on_its_second_attempt(
    engine: Engine, tenant_id: int
) -> None:
    handle = JobClient(engine).enqueue(jobs_tasks.fails_once, tenant_id=tenant_id)

    status = job_status(engine, handle.id)
    assert status.state is JobState.SUCCEEDED
    assert status.attempts == 2
    assert status.result == {"attempt": 2}
    assert status.error is None


def test_inline_delayed_job_is_refused_unless_running_it_now_is_allowed(
    engine: Engine, tenant_id: int
) -> None:
    with pytest.raises(SchedulingUnavailable, match="REDIS_URL"):
        JobClient(engine).enqueue_in(timedelta(minutes=5), jobs_tasks.count, 1, tenant_id=tenant_id)
    with engine.connect() as conn:
        assert conn.execute(select(JobRun.id)).all() == []

    eager = JobClient(engine, run_delayed_inline=True)
    handle = eager.enqueue_at(
        datetime.now(UTC) + timedelta(hours=1), jobs_tasks.count, 2, tenant_id=tenant_id
    )
    assert eager.status(handle.id).state is JobState.SUCCEEDED


def test_job_of_another_tenant_is_not_found(engine: Engine, tenant_id: int) -> None:
    other = _tenant(engine, "globex")
    handle = JobClient(engine).enqueue(jobs_tasks.count, 1, tenant_id=tenant_id)

    assert job_status(engine, handle.id, tenant_id=tenant_id).state is JobState.SUCCEEDED
    with pytest.raises(JobNotFound):
        job_status(engine, handle.id, tenant_id=other)
    with pytest.raises(JobNotFound):
        job_status(engine, str(uuid.uuid4()))


def test_recent_jobs_lists_only_the_tenants_own_newest_first(
    engine: Engine, tenant_id: int
) -> None:
    other = _tenant(engine, "globex")
    client = JobClient(engine)
    first = client.enqueue(jobs_tasks.count, 1, tenant_id=tenant_id)
    second = client.enqueue(jobs_tasks.fails_once, tenant_id=tenant_id)
    client.enqueue(jobs_tasks.count, 1, tenant_id=other)

    assert [job.id for job in recent_jobs(engine, tenant_id)] == [second.id, first.id]
    assert [job.id for job in recent_jobs(engine, tenant_id, task="tests.jobs.count")] == [first.id]
    assert [job.id for job in recent_jobs(engine, tenant_id, limit=1)] == [second.id]


def test_arguments_that_are_not_json_are_refused_before_anything_is_recorded(
    engine: Engine, tenant_id: int
) -> None:
    client = JobClient(engine)
    with pytest.raises(InvalidJobPayload, match="positional arguments"):
        client.enqueue(jobs_tasks.count, datetime.now(UTC), tenant_id=tenant_id)
    with pytest.raises(InvalidJobPayload, match="changes in JSON"):
        client.enqueue(jobs_tasks.count, (1, 2), tenant_id=tenant_id)
    with engine.connect() as conn:
        assert conn.execute(select(JobRun.id)).all() == []


def test_result_that_is_not_json_fails_the_job_without_retrying(
    engine: Engine, tenant_id: int
) -> None:
    handle = JobClient(engine).enqueue(jobs_tasks.returns_a_set, tenant_id=tenant_id)

    status = job_status(engine, handle.id)
    assert status.state is JobState.FAILED
    assert status.attempts == 1
    assert status.error.startswith("InvalidJobPayload: task 'tests.jobs.returns_a_set': the result")


def test_task_declaring_a_reserved_job_option_is_rejected_at_registration() -> None:
    with pytest.raises(TypeError, match="tenant_id"):

        @task(name="tests.jobs.bad_signature")
        def bad(ctx: JobContext, tenant_id: int) -> None:
            """Would shadow the job option."""


def test_two_functions_cannot_share_a_task_name() -> None:
    with pytest.raises(ValueError, match="already used"):

        @task(name="tests.jobs.count")
        def impostor(ctx: JobContext) -> None:
            """Not the real counter."""


def test_worker_without_redis_explains_that_jobs_run_inline(tmp_path: Path) -> None:
    env = {"REDIS_URL": "", "CRM_INSTANCE_PATH": str(tmp_path), "DATABASE_URL": ""}
    cli_context.settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_main, ["worker", "--burst"], env=env)
    finally:
        cli_context.settings.cache_clear()
    assert result.exit_code == 2
    assert "REDIS_URL is not set" in result.output
    assert "inline" in result.output


# --- with Redis and worker processes -----------------------------------------------------------


@dataclass
class RedisQueue:
    """A queue name of this test alone, and the Redis keys to drop afterwards."""

    name: str
    connection: Redis
    extra_patterns: list[str] = field(default_factory=list)


@pytest.fixture
def queue(redis_url: str) -> Iterator[RedisQueue]:
    connection = Redis.from_url(redis_url)
    q = RedisQueue(f"test-jobs-{uuid.uuid4().hex[:12]}", connection)
    yield q
    rq = rq_queue(connection, q.name)
    job_ids = set(rq.job_ids)
    for registry in (
        rq.failed_job_registry,
        rq.finished_job_registry,
        rq.scheduled_job_registry,
        rq.started_job_registry,
        rq.deferred_job_registry,
        rq.canceled_job_registry,
    ):
        job_ids.update(registry.get_job_ids())
    patterns = [f"*{q.name}*", *q.extra_patterns, *(f"*{job_id}*" for job_id in job_ids)]
    for pattern in patterns:
        for key in connection.scan_iter(match=pattern, count=1000):
            connection.delete(key)
    connection.srem("rq:queues", f"rq:queue:{q.name}")
    connection.close()


def _worker_env(database_url: str, redis_url: str, tmp_path: Path, *paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CRM_INSTANCE_PATH=str(tmp_path / "instance"),
        PYTHONPATH=os.pathsep.join([str(ROOT), *(str(p) for p in paths)]),
    )
    return env


def _start_worker(env: dict[str, str], queue: RedisQueue, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "crm_platform.cli", "worker", "--queue", queue.name, *options],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _run_burst_worker(env: dict[str, str], queue: RedisQueue) -> str:
    proc = _start_worker(env, queue, "--burst")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    return output


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    output, _ = proc.communicate(timeout=30)
    return output


def _wait_for(condition: Callable[[], T | None], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting after {timeout}s")


@pytest.fixture
def worker_env(database_url: str, redis_url: str, tmp_path: Path, engine: Engine) -> dict[str, str]:
    return _worker_env(database_url, redis_url, tmp_path)


def test_task_enqueued_here_runs_in_a_worker_process_which_reports_its_progress(
    engine: Engine,
    tenant_id: int,
    queue: RedisQueue,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    client = JobClient(engine, connection=queue.connection)
    release = tmp_path / "release"
    waiting = client.enqueue(
        jobs_tasks.half_then_wait, str(release), tenant_id=tenant_id, queue=queue.name
    )
    counting = client.enqueue(jobs_tasks.count, 4, tenant_id=tenant_id, queue=queue.name)
    assert client.status(waiting.id).state is JobState.QUEUED

    worker = _start_worker(worker_env, queue, "--burst")
    try:
        running = _wait_for(lambda: _running_with_progress(engine, waiting.id))
        assert (running.done, running.total, running.message) == (1, 2, "half way")
        assert running.fraction == 0.5
        release.touch()
        output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            _stop(worker)
    assert worker.returncode == 0, output

    released = job_status(engine, waiting.id)
    assert released.state is JobState.SUCCEEDED
    assert (released.done, released.total, released.message) == (2, 2, "released")
    assert released.result == "released"
    counted = job_status(engine, counting.id)
    assert counted.state is JobState.SUCCEEDED
    assert counted.queue == queue.name
    assert (counted.done, counted.total, counted.message) == (4, 4, "item 4 of 4")
    assert counted.result["tenant_id"] == tenant_id
    assert counted.result["pid"] not in (os.getpid(), worker.pid)


def _running_with_progress(engine: Engine, job_id: str) -> JobStatus | None:
    status = job_status(engine, job_id)
    return status if status.state is JobState.RUNNING and status.done else None


@SQLITE_ONLY
def test_failures_in_the_worker_are_recorded_with_their_error_and_retried_per_policy(
    engine: Engine, tenant_id: int, queue: RedisQueue, worker_env: dict[str, str]
) -> None:
    client = JobClient(engine, connection=queue.connection)
    failing = client.enqueue(
        jobs_tasks.always_fails, "disk full", tenant_id=tenant_id, queue=queue.name
    )
    flaky = client.enqueue(jobs_tasks.fails_once, tenant_id=tenant_id, queue=queue.name)
    invalid = client.enqueue(jobs_tasks.returns_a_set, tenant_id=tenant_id, queue=queue.name)
    killed = client.enqueue(jobs_tasks.dies, tenant_id=tenant_id, queue=queue.name)

    _run_burst_worker(worker_env, queue)

    failed = job_status(engine, failing.id)
    assert failed.state is JobState.FAILED
    assert failed.attempts == failed.max_attempts == 3
    assert failed.error == "ValueError: disk full (attempt 3)"
    assert "always_fails" in failed.error_traceback
    assert failed.finished_at is not None
    recovered = job_status(engine, flaky.id)
    assert recovered.state is JobState.SUCCEEDED
    assert recovered.attempts == 2
    assert recovered.result == {"attempt": 2}
    assert recovered.error is None
    not_retried = job_status(engine, invalid.id)
    assert not_retried.state is JobState.FAILED
    assert not_retried.attempts == 1
    lost = job_status(engine, killed.id)
    assert lost.state is JobState.FAILED
    assert lost.error == WORKER_LOST_ERROR
    assert (lost.attempts, lost.message) == (1, "about to die")


@SQLITE_ONLY
def test_delayed_task_and_delayed_retry_run_when_due_with_the_scheduler(
    engine: Engine, tenant_id: int, queue: RedisQueue, worker_env: dict[str, str]
) -> None:
    worker = _start_worker(worker_env, queue)
    try:
        client = JobClient(engine, connection=queue.connection)
        handle = client.enqueue_in(
            timedelta(seconds=1), jobs_tasks.count, 2, tenant_id=tenant_id, queue=queue.name
        )
        flaky = client.enqueue(
            jobs_tasks.fails_once_then_waits, tenant_id=tenant_id, queue=queue.name
        )
        scheduled = client.status(handle.id)
        assert scheduled.state is JobState.SCHEDULED
        assert scheduled.scheduled_for > scheduled.created_at

        waiting = _wait_for(lambda: _in_state(engine, flaky.id, JobState.RETRYING))
        done = _wait_for(lambda: _finished(engine, handle.id))
        retried = _wait_for(lambda: _finished(engine, flaky.id))
    finally:
        output = _stop(worker)
    assert done.state is JobState.SUCCEEDED, output
    assert done.started_at >= scheduled.scheduled_for
    assert waiting.error == "ConnectionError: the remote service is restarting"
    assert waiting.finished_at is None
    assert retried.state is JobState.SUCCEEDED, output
    assert retried.attempts == 2
    # rq schedules in whole seconds, so a 1 s retry interval may come a little early.
    assert retried.started_at > waiting.started_at


def _in_state(engine: Engine, job_id: str, wanted: JobState) -> JobStatus | None:
    status = job_status(engine, job_id)
    return status if status.state is wanted else None


def _finished(engine: Engine, job_id: str) -> JobStatus | None:
    status = job_status(engine, job_id)
    return status if status.finished else None


@SQLITE_ONLY
def test_periodic_task_runs_for_every_tenant_in_the_worker(
    engine: Engine,
    tenant_id: int,
    queue: RedisQueue,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    other = _tenant(engine, "globex")
    suffix = queue.name.removeprefix("test-jobs-")
    module = f"periodic_{suffix}"
    (tmp_path / f"{module}.py").write_text(
        "from datetime import timedelta\n"
        "from crm_platform.runtime.jobs import periodic\n"
        "from tests.runtime.jobs_tasks import count\n"
        f"periodic(count, every=timedelta(seconds=1), name='count-{suffix}',\n"
        f"         queue='{queue.name}', args=(1,), kwargs={{'label': 'tick'}})\n"
    )
    queue.extra_patterns.append(f"*count-{suffix}*")
    env = _worker_env(database_url, redis_url, tmp_path, tmp_path)

    worker = _start_worker(env, queue, "--import", module)
    try:
        _wait_for(lambda: _succeeded_tenants(engine) >= {tenant_id, other})
    finally:
        output = _stop(worker)

    with engine.connect() as conn:
        runs = conn.execute(
            select(JobRun.task, JobRun.message).where(JobRun.status == JobState.SUCCEEDED)
        ).all()
    assert {tuple(run) for run in runs} == {("tests.jobs.count", "tick 1 of 1")}, output
    ticks = ScheduledJobRegistry(queue=rq_queue(queue.connection, queue.name)).get_job_ids()
    assert len(ticks) == 1, "one chain of ticks per schedule"
    next_tick = Job.fetch(ticks[0], connection=queue.connection, serializer=SERIALIZER)
    assert next_tick.args == [f"count-{suffix}", module], "any worker can find the schedule"


def _succeeded_tenants(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                select(JobRun.tenant_id).where(JobRun.status == JobState.SUCCEEDED)
            ).scalars()
        )


def test_periodic_schedule_gets_one_pending_run_however_many_workers_start(
    queue: RedisQueue,
) -> None:
    name = f"count-{queue.name}"
    schedule = periodic(
        jobs_tasks.count, every=timedelta(hours=1), name=name, queue=queue.name, args=(1,)
    )
    try:
        assert ensure_periodic_schedules(queue.connection, [queue.name]) == [name]
        assert ensure_periodic_schedules(queue.connection, [queue.name]) == []
        assert ensure_periodic_schedules(queue.connection, ["another-queue"]) == []
    finally:
        del PERIODIC[name]
    ticks = ScheduledJobRegistry(queue=rq_queue(queue.connection, queue.name)).get_job_ids()
    next_hour = datetime.fromtimestamp((int(time.time()) // 3600 + 1) * 3600, UTC)
    assert ticks == [tick_job_id(schedule, next_hour)]
