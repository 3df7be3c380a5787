"""Background jobs: tenant-scoped tasks on rq queues (inline without Redis), state in the database.

Define a task::

    @task(name="imports.customers", retry=RetryPolicy(max=3, intervals=(5, 30)))
    def import_customers(ctx: JobContext, file_id: int) -> dict:
        ctx.progress(0, total, "reading")
        ...
        return {"imported": n}

enqueue it with ``JobClient(engine, settings.redis_url).enqueue(import_customers, 7,
tenant_id=tenant.id)`` and read ``job_status(engine, handle.id)`` from any process.
"""

from __future__ import annotations

from crm_platform.runtime import job_tables as job_tables
from crm_platform.runtime.jobs.client import JobClient as JobClient
from crm_platform.runtime.jobs.client import JobHandle as JobHandle
from crm_platform.runtime.jobs.errors import InvalidJobPayload as InvalidJobPayload
from crm_platform.runtime.jobs.errors import JobError as JobError
from crm_platform.runtime.jobs.errors import JobNotFound as JobNotFound
from crm_platform.runtime.jobs.errors import SchedulingUnavailable as SchedulingUnavailable
from crm_platform.runtime.jobs.errors import UnknownTask as UnknownTask
from crm_platform.runtime.jobs.execution import JobContext as JobContext
from crm_platform.runtime.jobs.state import JobState as JobState
from crm_platform.runtime.jobs.state import JobStatus as JobStatus
from crm_platform.runtime.jobs.state import job_status as job_status
from crm_platform.runtime.jobs.state import recent_jobs as recent_jobs
from crm_platform.runtime.jobs.tasks import PLATFORM_TASK_MODULES as PLATFORM_TASK_MODULES
from crm_platform.runtime.jobs.tasks import PeriodicTask as PeriodicTask
from crm_platform.runtime.jobs.tasks import RetryPolicy as RetryPolicy
from crm_platform.runtime.jobs.tasks import Task as Task
from crm_platform.runtime.jobs.tasks import periodic as periodic
from crm_platform.runtime.jobs.tasks import task as task
from crm_platform.runtime.jobs.worker import ensure_periodic_schedules as ensure_periodic_schedules
from crm_platform.runtime.jobs.worker import run_worker as run_worker
