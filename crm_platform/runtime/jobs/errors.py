"""Errors of the job layer."""

from __future__ import annotations

from crm_platform.errors import ErrorCode
from crm_platform.runtime.errors import RuntimeFailure


class JobError(RuntimeFailure):
    """Root of the job layer's errors."""


class UnknownTask(JobError):
    """No task is registered under this name in this process."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, name: str, module: str | None = None):
        self.name = name
        self.module = module
        where = f" (looked in module {module!r})" if module else ""
        super().__init__(
            f"no task is registered as {name!r}{where}; decorate the function with "
            "@task(name=...) and make sure its module is imported by the worker "
            "(add it to PLATFORM_TASK_MODULES or pass `crm-platform worker --import MODULE`)"
        )


class JobNotFound(JobError):
    """No job run has this id (for this tenant)."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, job_id: str):
        self.job_id = job_id
        super().__init__(f"job {job_id} was not found")


class InvalidJobPayload(JobError):
    """A task's arguments or result are not plain JSON values."""

    def __init__(self, task: str, detail: str):
        self.task = task
        self.detail = detail
        super().__init__(
            f"task {task!r}: {detail}; pass and return only JSON values "
            "(dict with str keys, list, str, int, float, bool, None) and refer to records by id"
        )


class SchedulingUnavailable(JobError):
    """Delayed or periodic work was asked for without Redis, where nothing would run it later."""

    def __init__(self, task: str):
        self.task = task
        super().__init__(
            f"task {task!r} was asked to run later, but REDIS_URL is not set, so no scheduler "
            "would ever start it; set REDIS_URL and run `crm-platform worker --with-scheduler`, "
            "or build the JobClient with run_delayed_inline=True to run such tasks immediately"
        )
