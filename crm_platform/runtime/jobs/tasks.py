"""The registries of tasks and periodic schedules, filled at import time by decorators.

A job refers to its task by name, never by pickled function, so payloads stay plain
JSON and a worker runs whatever code the name maps to in its own process.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from crm_platform.runtime.jobs.errors import UnknownTask

if TYPE_CHECKING:
    from crm_platform.runtime.jobs.execution import JobContext

DEFAULT_QUEUE = "default"

PLATFORM_TASK_MODULES: tuple[str, ...] = ()
"""Modules defining the platform's own tasks and periodic schedules; every worker imports them.

A later module with periodic schedules adds itself here so that workers register
its schedules at start-up (a task alone does not need it: a worker imports a
task's module on demand from the job's payload).
"""

RESERVED_ARGUMENTS = frozenset({"tenant_id", "queue"})
"""Keyword names `JobClient.enqueue` keeps for itself; tasks may not declare them."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing task is tried again, as rq's `Retry`.

    `max` counts retries after the first attempt (so a task runs at most
    ``max + 1`` times); `intervals` are the seconds to wait before each retry,
    the last one repeating. Retries with a non-zero interval need the scheduler.
    """

    max: int = 0
    intervals: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        if self.max < 0:
            raise ValueError(f"RetryPolicy.max must be 0 or more retries, got {self.max}")
        object.__setattr__(self, "intervals", tuple(self.intervals) or (0,))
        if any(not isinstance(s, int) or s < 0 for s in self.intervals):
            raise ValueError(
                f"RetryPolicy.intervals must be whole seconds >= 0, got {list(self.intervals)}"
            )

    @property
    def max_attempts(self) -> int:
        """The number of times the task may run in total."""
        return self.max + 1


NO_RETRY = RetryPolicy()

TaskFunction = Callable[..., Any]
"""``fn(ctx: JobContext, *args, **kwargs) -> JSON value``."""


@dataclass(frozen=True)
class Task:
    """A registered background task: a function taking a `JobContext` first."""

    name: str
    fn: TaskFunction
    retry: RetryPolicy = NO_RETRY
    queue: str = DEFAULT_QUEUE
    timeout: int | None = None

    @property
    def module(self) -> str:
        """The module a worker imports to find this task."""
        return self.fn.__module__

    def __call__(self, ctx: JobContext, *args: Any, **kwargs: Any) -> Any:
        return self.fn(ctx, *args, **kwargs)


TASKS: dict[str, Task] = {}
"""Every task registered in this process, by name."""


def task(
    name: str,
    *,
    retry: RetryPolicy = NO_RETRY,
    queue: str = DEFAULT_QUEUE,
    timeout: int | None = None,
) -> Callable[[TaskFunction], Task]:
    """Register the decorated function as the task `name`.

    The function receives a `JobContext` and the JSON arguments given to
    `JobClient.enqueue`, and returns a JSON value (stored as the job's result).
    `timeout` is the limit in seconds a worker allows one attempt (rq's default otherwise).
    """

    def register(fn: TaskFunction) -> Task:
        _check_signature(name, fn)
        existing = TASKS.get(name)
        if existing is not None and _qualified(existing.fn) != _qualified(fn):
            raise ValueError(
                f"task name {name!r} is already used by {_qualified(existing.fn)}; "
                "task names must be unique across the platform"
            )
        registered = Task(name=name, fn=fn, retry=retry, queue=queue, timeout=timeout)
        TASKS[name] = registered
        return registered

    return register


def lookup_task(name: str, module: str | None = None) -> Task:
    """The task registered as `name`, importing `module` first when it is not known yet."""
    if name not in TASKS and module:
        importlib.import_module(module)
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTask(name, module) from None


def resolve_task(task_or_name: Task | str) -> Task:
    """Accept a `Task` or the name of one."""
    return task_or_name if isinstance(task_or_name, Task) else lookup_task(task_or_name)


def import_task_modules(modules: Iterable[str] = ()) -> None:
    """Import the platform's task modules and `modules`, registering their tasks and schedules."""
    for module in (*PLATFORM_TASK_MODULES, *modules):
        importlib.import_module(module)


def _qualified(fn: TaskFunction) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _check_signature(name: str, fn: TaskFunction) -> None:
    parameters = inspect.signature(fn).parameters
    if not parameters:
        raise TypeError(f"task {name!r}: {_qualified(fn)} must accept a JobContext first")
    clashes = RESERVED_ARGUMENTS & set(parameters)
    if clashes:
        raise TypeError(
            f"task {name!r}: parameter(s) {sorted(clashes)} are reserved for job options; "
            "read the tenant from ctx.tenant_id and rename the others"
        )


@dataclass(frozen=True)
class PeriodicTask:
    """A task enqueued every `every`, for one tenant or (tenant_id None) for each tenant.

    Runs are aligned to multiples of `every` since the Unix epoch, so every worker
    computes the same next run and a run is enqueued once however many workers start.
    """

    name: str
    task: Task
    every: timedelta
    tenant_id: int | None = None
    queue: str = DEFAULT_QUEUE
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    module: str = ""
    """The module that registers this schedule, which a worker imports to find it again."""

    def next_run_after(self, moment: datetime) -> datetime:
        """The first aligned run strictly after `moment` (an aware datetime)."""
        step = int(self.every.total_seconds())
        slot = (int(moment.timestamp()) // step + 1) * step
        return datetime.fromtimestamp(slot, tz=moment.tzinfo)


PERIODIC: dict[str, PeriodicTask] = {}
"""Every periodic schedule registered in this process, by name."""


def periodic(
    task_or_name: Task | str,
    *,
    every: timedelta,
    name: str | None = None,
    tenant_id: int | None = None,
    queue: str | None = None,
    args: tuple[Any, ...] = (),
    kwargs: Mapping[str, Any] | None = None,
) -> PeriodicTask:
    """Register a periodic schedule; workers with the scheduler enqueue it every `every`.

    Call it at import time of a module listed in `PLATFORM_TASK_MODULES` (or given
    to `crm-platform worker --import`). Without a `tenant_id` each run fans out one
    job per tenant, so every job stays tenant-scoped. Periodic schedules need Redis.
    """
    resolved = resolve_task(task_or_name)
    caller = inspect.currentframe()
    registering_module = (
        caller.f_back.f_globals.get("__name__", "") if caller and caller.f_back else ""
    )
    seconds = every.total_seconds()
    if seconds < 1 or seconds != int(seconds):
        raise ValueError(f"periodic {resolved.name!r}: `every` must be whole seconds >= 1")
    schedule = PeriodicTask(
        name=name or resolved.name,
        task=resolved,
        every=every,
        tenant_id=tenant_id,
        queue=queue or resolved.queue,
        args=tuple(args),
        kwargs=dict(kwargs or {}),
        module=registering_module or resolved.module,
    )
    PERIODIC[schedule.name] = schedule
    return schedule
