"""Worker pause state and the worker registry rows.

Internal module of the state machine. A worker pause takes the claim lock
exclusively, so it waits for claims in flight and no claim after it sees the
worker unpaused.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import signals, storage, validation
from ..exceptions import WorkerAlreadyPaused, WorkerNotFound, WorkerNotPaused
from ..models import PauseMode, Worker
from ..storage import engine
from .common import check_actor, parse_mode, take_running

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
        take_running(using, Q(worker_id=worker_id), mode, now)
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
    worker_id: str,
    *,
    host: str,
    pid: int,
    queues: list[str],
    concurrency: int,
    paused: bool = False,
    pool: str = "thread",
    children: list[dict] | None = None,
) -> PauseMode | None:
    """Create or refresh the registry row of a starting worker; returns its pause mode (None: running).

    A restart under the same id keeps its pause. ``paused=True``
    (``runjobs --paused``) pauses it gracefully unless it is paused already.
    ``pool`` is where its handlers run (``thread`` or ``process``) and
    ``children`` its child processes (process pool).
    """
    validation.text("worker_id", worker_id, max_length=validation.WORKER_ID_LENGTH, required=True)
    for queue in queues:
        validation.queue_name(queue)
    using = storage.alias()
    now = timezone.now()
    fields = dict(
        host=host, pid=pid, queues=queues, concurrency=concurrency, pool=pool, children=children or []
    )
    with transaction.atomic(using=using):
        # Locked, and only these columns written: a resume or pause that commits
        # while the worker starts must not be undone by a save of what was read before it.
        row, created = (
            Worker.objects.using(using).select_for_update().get_or_create(id=worker_id, defaults=fields)
        )
        if not created:
            for name, value in fields.items():
                setattr(row, name, value)
            row.started_at, row.heartbeat_at, row.stopped_at = now, now, None
            row.save(using=using, update_fields=[*fields, "started_at", "heartbeat_at", "stopped_at"])
    if paused and not row.paused:
        pause_worker(worker_id, PauseMode.GRACEFUL, by="runjobs --paused")
        return PauseMode.GRACEFUL
    return PauseMode(row.pause_mode or PauseMode.GRACEFUL) if row.paused else None


def heartbeat(worker_id: str, *, abandoned_threads: int = 0, children: list[dict] | None = None) -> None:
    """The worker is alive: refresh its registry row (and its children, if it has some)."""
    extra = {} if children is None else {"children": children}
    Worker.objects.using(storage.alias()).filter(id=worker_id).update(
        heartbeat_at=timezone.now(), abandoned_threads=abandoned_threads, **extra
    )


def mark_stopped(worker_id: str) -> None:
    """The worker exited cleanly (its row stays, for the admin's history; its children are gone)."""
    Worker.objects.using(storage.alias()).filter(id=worker_id).update(stopped_at=timezone.now(), children=[])


def worker_pause_state(worker_id: str) -> PauseMode | None:
    """The pause mode the registry row asks for, or None if the worker should run.

    Raises :class:`WorkerNotFound` if the row is gone.
    """
    row = Worker.objects.using(storage.alias()).filter(id=worker_id).values("paused", "pause_mode").first()
    if row is None:
        raise WorkerNotFound(worker_id)
    return PauseMode(row["pause_mode"] or PauseMode.GRACEFUL) if row["paused"] else None
