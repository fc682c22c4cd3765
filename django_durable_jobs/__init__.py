"""Durable background jobs and checkpointed workflows for Django.

The public API lives here; every other module is internal.
"""

from __future__ import annotations

import importlib
from typing import Any

# Name -> internal module. Imported lazily (PEP 562) because most of them
# need Django's app registry, which is not ready when INSTALLED_APPS imports
# this package.
_EXPORTS = {
    "CannotPauseStatus": "exceptions",
    "CheckpointMismatch": "exceptions",
    "CollectAll": "strategies",
    "DurableJobsError": "exceptions",
    "FailFast": "strategies",
    "FanOutFailed": "exceptions",
    "InvalidType": "exceptions",
    "InvalidValue": "exceptions",
    "JobAlreadyPaused": "exceptions",
    "JobTypeAlreadyPaused": "exceptions",
    "JobTypeNotPaused": "exceptions",
    "JobInterrupted": "exceptions",
    "JobNotFound": "exceptions",
    "JobNotPaused": "exceptions",
    "Limit": "limits",
    "NoRetry": "exceptions",
    "PauseMode": "statuses",
    "QueueAlreadyPaused": "exceptions",
    "QueueNotPaused": "exceptions",
    "RateLimit": "limits",
    "RetryAfter": "exceptions",
    "ScheduleAlreadyPaused": "exceptions",
    "ScheduleNotFound": "exceptions",
    "ScheduleNotPaused": "exceptions",
    "Snooze": "exceptions",
    "Status": "statuses",
    "Threshold": "strategies",
    "UnknownJob": "exceptions",
    "WorkerAlreadyPaused": "exceptions",
    "WorkerNotFound": "exceptions",
    "WorkerNotPaused": "exceptions",
    "aenqueue": "registry",
    "call": "workflows",
    "cancel_job": "state.jobs",
    "cron": "scheduling.specs",
    "current_job": "context",
    "daily": "scheduling.specs",
    "enqueue": "registry",
    "every": "scheduling.specs",
    "fan_out": "workflows",
    "is_job_paused": "state.jobs",
    "is_job_type_paused": "state.pauses",
    "is_queue_paused": "state.pauses",
    "job": "registry",
    "pause_job": "state.jobs",
    "pause_job_type": "state.pauses",
    "pause_queue": "state.pauses",
    "pause_schedule": "scheduling.rows",
    "pause_worker": "state.control",
    "paused_job_types": "state.pauses",
    "paused_jobs": "state.jobs",
    "paused_queues": "state.pauses",
    "resume_job": "state.jobs",
    "resume_job_type": "state.pauses",
    "resume_queue": "state.pauses",
    "resume_schedule": "scheduling.rows",
    "resume_worker": "state.control",
    "retry_job": "state.jobs",
    "run_schedule_now": "scheduling.manual",
    "schedule": "scheduling.firing",
    "sub": "workflows",
    "weekly": "scheduling.specs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'django_durable_jobs' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
