"""Schedules as rows: synchronising them from code, firing them under their policies, pausing them.

The code declares what and when (:mod:`.firing`); the
:class:`~django_durable_jobs.models.Schedule` row keeps what every scheduler
shares. Each fire is decided in one transaction with the row locked, so
schedulers racing for it take turns, and the unique ``(schedule,
scheduled_for)`` of the job table is the last word on one job per fire.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from .. import validation
from ..exceptions import ScheduleAlreadyPaused, ScheduleNotFound, ScheduleNotPaused, UnknownJob
from ..models import UNFINISHED, Job, JobTypeState, QueueState, Status
from ..models import Schedule as Row
from ..state import inserts
from .declared import Schedule
from .specs import ScheduleSpec

if TYPE_CHECKING:
    from ..registry import JobDefinition


logger = logging.getLogger("django_durable_jobs.scheduling")

#: A ``catch_up="skip"`` schedule still fires a time this late (a scheduler's tick is a second).
SKIP_GRACE = 60.0
#: The most missed fires one ``catch_up="all"`` round makes jobs for.
MAX_CATCH_UP = 1000

_reported: set[tuple[str, datetime]] = set()  # fires that could not be enqueued, logged once


def sync(alias: str, schedules: list[Schedule]) -> None:
    """Write the code's schedules to their rows; rows the code no longer declares are orphaned."""
    now = timezone.now()
    with transaction.atomic(using=alias):
        rows = Row.objects.using(alias)
        for entry in schedules:
            fields = dict(
                job_name=entry.job_name,
                spec=str(entry.spec)[:255],
                args=list(entry.args),
                kwargs=dict(entry.kwargs),
                catch_up=entry.catch_up,
                catch_up_window=entry.catch_up_window,
                overlap=entry.overlap,
                while_paused=entry.while_paused,
                orphaned=False,
                updated_at=now,
            )
            row, created = rows.select_for_update().get_or_create(name=entry.name, defaults=fields)
            if not created:
                rows.filter(pk=row.pk).update(**fields)
        rows.exclude(name__in=[e.name for e in schedules]).update(orphaned=True, updated_at=now)


def fire_due(alias: str, entry: Schedule, now: datetime) -> list[Job]:
    """Deal with every fire of ``entry`` due at ``now``; returns the jobs created."""
    created: list[Job] = []
    with transaction.atomic(using=alias):
        row = Row.objects.using(alias).select_for_update().filter(name=entry.name).first()
        if row is None:  # declared after the last sync
            sync(alias, [entry])
            row = Row.objects.using(alias).select_for_update().get(name=entry.name)
        if not row.paused and not row.orphaned:
            if row.buffered_fire_at is not None and not _unfinished(alias, entry.name):
                buffered = _enqueue(alias, entry, row, row.buffered_fire_at)
                if buffered is not None:
                    created += buffered
                    row.buffered_fire_at = None
            for due in _due_times(alias, entry, row, now):
                jobs = _decide(alias, entry, row, due)
                if jobs is None:  # held back: this fire is tried again next time
                    break
                created += jobs
                row.last_fire_at = due
        row.next_fire_at = entry.spec.next_after(now)
        row.save(using=alias)
    return created


def _due_times(alias: str, entry: Schedule, row: Row, now: datetime) -> list[datetime]:
    """The fire times to deal with now, under ``catch_up``; those it skips are dealt with too."""
    spec: ScheduleSpec = entry.spec
    latest = spec.latest_at_or_before(now)
    last = row.last_fire_at
    if last is None:  # a new row; fires made before rows existed still count
        fired = Job.objects.using(alias).filter(schedule=entry.name, scheduled_for__isnull=False)
        last = fired.order_by("-scheduled_for").values_list("scheduled_for", flat=True).first()
    if last is not None and latest <= last:
        return []
    if entry.catch_up == "latest":
        return [latest]
    if entry.catch_up == "skip":
        if (now - latest).total_seconds() <= (entry.catch_up_window or SKIP_GRACE):
            return [latest]
        row.last_fire_at = latest  # missed: skipped, and remembered as dealt with
        return []
    start = last if last is not None else latest - timedelta(microseconds=1)
    if entry.catch_up_window is not None:
        start = max(start, now - timedelta(seconds=entry.catch_up_window) - timedelta(microseconds=1))
    times: list[datetime] = []
    due = spec.next_after(start)
    while due <= latest and len(times) < MAX_CATCH_UP:
        times.append(due)
        due = spec.next_after(due)
    if not times:  # every missed fire is older than the window
        row.last_fire_at = latest
    return times


def _decide(alias: str, entry: Schedule, row: Row, due: datetime) -> list[Job] | None:
    """One fire: ``while_paused`` if its queue or job type is paused, else ``overlap``.

    Returns the jobs it created, or None if the fire could not be dealt with yet.
    """
    if _target_paused(alias, entry):
        if entry.while_paused == "skip":
            return []
        if entry.while_paused == "coalesce" and _waiting(alias, entry.name):
            return []
        return _enqueue(alias, entry, row, due)
    if entry.overlap != "allow" and _unfinished(alias, entry.name):
        if entry.overlap == "buffer_one" and row.buffered_fire_at is None:
            row.buffered_fire_at = due
        return []
    return _enqueue(alias, entry, row, due)


def _enqueue(alias: str, entry: Schedule, row: Row, due: datetime) -> list[Job] | None:
    """The fire's job; [] if it has one already; None if it cannot be made now (no such job
    registered, or an unfinished job holds its ``unique_key``)."""
    from ..enqueuing import build_job  # needs the registry of a started app

    try:
        definition = entry.definition()
        check_arguments(definition, entry.args, dict(entry.kwargs))
        job = build_job(definition, entry.args, dict(entry.kwargs), schedule=entry.name, scheduled_for=due)
    except (UnknownJob, TypeError, ValueError) as exc:
        if (entry.name, due) not in _reported:  # the worker retries every second: say it once
            _reported.add((entry.name, due))
            logger.error("schedule %r cannot fire for %s: %s", entry.name, due.isoformat(), exc)
        return None
    if not inserts.insert_fired(alias, job):  # this fire has its job, or a unique_key holds it back
        has_job = Job.objects.using(alias).filter(schedule=entry.name, scheduled_for=due).exists()
        return [] if has_job else None
    row.last_job_id = job.pk
    logger.info("schedule %r enqueued job %s for %s", entry.name, job.pk, due.isoformat())
    return [job]


def _target_paused(alias: str, entry: Schedule) -> bool:
    try:
        queue = entry.definition().options.queue or entry.definition().queue
    except UnknownJob:
        return False
    from ..conf import jobs_settings

    queue = queue or jobs_settings.DEFAULT_QUEUE
    return (
        QueueState.objects.using(alias).filter(queue=queue, paused=True).exists()
        or JobTypeState.objects.using(alias).filter(name=entry.job_name, paused=True).exists()
    )


def _unfinished(alias: str, name: str) -> bool:
    return Job.objects.using(alias).filter(schedule=name, status__in=UNFINISHED).exists()


def _waiting(alias: str, name: str) -> bool:
    """A fire of this schedule that has not started (pending or paused)."""
    statuses = [Status.PENDING, Status.PAUSED]
    return Job.objects.using(alias).filter(schedule=name, status__in=statuses).exists()


def check_arguments(definition: JobDefinition, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
    try:
        definition.signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(
            f"job {definition.name!r} cannot be scheduled with args={list(args)!r}, kwargs={kwargs!r}: {exc}"
        ) from None


# --------------------------------------------------------------------------- pause and resume


def pause_schedule(name: str, *, by: str = "", reason: str = "") -> Row:
    """Stop firing schedule ``name`` (every scheduler); fires missed meanwhile are skipped."""
    from ..state.common import check_actor

    validation.job_name(name, "name")
    check_actor(by, reason)
    row = _locked_row_update(name, paused=True, by=by, reason=reason)
    return row


def resume_schedule(name: str, *, by: str = "") -> Row:
    """Fire schedule ``name`` again from its next fire time."""
    from ..state.common import check_actor

    validation.job_name(name, "name")
    check_actor(by)
    return _locked_row_update(name, paused=False, by=by, reason="")


def _locked_row_update(name: str, *, paused: bool, by: str, reason: str) -> Row:
    from ..storage import alias as storage_alias

    alias = storage_alias()
    now = timezone.now()
    with transaction.atomic(using=alias):
        row = Row.objects.using(alias).select_for_update().filter(name=name).first()
        if row is None:
            raise ScheduleNotFound(name)
        if row.paused == paused:
            raise (ScheduleAlreadyPaused if paused else ScheduleNotPaused)(name)
        row.paused, row.paused_at = paused, now if paused else None
        row.paused_by, row.reason, row.updated_at = (by if paused else ""), reason, now
        if not paused:  # the fires missed while paused are skipped
            row.last_fire_at = max(filter(None, [row.last_fire_at, now]))
        row.save(using=alias)
    return row
