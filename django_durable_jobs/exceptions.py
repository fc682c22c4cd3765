"""Errors raised by the public API. All subclass :class:`DurableJobsError`."""

from __future__ import annotations

from datetime import timedelta


class DurableJobsError(Exception):
    """Base class of every error django-durable-jobs raises on purpose."""


class InvalidValue(DurableJobsError, ValueError):
    """A value given to the API, the command line or the admin breaks a limit.

    Raised before anything is written. ``field`` names the argument, and the
    message says which limit it breaks, e.g. ``queue: 'a\\x00b' contains a NUL
    character``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InvalidType(InvalidValue, TypeError):
    """An :class:`InvalidValue` of the wrong type (e.g. an argument that is not JSON)."""


class JobNotFound(DurableJobsError):
    def __init__(self, job_id: object) -> None:
        super().__init__(f"job {job_id} does not exist")
        self.job_id = job_id


class JobAlreadyPaused(DurableJobsError):
    def __init__(self, job_id: object) -> None:
        super().__init__(f"job {job_id} is already paused")
        self.job_id = job_id


class JobNotPaused(DurableJobsError):
    def __init__(self, job_id: object, status: str) -> None:
        super().__init__(f"job {job_id} is not paused (it is {status})")
        self.job_id, self.status = job_id, status


class CannotPauseStatus(DurableJobsError):
    """The job's status does not allow the action (pause, cancel, retry)."""

    def __init__(self, job_id: object, status: str, action: str = "pause") -> None:
        super().__init__(f"cannot {action} job {job_id}: it is {status}")
        self.job_id, self.status, self.action = job_id, status, action


class QueueAlreadyPaused(DurableJobsError):
    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue!r} is already paused")
        self.queue = queue


class QueueNotPaused(DurableJobsError):
    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue!r} is not paused")
        self.queue = queue


class JobTypeAlreadyPaused(DurableJobsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"job type {name!r} is already paused")
        self.name = name


class JobTypeNotPaused(DurableJobsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"job type {name!r} is not paused")
        self.name = name


class ScheduleNotFound(DurableJobsError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"schedule {name!r} does not exist (has a runjobs --scheduler started since it was declared?)"
        )
        self.name = name


class ScheduleAlreadyPaused(DurableJobsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"schedule {name!r} is already paused")
        self.name = name


class ScheduleNotPaused(DurableJobsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"schedule {name!r} is not paused")
        self.name = name


class WorkerNotFound(DurableJobsError):
    def __init__(self, worker_id: str) -> None:
        super().__init__(f"worker {worker_id!r} is not registered")
        self.worker_id = worker_id


class WorkerAlreadyPaused(DurableJobsError):
    def __init__(self, worker_id: str) -> None:
        super().__init__(f"worker {worker_id!r} is already paused")
        self.worker_id = worker_id


class WorkerNotPaused(DurableJobsError):
    def __init__(self, worker_id: str) -> None:
        super().__init__(f"worker {worker_id!r} is not paused")
        self.worker_id = worker_id


class UnknownJob(DurableJobsError, LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"no job is registered under the name {name!r} "
            "(is its module an installed app's jobs.py, or imported?)"
        )
        self.name = name


class FanOutFailed(DurableJobsError):
    """Raised by a replayed ``fan_out()`` whose strategy decided it failed."""

    def __init__(self, message: str, results: list | None = None) -> None:
        super().__init__(message)
        self.results = results or []


class NoRetry(DurableJobsError):
    """Raise from a handler to fail the job at once, whatever its retries."""


class RetryAfter(DurableJobsError):
    """Raise from a handler to retry after ``seconds`` (counts as an attempt)."""

    def __init__(self, seconds: float, message: str = "") -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
            raise ValueError(f"RetryAfter seconds must be a number >= 0, got {seconds!r}")
        super().__init__(message or f"retry requested in {seconds}s")
        self.seconds = float(seconds)


class Snooze(DurableJobsError):
    """Raise from a handler for "not now": the job waits ``seconds`` (or a timedelta), attempt not counted.

    Counted in ``Job.snoozes``; a job that snoozes more than ``MAX_SNOOZES``
    times fails.
    """

    def __init__(self, seconds: float | timedelta, message: str = "") -> None:
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 <= seconds <= 366 * 86400
        ):
            raise ValueError(f"Snooze needs 0 to 366 days (seconds or a timedelta), got {seconds!r}")
        super().__init__(message or f"snoozed for {seconds:g}s")
        self.seconds = float(seconds)


class CheckpointMismatch(DurableJobsError):
    """A replayed ``call()`` index holds the result of a different target."""


class JobInterrupted(BaseException):
    """Raised inside a handler whose execution no longer owns its job.

    A ``BaseException`` so that a handler's ``except Exception:`` cannot
    swallow an aggressive pause, a cancel or a lost lease.
    """
