"""What every transition shares: the lock order, fencing a running job, interrupts.

Internal module of the state machine. **Lock order**, the one order every
transaction that writes job or fan-out rows takes its locks in, so that two
of them never wait on each other: fan-out rows first, then job rows, each by
ascending id. :func:`lock` takes them that way; nothing else locks these rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Case, F, Q, Value, When

from .. import validation
from ..exceptions import InvalidValue, JobNotFound
from ..models import FanOut, Job, PauseMode, Status
from ..storage import engine


def parse_mode(mode: PauseMode | str) -> PauseMode:
    try:
        return PauseMode(mode)
    except ValueError:
        raise InvalidValue("mode", f"{validation.show(mode)} is not 'graceful' or 'aggressive'") from None


def check_actor(by: Any, reason: Any = "") -> None:
    """Who asks for a transition (``by``) and why: text the database can store."""
    validation.text("by", by, max_length=validation.BY_LENGTH)
    validation.text("reason", reason, max_length=validation.REASON_LENGTH)


def lock(using: str, *, fanouts: Iterable[int] = (), jobs: Iterable[int] = ()) -> list[Job]:
    """Inside a transaction: lock fan-outs, then jobs, each by ascending id.

    Returns the locked jobs (in id order) so that decisions are taken from
    rows read under the lock.
    """
    fanout_ids = sorted(set(fanouts))
    if fanout_ids:
        list(
            FanOut.objects.using(using)
            .filter(pk__in=fanout_ids)
            .select_for_update()
            .order_by("id")
            .values_list("id", flat=True)
        )
    job_ids = sorted(set(jobs))
    if not job_ids:
        return []
    return list(Job.objects.using(using).filter(pk__in=job_ids).select_for_update().order_by("id"))


def lock_job(using: str, job_id: Any) -> Job:
    """Lock one job for a person's transition: first the running fan-outs it
    belongs to or waits on, then the job itself."""
    row = Job.objects.using(using).filter(pk=validation.job_id(job_id)).values_list("pk", "fanout_id").first()
    if row is None:
        raise JobNotFound(job_id)
    pk, fanout_id = row
    where = Q(parent_id=pk) | Q(pk=fanout_id) if fanout_id is not None else Q(parent_id=pk)
    running = FanOut.objects.using(using).filter(where, state=FanOut.State.RUNNING)
    locked = lock(using, fanouts=running.values_list("id", flat=True), jobs=[pk])
    if not locked:
        raise JobNotFound(job_id)
    return locked[0]


def lock_matching(using: str, where: Q) -> list[int]:
    """Lock every job matching ``where``, in id order; returns their ids.

    One ``SELECT ... ORDER BY id FOR UPDATE``: PostgreSQL locks rows after
    sorting them, and re-checks ``where`` on a row it had to wait for.
    """
    rows = Job.objects.using(using).filter(where).select_for_update().order_by("id")
    return list(rows.values_list("id", flat=True))


def take_from_execution(job: Job) -> bool:
    """Clear a running job's lease so its execution can write nothing more.

    The interrupted attempt is not counted. Returns True if the job was running.
    """
    if job.status != Status.RUNNING:
        return False
    job.lease = job.lease_expires_at = job.worker_id = None
    job.attempt = max(job.attempt - 1, 0)
    job.pause_requested = None
    return True


def interrupt_running(using: str, job_ids: list[int]) -> None:
    """Ask the workers running these jobs to stop them (on commit).

    Only a wake-up is sent, however many jobs: each worker reads from the
    table which of its executions lost their lease.
    """
    if job_ids:
        engine(using).notify_control()


def take_running(using: str, where: Q, mode: PauseMode, now: datetime) -> None:
    """After a pause: aggressive puts the matching running jobs back; either way workers are woken
    (to stop those jobs' handlers, to give back what they claimed ahead, or to stop claiming)."""
    if mode == PauseMode.AGGRESSIVE:
        release_running(using, where, now)
    engine(using).notify_control()


def release_running(using: str, where: Q, now: datetime) -> list[int]:
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
