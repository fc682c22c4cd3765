"""Tables: Job, Checkpoint, FanOut, the pause states, the worker registry,
schedules and the per-minute statistics.

Job and FanOut rows are written only by the state machine,
:mod:`django_durable_jobs.state`; see :mod:`.jobs`.
"""

from __future__ import annotations

from ..statuses import TERMINAL, UNFINISHED, PauseMode, Status
from .control import JobTypeState, PauseState, QueueState, Schedule, Worker
from .jobs import Checkpoint, FanOut, Job
from .stats import JobStat, JobStatTotal, QueueSample

__all__ = [
    "TERMINAL",
    "UNFINISHED",
    "Checkpoint",
    "FanOut",
    "Job",
    "JobStat",
    "JobStatTotal",
    "JobTypeState",
    "PauseMode",
    "PauseState",
    "QueueSample",
    "QueueState",
    "Schedule",
    "Status",
    "Worker",
]
