"""Durable pauses of a queue or of a job type (every job of one registered name).

Internal module of the state machine. Both work alike (SPEC §8): the row is
written under the claim lock taken exclusively, so a pause waits for claims
in flight and no claim after it starts a job it covers; graceful lets running
jobs finish, aggressive puts them back to pending with the attempt not
counted; ``until`` resumes it by itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from .. import signals, storage, validation
from ..exceptions import JobTypeAlreadyPaused, JobTypeNotPaused, QueueAlreadyPaused, QueueNotPaused
from ..models import JobTypeState, PauseMode, PauseState, QueueState
from ..storage import engine
from .common import check_actor, parse_mode, take_running


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
    return _pause(QueueState, queue, mode, by, reason, until, signals.queue_paused)


def resume_queue(queue: str, *, by: str = "") -> QueueState:
    validation.queue_name(queue)
    return _resume(QueueState, queue, by, signals.queue_resumed)


def is_queue_paused(queue: str) -> bool:
    validation.queue_name(queue)
    return QueueState.objects.using(storage.alias()).filter(queue=queue, paused=True).exists()


def paused_queues() -> list[str]:
    return _paused(QueueState)


def pause_job_type(
    name: str,
    mode: PauseMode | str = PauseMode.GRACEFUL,
    *,
    by: str = "",
    reason: str = "",
    until: datetime | timedelta | None = None,
) -> JobTypeState:
    """Stop starting jobs named ``name`` in every queue; aggressive also puts running ones back.

    The name need not be registered in this process (a web process may not
    import every worker's jobs). ``until`` resumes it then.
    """
    validation.job_name(name)
    return _pause(JobTypeState, name, mode, by, reason, until, signals.job_type_paused)


def resume_job_type(name: str, *, by: str = "") -> JobTypeState:
    validation.job_name(name)
    return _resume(JobTypeState, name, by, signals.job_type_resumed)


def is_job_type_paused(name: str) -> bool:
    validation.job_name(name)
    return JobTypeState.objects.using(storage.alias()).filter(name=name, paused=True).exists()


def paused_job_types() -> list[str]:
    return _paused(JobTypeState)


#: Rows one call of :func:`hold_paused_rows` holds at most: a worker's control
#: loop holds a big backlog over several ticks, never missing a heartbeat.
HOLD_PER_CALL = 20_000


def hold_paused_rows(queues: set[str], names: set[str]) -> int:
    """Take up to :data:`HOLD_PER_CALL` ready rows of these paused queues and job types
    out of the claim's index; returns how many (as many: call again).

    Workers call it when the pause state they read changes, and on every
    housekeeping pass (see :mod:`django_durable_jobs.storage.parking`).
    """
    if not queues and not names:
        return 0
    return engine(storage.alias()).hold_paused(sorted(queues), sorted(names), HOLD_PER_CALL)


def release_stray_rows() -> set[str]:
    """Release rows held for a queue or job type that runs again; returns their queues.

    A resume releases its own rows; this catches those a hold racing the
    resume left behind.
    """
    using = storage.alias()
    with transaction.atomic(using=using):
        released = engine(using).release_held()
        if released:
            engine(using).notify_work(released)
    return released


def resume_due_pauses(now: datetime | None = None) -> list[str]:
    """Resume the queues and job types whose ``paused_until`` has passed; returns what resumed."""
    now = now or timezone.now()
    resumed = []
    for model, resume, not_paused in (
        (QueueState, resume_queue, QueueNotPaused),
        (JobTypeState, resume_job_type, JobTypeNotPaused),
    ):
        due = model.objects.using(storage.alias()).filter(paused=True, paused_until__lte=now)
        for key in due.values_list("pk", flat=True):
            try:
                resume(key, by="auto-resume")
            except not_paused:  # another worker got there first
                continue
            resumed.append(key)
    return resumed


# --------------------------------------------------------------------------- shared


_KEY = {QueueState: "queue", JobTypeState: "name"}
_ALREADY = {QueueState: QueueAlreadyPaused, JobTypeState: JobTypeAlreadyPaused}
_NOT_PAUSED = {QueueState: QueueNotPaused, JobTypeState: JobTypeNotPaused}


def _pause(
    model: type[PauseState],
    key: str,
    mode: PauseMode | str,
    by: str,
    reason: str,
    until: datetime | timedelta | None,
    signal: Signal,
) -> PauseState:
    mode = parse_mode(mode)
    check_actor(by, reason)
    now = timezone.now()
    if until is not None:
        until = validation.future("until", until, now)
    field = _KEY[model]
    using = storage.alias()
    with transaction.atomic(using=using):
        engine(using).block_claims()  # claims in flight finish first; later ones see the pause
        state, _ = model.objects.using(using).select_for_update().get_or_create(**{field: key})
        if state.paused:
            raise _ALREADY[model](key)
        state.paused, state.pause_mode, state.paused_at = True, mode, now
        state.paused_by, state.reason, state.paused_until, state.updated_at = by, reason, until, now
        state.save(using=using)
        take_running(using, Q(**{field: key}), mode, now)
        signals.send_on_commit(signal, using, **{field: key}, mode=mode, by=by)
    return state


def _resume(model: type[PauseState], key: str, by: str, signal: Signal) -> PauseState:
    check_actor(by)
    field = _KEY[model]
    using = storage.alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        state = model.objects.using(using).select_for_update().filter(**{field: key}).first()
        if state is None or not state.paused:
            raise _NOT_PAUSED[model](key)
        state.paused, state.pause_mode, state.paused_at = False, "", None
        state.paused_by, state.reason, state.paused_until, state.updated_at = "", "", None, now
        state.save(using=using)
        engine(using).release_held(**{field: key})  # claimable when this commits
        if model is QueueState:
            engine(using).notify_work([key])
        else:  # its jobs may be in any queue
            engine(using).notify_control()
        signals.send_on_commit(signal, using, **{field: key}, by=by)
    return state


def _paused(model: type[PauseState]) -> list[str]:
    return list(model.objects.using(storage.alias()).filter(paused=True).values_list("pk", flat=True))
