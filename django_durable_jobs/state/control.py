"""Queue and worker pause state, and the worker registry rows.

Internal module of the state machine. Queue and worker pauses take the claim
lock exclusively, so a pause waits for claims in flight and no claim after
it sees the queue or worker unpaused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from .. import signals, storage, validation
from ..exceptions import (
    QueueAlreadyPaused,
    QueueNotPaused,
    WorkerAlreadyPaused,
    WorkerNotFound,
    WorkerNotPaused,
)
from ..models import Job, PauseMode, QueueState, Status, Worker
from ..storage import engine
from .common import check_actor, lock_matching, parse_mode

# --------------------------------------------------------------------------- queues


def pause_queue(
    queue: str,
    mode: PauseMode | str = PauseMode.GRACEFUL,
    *,
    by: str = "",
    reason: str = "",
    until: datetime | timedelta | None = None,
) -> QueueState:
    """Stop claiming jobs of ``queue``; aggressive also puts its running jobs back.

    ``until`` (an aware datetime, or a timedelta from now) resumes it then.
    """
    validation.queue_name(queue)
    mode = parse_mode(mode)
    check_actor(by, reason)
    now = timezone.now()
    if until is not None:
        until = validation.future("until", until, now)
    using = storage.alias()
    with transaction.atomic(using=using):
        engine(using).block_claims()  # claims in flight finish first; later ones see the pause
        state, _ = QueueState.objects.using(using).select_for_update().get_or_create(queue=queue)
        if state.paused:
            raise QueueAlreadyPaused(queue)
        state.paused, state.pause_mode, state.paused_at = True, mode, now
        state.paused_by, state.reason, state.paused_until, state.updated_at = by, reason, until, now
        state.save(using=using)
        _take_running(using, Q(queue=queue), mode, now)
        signals.send_on_commit(signals.queue_paused, using, queue=queue, mode=mode, by=by)
    return state


def resume_queue(queue: str, *, by: str = "") -> QueueState:
    validation.queue_name(queue)
    check_actor(by)
    using = storage.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        state = QueueState.objects.using(using).select_for_update().filter(queue=queue).first()
        if state is None or not state.paused:
            raise QueueNotPaused(queue)
        state.paused, state.pause_mode, state.paused_at = False, "", None
        state.paused_by, state.reason, state.paused_until, state.updated_at = "", "", None, now
        state.save(using=using)
        engine(using).notify_work([queue])
        signals.send_on_commit(signals.queue_resumed, using, queue=queue, by=by)
    return state


def resume_due_queues(now: datetime | None = None) -> list[str]:
    """Resume queues whose ``paused_until`` has passed (sends ``queue_resumed``)."""
    now = now or timezone.now()
    due = QueueState.objects.using(storage.alias()).filter(paused=True, paused_until__lte=now)
    resumed = []
    for queue in due.values_list("queue", flat=True):
        try:
            resume_queue(queue, by="auto-resume")
        except QueueNotPaused:  # another worker got there first
            continue
        resumed.append(queue)
    return resumed


def is_queue_paused(queue: str) -> bool:
    validation.queue_name(queue)
    return QueueState.objects.using(storage.alias()).filter(queue=queue, paused=True).exists()


def paused_queues() -> list[str]:
    return list(QueueState.objects.using(storage.alias()).filter(paused=True).values_list("queue", flat=True))


def _take_running(using: str, where: Q, mode: PauseMode, now: datetime) -> None:
    """After a pause: aggressive puts the matching running jobs back; either way workers are woken
    (to stop those jobs' handlers, to give back what they claimed ahead, or to stop claiming)."""
    if mode == PauseMode.AGGRESSIVE:
        _release_running(using, where, now)
    engine(using).notify_control()


def _release_running(using: str, where: Q, now: datetime) -> list[int]:
    """Put matching running jobs back to pending, attempt not counted; returns their ids."""
    ids = lock_matching(using, where & Q(status=Status.RUNNING))
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
            delayed=False,
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
    worker_id = validation.text("worker_id", worker_id, max_length=validation.WORKER_ID_LENGTH)
    mode = parse_mode(mode)
    check_actor(by, reason)
    using = storage.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        engine(using).block_claims()  # claims in flight finish first; later ones see the pause
        worker = _lock_worker(using, worker_id)
        if worker.paused:
            raise WorkerAlreadyPaused(worker_id)
        worker.paused, worker.pause_mode, worker.paused_at = True, mode, now
        worker.paused_by, worker.reason = by, reason
        worker.save(using=using)
        _take_running(using, Q(worker_id=worker_id), mode, now)
        signals.send_on_commit(signals.worker_paused, using, worker_id=worker_id, mode=mode, by=by)
    return worker


def resume_worker(worker_id: str, *, by: str = "") -> Worker:
    worker_id = validation.text("worker_id", worker_id, max_length=validation.WORKER_ID_LENGTH)
    check_actor(by)
    using = storage.alias()
    with transaction.atomic(using=using):
        worker = _lock_worker(using, worker_id)
        if not worker.paused:
            raise WorkerNotPaused(worker_id)
        worker.paused, worker.pause_mode, worker.paused_at = False, "", None
        worker.paused_by, worker.reason = "", ""
        worker.save(using=using)
        engine(using).notify_control()
        signals.send_on_commit(signals.worker_resumed, using, worker_id=worker_id, by=by)
    return worker


# --------------------------------------------------------------------------- the worker registry


def register_worker(
    worker_id: str, *, host: str, pid: int, queues: list[str], concurrency: int, paused: bool = False
) -> PauseMode | None:
    """Create or refresh the registry row of a starting worker; returns its pause mode (None: running).

    A restart under the same id keeps its pause. ``paused=True``
    (``runjobs --paused``) pauses it gracefully unless it is paused already.
    """
    validation.text("worker_id", worker_id, max_length=validation.WORKER_ID_LENGTH, required=True)
    for queue in queues:
        validation.queue_name(queue)
    using = storage.alias()
    now = timezone.now()
    row, created = Worker.objects.using(using).get_or_create(
        id=worker_id, defaults=dict(host=host, pid=pid, queues=queues, concurrency=concurrency)
    )
    if not created:
        row.host, row.pid, row.queues, row.concurrency = host, pid, queues, concurrency
        row.started_at, row.heartbeat_at, row.stopped_at = now, now, None
        row.save(using=using)
    if paused and not row.paused:
        pause_worker(worker_id, PauseMode.GRACEFUL, by="runjobs --paused")
        return PauseMode.GRACEFUL
    return PauseMode(row.pause_mode or PauseMode.GRACEFUL) if row.paused else None


def heartbeat(worker_id: str, *, abandoned_threads: int = 0) -> None:
    """The worker is alive: refresh its registry row."""
    Worker.objects.using(storage.alias()).filter(id=worker_id).update(
        heartbeat_at=timezone.now(), abandoned_threads=abandoned_threads
    )


def mark_stopped(worker_id: str) -> None:
    """The worker exited cleanly (its row stays, for the admin's history)."""
    Worker.objects.using(storage.alias()).filter(id=worker_id).update(stopped_at=timezone.now())


def worker_pause_state(worker_id: str) -> PauseMode | None:
    """The pause mode the registry row asks for, or None if the worker should run.

    Raises :class:`WorkerNotFound` if the row is gone.
    """
    row = Worker.objects.using(storage.alias()).filter(id=worker_id).values("paused", "pause_mode").first()
    if row is None:
        raise WorkerNotFound(worker_id)
    return PauseMode(row["pause_mode"] or PauseMode.GRACEFUL) if row["paused"] else None
