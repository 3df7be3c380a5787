"""Tasks the job tests enqueue; workers import this module by name from the job payload."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from crm_platform.runtime.jobs import JobContext, RetryPolicy, task


@task(name="tests.jobs.count")
def count(ctx: JobContext, upto: int, *, label: str = "item") -> dict[str, Any]:
    """Count to `upto`, reporting each step; returns who ran it."""
    for done in range(1, upto + 1):
        ctx.progress(done, upto, f"{label} {done} of {upto}")
    return {"counted": upto, "tenant_id": ctx.tenant_id, "job_id": ctx.job_id, "pid": os.getpid()}


@task(name="tests.jobs.half_then_wait")
def half_then_wait(ctx: JobContext, release_file: str) -> str:
    """Report half-way progress, then wait until the test creates `release_file`."""
    ctx.progress(1, 2, "half way")
    deadline = time.monotonic() + 20
    while not Path(release_file).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release_file} never appeared")
        time.sleep(0.05)
    ctx.progress(2, 2, "released")
    return "released"


@task(name="tests.jobs.always_fails", retry=RetryPolicy(max=2, intervals=(0,)))
def always_fails(ctx: JobContext, reason: str) -> None:
    """Fail on every attempt."""
    ctx.progress(ctx.attempt, 3, f"attempt {ctx.attempt}")
    raise ValueError(f"{reason} (attempt {ctx.attempt})")


@task(name="tests.jobs.fails_once", retry=RetryPolicy(max=2, intervals=(0,)))
def fails_once(ctx: JobContext) -> dict[str, int]:
    """Fail on the first attempt only."""
    if ctx.attempt == 1:
        raise ConnectionError("the remote service hiccupped")
    return {"attempt": ctx.attempt}


@task(name="tests.jobs.returns_a_set", retry=RetryPolicy(max=2))
def returns_a_set(ctx: JobContext) -> Any:
    """Return something that is not JSON."""
    return {1, 2}


@task(name="tests.jobs.dies")
def dies(ctx: JobContext) -> None:
    """Kill the process running the job, as the out-of-memory killer would."""
    ctx.progress(0, 1, "about to die")
    os.kill(os.getpid(), signal.SIGKILL)


@task(name="tests.jobs.fails_once_then_waits", retry=RetryPolicy(max=1, intervals=(1,)))
def fails_once_then_waits(ctx: JobContext) -> dict[str, int]:
    """Fail on the first attempt; the retry comes a second later through the scheduler."""
    if ctx.attempt == 1:
        raise ConnectionError("the remote service is restarting")
    return {"attempt": ctx.attempt}
