"""State transitions started by people: pause, resume, cancel and retry.

The Python API, the model methods, the admin and the command line all call
these functions, so each means the same thing everywhere. Each is one
database transaction; its signal is sent after commit; running executions it
takes a job away from are told to stop (NOTIFY on PostgreSQL, polling
elsewhere) and are fenced off by the cleared lease whatever they do.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import signals, storage, validation
from ..exceptions import CannotPauseStatus, DurableJobsError, JobAlreadyPaused, JobNotFound, JobNotPaused
from ..models import TERMINAL, FanOut, Job, PauseMode, Status
from ..storage import engine
from . import fanouts, stats
from .common import check_actor, interrupt_running, lock_job, parse_mode, take_from_execution

# --------------------------------------------------------------------------- jobs


def refusal(job: Job, action: str, mode: PauseMode | str = PauseMode.GRACEFUL) -> DurableJobsError | None:
    """The error ``action`` ("pause", "resume", "cancel", "retry") on ``job`` raises, or None.

    The one place that says which status allows which action: the transitions
    below raise it, the admin uses it to offer only the buttons that apply.
    """
    status = job.status
    if action == "pause":
        if status == Status.PAUSED or (
            status == Status.RUNNING and job.pause_requested and mode == PauseMode.GRACEFUL
        ):
            return JobAlreadyPaused(job.pk)
        if status in TERMINAL:
            return CannotPauseStatus(job.pk, status)
    elif action == "resume":
        if not (status == Status.PAUSED or (status == Status.RUNNING and job.pause_requested)):
            return JobNotPaused(job.pk, status)
    elif action == "cancel":
        if status in TERMINAL:
            return CannotPauseStatus(job.pk, status, action="cancel")
    elif action == "retry":
        if status not in (Status.FAILED, Status.CANCELLED):
            return CannotPauseStatus(job.pk, status, action="retry")
    else:
        raise ValueError(f"unknown job action {action!r}")
    return None


def _check(job: Job, action: str, mode: PauseMode | str = PauseMode.GRACEFUL) -> None:
    error = refusal(job, action, mode)
    if error is not None:
        raise error


def pause_job(
    job_id: Any, mode: PauseMode | str = PauseMode.GRACEFUL, *, by: str = "", reason: str = ""
) -> Job:
    """Pause a job (see the table in the docs for what each status does)."""
    mode = parse_mode(mode)
    check_actor(by, reason)
    using = storage.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        job = lock_job(using, job_id)
        _check(job, "pause", mode)
        job.paused_at, job.paused_by, job.pause_reason, job.pause_mode = now, by, reason, mode
        job.updated_at = now
        if job.status == Status.RUNNING and mode == PauseMode.GRACEFUL:
            job.pause_requested = mode  # decided when the attempt ends
        else:
            if take_from_execution(job):
                interrupt_running(using, [job.pk])
            job.status = Status.PAUSED
        job.save(using=using)
        signals.send_on_commit(signals.job_paused, using, job=job, mode=mode, by=by)
    return job


def resume_job(job_id: Any, *, by: str = "") -> Job:
    """Paused -> pending (or waiting, if its fan-out is unresolved)."""
    check_actor(by)
    using = storage.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        job = lock_job(using, job_id)
        _check(job, "resume")
        if job.status == Status.RUNNING:
            job.pause_requested = None  # withdraw a graceful pause not yet taken
        else:
            # lock_job holds the job's running fan-outs: a fan-out resolving right
            # now has committed (and is no longer running) or waits for us.
            waiting = FanOut.objects.using(using).filter(parent=job, state=FanOut.State.RUNNING)
            job.status = Status.WAITING if waiting.exists() else Status.PENDING
            if job.status == Status.PENDING:
                engine(using).notify_work([job.queue])
        job.paused_at, job.paused_by, job.pause_reason, job.pause_mode = None, "", "", ""
        job.updated_at = now
        job.save(using=using)
        signals.send_on_commit(signals.job_resumed, using, job=job, by=by)
    return job


def cancel_job(job_id: Any, *, by: str = "", reason: str = "cancelled") -> Job:
    """Cancel a job for good: interrupts it if running, cancels its fan-out children."""
    check_actor(by, reason)
    using = storage.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        job = lock_job(using, job_id)
        _check(job, "cancel")
        if take_from_execution(job):
            interrupt_running(using, [job.pk])
        job.status = Status.CANCELLED
        job.finished_at = job.updated_at = now
        said = f"cancelled{' by ' + by if by else ''}"
        if reason and reason != "cancelled":  # a reason given: it says why better than any earlier error
            job.last_error = f"{said}: {reason}"
        else:
            job.last_error = job.last_error or said
        job.save(using=using)
        fanouts.on_cancelled(using, job)
        stats.cancelled(using, [job.pk])
        signals.send_on_commit(signals.job_cancelled, using, job=job, by=by)
    return job


def retry_job(job_id: Any, *, by: str = "") -> Job:
    """Run a failed or cancelled job again, with its full retry budget."""
    check_actor(by)
    using = storage.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        job = lock_job(using, job_id)
        _check(job, "retry")
        job.status = Status.PENDING
        job.attempt = job.reclaims = 0
        job.run_after = job.updated_at = now
        job.delayed = False
        job.finished_at = None
        job.save(using=using)
        engine(using).notify_work([job.queue])
        signals.send_on_commit(signals.job_enqueued, using, job=job)
    return job


def is_job_paused(job_id: Any) -> bool:
    try:
        return Job.objects.using(storage.alias()).get(pk=validation.job_id(job_id)).status == Status.PAUSED
    except Job.DoesNotExist:
        raise JobNotFound(job_id) from None


def paused_jobs(queue: str | None = None) -> list[Job]:
    jobs = Job.objects.using(storage.alias()).filter(status=Status.PAUSED)
    if queue is not None:
        jobs = jobs.filter(queue=validation.queue_name(queue))
    return list(jobs.order_by("id"))
