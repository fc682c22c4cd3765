"""State transitions started by people: pause, resume, cancel and retry.

The Python API, the model methods, the admin and the command line all call
these functions, so each means the same thing everywhere. Each is one
database transaction; its signal is sent after commit; running executions it
takes a job away from are told to stop (NOTIFY on PostgreSQL, polling
elsewhere) and are fenced off by the cleared lease whatever they do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from . import db, fanouts, signals
from .exceptions import (
    CannotPauseStatus,
    DurableJobsError,
    JobAlreadyPaused,
    JobNotFound,
    JobNotPaused,
    QueueAlreadyPaused,
    QueueNotPaused,
    WorkerAlreadyPaused,
    WorkerNotFound,
    WorkerNotPaused,
)
from .models import TERMINAL, FanOut, Job, PauseMode, QueueState, Status, Worker
from .registry import validate_queue_name


def _mode(mode: PauseMode | str) -> PauseMode:
    try:
        return PauseMode(mode)
    except ValueError:
        raise ValueError(f"pause mode must be 'graceful' or 'aggressive', not {mode!r}") from None


def _lock_job(using: str, job_id: Any) -> Job:
    try:
        return Job.objects.using(using).select_for_update().get(pk=job_id)
    except (Job.DoesNotExist, ValueError, TypeError):
        raise JobNotFound(job_id) from None


def _take_from_execution(job: Job) -> bool:
    """Clear a running job's lease so its execution can write nothing more.

    The interrupted attempt is not counted. Returns True if the job was running.
    """
    if job.status != Status.RUNNING:
        return False
    job.lease = job.lease_expires_at = job.worker_id = None
    job.attempt = max(job.attempt - 1, 0)
    job.pause_requested = None
    return True


def interrupt_running(using: str, job_ids: list[int], reason: str) -> None:
    """Ask the workers running these jobs to stop them (on commit)."""
    if job_ids:
        db.notify_control(using, {"type": "interrupt", "jobs": job_ids, "reason": reason})


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
    mode = _mode(mode)
    using = db.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        job = _lock_job(using, job_id)
        _check(job, "pause", mode)
        job.paused_at, job.paused_by, job.pause_reason, job.pause_mode = now, by, reason, mode
        job.updated_at = now
        if job.status == Status.RUNNING and mode == PauseMode.GRACEFUL:
            job.pause_requested = mode  # decided when the attempt ends
        else:
            if _take_from_execution(job):
                interrupt_running(using, [job.pk], "paused")
            job.status = Status.PAUSED
        job.save(using=using)
        signals.send_on_commit(signals.job_paused, using, job=job, mode=mode, by=by)
    return job


def resume_job(job_id: Any, *, by: str = "") -> Job:
    """Paused -> pending (or waiting, if its fan-out is unresolved)."""
    using = db.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        job = _lock_job(using, job_id)
        _check(job, "resume")
        if job.status == Status.RUNNING:
            job.pause_requested = None  # withdraw a graceful pause not yet taken
        else:
            waiting = FanOut.objects.using(using).filter(parent=job, state=FanOut.State.RUNNING)
            job.status = Status.WAITING if waiting.exists() else Status.PENDING
            if job.status == Status.PENDING:
                db.notify_work(using, [job.queue])
        job.paused_at, job.paused_by, job.pause_reason, job.pause_mode = None, "", "", ""
        job.updated_at = now
        job.save(using=using)
        signals.send_on_commit(signals.job_resumed, using, job=job, by=by)
    return job


def cancel_job(job_id: Any, *, by: str = "", reason: str = "cancelled") -> Job:
    """Cancel a job for good: interrupts it if running, cancels its fan-out children."""
    using = db.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        fanouts.lock_for_job(using, job_id)  # lock order: fan-outs before jobs
        job = _lock_job(using, job_id)
        _check(job, "cancel")
        if _take_from_execution(job):
            interrupt_running(using, [job.pk], "cancelled")
        job.status = Status.CANCELLED
        job.finished_at = job.updated_at = now
        job.last_error = job.last_error or f"cancelled{' by ' + by if by else ''}"
        job.save(using=using)
        fanouts.on_cancelled(using, job)
        signals.send_on_commit(signals.job_cancelled, using, job=job, by=by)
    return job


def retry_job(job_id: Any, *, by: str = "") -> Job:
    """Run a failed or cancelled job again, with its full retry budget."""
    using = db.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        job = _lock_job(using, job_id)
        _check(job, "retry")
        job.status = Status.PENDING
        job.attempt = 0
        job.run_after = job.updated_at = now
        job.finished_at = None
        job.save(using=using)
        db.notify_work(using, [job.queue])
        signals.send_on_commit(signals.job_enqueued, using, job=job)
    return job


def is_job_paused(job_id: Any) -> bool:
    try:
        return Job.objects.using(db.alias()).get(pk=job_id).status == Status.PAUSED
    except (Job.DoesNotExist, ValueError, TypeError):
        raise JobNotFound(job_id) from None


def paused_jobs(queue: str | None = None) -> list[Job]:
    jobs = Job.objects.using(db.alias()).filter(status=Status.PAUSED)
    if queue is not None:
        jobs = jobs.filter(queue=queue)
    return list(jobs.order_by("id"))


# --------------------------------------------------------------------------- queues


def pause_queue(
    queue: str,
    mode: PauseMode | str = PauseMode.GRACEFUL,
    *,
    by: str = "",
    reason: str = "",
    until: datetime | None = None,
) -> QueueState:
    """Stop claiming jobs of ``queue``; aggressive also puts its running jobs back."""
    validate_queue_name(queue)
    mode = _mode(mode)
    if until is not None and timezone.is_naive(until):
        raise ValueError(f"until must be an aware datetime, got {until!r}")
    using = db.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        db.queue_pause_lock(using)  # claims in flight finish first; later ones see the pause
        state, _ = QueueState.objects.using(using).select_for_update().get_or_create(queue=queue)
        if state.paused:
            raise QueueAlreadyPaused(queue)
        state.paused, state.pause_mode, state.paused_at = True, mode, now
        state.paused_by, state.reason, state.paused_until, state.updated_at = by, reason, until, now
        state.save(using=using)
        if mode == PauseMode.AGGRESSIVE:
            interrupted = _release_running(using, Q(queue=queue), now)
            interrupt_running(using, interrupted, "queue paused")
        db.notify_control(using, {"type": "queue", "queue": queue, "paused": True})
        signals.send_on_commit(signals.queue_paused, using, queue=queue, mode=mode, by=by)
    return state


def resume_queue(queue: str, *, by: str = "") -> QueueState:
    using = db.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        state = QueueState.objects.using(using).select_for_update().filter(queue=queue).first()
        if state is None or not state.paused:
            raise QueueNotPaused(queue)
        state.paused, state.pause_mode, state.paused_at = False, "", None
        state.paused_by, state.reason, state.paused_until, state.updated_at = "", "", None, now
        state.save(using=using)
        db.notify_work(using, [queue])
        signals.send_on_commit(signals.queue_resumed, using, queue=queue, by=by)
    return state


def resume_due_queues(now: datetime | None = None) -> list[str]:
    """Resume queues whose ``paused_until`` has passed (sends ``queue_resumed``)."""
    now = now or timezone.now()
    due = QueueState.objects.using(db.alias()).filter(paused=True, paused_until__lte=now)
    resumed = []
    for queue in due.values_list("queue", flat=True):
        try:
            resume_queue(queue, by="auto-resume")
        except QueueNotPaused:  # another worker got there first
            continue
        resumed.append(queue)
    return resumed


def is_queue_paused(queue: str) -> bool:
    return QueueState.objects.using(db.alias()).filter(queue=queue, paused=True).exists()


def paused_queues() -> list[str]:
    return list(QueueState.objects.using(db.alias()).filter(paused=True).values_list("queue", flat=True))


def _release_running(using: str, where: Q, now: datetime) -> list[int]:
    """Put matching running jobs back to pending, attempt not counted; returns their ids."""
    running = Job.objects.using(using).filter(where, status=Status.RUNNING)
    ids = list(running.select_for_update().values_list("id", flat=True))
    if ids:
        requested = Q(pause_requested__isnull=False)  # a graceful pause waiting for this attempt
        Job.objects.using(using).filter(id__in=ids).update(
            status=Case(When(requested, then=Value(Status.PAUSED)), default=Value(Status.PENDING)),
            pause_mode=Case(When(requested, then=F("pause_requested")), default=F("pause_mode")),
            paused_at=Case(When(requested, then=Value(now)), default=F("paused_at")),
            pause_requested=None,
            lease=None,
            lease_expires_at=None,
            worker_id=None,
            attempt=F("attempt") - 1,
            run_after=now,
            updated_at=now,
        )
    return ids


# --------------------------------------------------------------------------- workers


def _lock_worker(using: str, worker_id: str) -> Worker:
    try:
        return Worker.objects.using(using).select_for_update().get(pk=worker_id)
    except Worker.DoesNotExist:
        raise WorkerNotFound(worker_id) from None


def pause_worker(
    worker_id: str, mode: PauseMode | str = PauseMode.GRACEFUL, *, by: str = "", reason: str = ""
) -> Worker:
    """Stop a worker claiming; aggressive also puts its running jobs back to pending."""
    mode = _mode(mode)
    using = db.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        db.queue_pause_lock(using)  # claims in flight finish first; later ones see the pause
        worker = _lock_worker(using, worker_id)
        if worker.paused:
            raise WorkerAlreadyPaused(worker_id)
        worker.paused, worker.pause_mode, worker.paused_at = True, mode, now
        worker.paused_by, worker.reason = by, reason
        worker.save(using=using)
        if mode == PauseMode.AGGRESSIVE:
            interrupted = _release_running(using, Q(worker_id=worker_id), now)
            interrupt_running(using, interrupted, "worker paused")
        db.notify_control(using, {"type": "worker", "worker": worker_id})
        signals.send_on_commit(signals.worker_paused, using, worker_id=worker_id, mode=mode, by=by)
    return worker


def resume_worker(worker_id: str, *, by: str = "") -> Worker:
    using = db.alias()
    with transaction.atomic(using=using):
        worker = _lock_worker(using, worker_id)
        if not worker.paused:
            raise WorkerNotPaused(worker_id)
        worker.paused, worker.pause_mode, worker.paused_at = False, "", None
        worker.paused_by, worker.reason = "", ""
        worker.save(using=using)
        db.notify_control(using, {"type": "worker", "worker": worker_id})
        signals.send_on_commit(signals.worker_resumed, using, worker_id=worker_id, by=by)
    return worker
