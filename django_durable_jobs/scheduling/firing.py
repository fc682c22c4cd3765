"""Schedules bound to jobs, and firing them: the database half of scheduling.

:func:`schedule` registers a spec (from :mod:`.specs`) for a job, and
:func:`run_due` enqueues the jobs of the schedules that are due; ``runjobs
--scheduler`` calls it. The rules it follows are in the package docstring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from .. import validation
from ..conf import jobs_settings
from ..exceptions import UnknownJob
from ..registry import JobDefinition, all_definitions, get_definition
from .specs import ScheduleSpec, to_utc, validate_spec

if TYPE_CHECKING:
    from ..models import Job

__all__ = [
    "Schedule",
    "all_schedules",
    "register_decorator_schedules",
    "run_due",
    "schedule",
    "seconds_until_next_due",
]

logger = logging.getLogger("django_durable_jobs.scheduling")


@dataclass(frozen=True)
class Schedule:
    """A spec bound to a job; ``job`` is a name when it was not registered yet."""

    name: str
    job: JobDefinition | str
    spec: ScheduleSpec

    @property
    def job_name(self) -> str:
        return self.job if isinstance(self.job, str) else self.job.name

    def definition(self) -> JobDefinition:
        return get_definition(self.job)

    def __str__(self) -> str:
        return f"{self.name}: {self.job_name} {self.spec}"


_schedules: dict[str, Schedule] = {}
_reported: set[tuple[str, datetime]] = set()  # fires that could not be enqueued, logged once


def schedule(
    job: JobDefinition | Callable[..., Any] | str, spec: ScheduleSpec, *, name: str | None = None
) -> Schedule:
    """Run ``job`` (with no arguments) on ``spec``; returns the registered Schedule.

    ``job`` is a job, a job function or a job name. A name not registered yet
    is looked up when the schedule fires. ``name`` defaults to the job's name;
    give one to schedule a job more than once. Registering the same schedule
    again is a no-op; reusing a name for another job or spec is an error.
    """
    validate_spec(spec)
    if name is not None:
        validation.job_name(name, "schedule name")
    target = _schedule_target(job)
    new = Schedule(name or (target if isinstance(target, str) else target.name), target, spec)
    existing = _schedules.get(new.name)
    if existing is not None and (existing.job_name, existing.spec) != (new.job_name, new.spec):
        raise ValueError(
            f"schedule {new.name!r} is already registered ({existing}); "
            "pass name= to schedule a job more than once"
        )
    _schedules[new.name] = new
    return new


def _schedule_target(job: object) -> JobDefinition | str:
    if isinstance(job, str):
        validation.job_name(job, "job")
        try:
            definition = get_definition(job)
        except UnknownJob:
            return job
    elif isinstance(job, JobDefinition):
        definition = job
    elif callable(job):
        try:
            definition = get_definition(job)
        except UnknownJob:
            raise TypeError(f"{job!r} is not a registered job; decorate it with @job") from None
    else:
        raise TypeError(f"schedule() needs a job, a job function or a job name, got {job!r}")
    _check_callable_without_arguments(definition)
    return definition


def _check_callable_without_arguments(definition: JobDefinition) -> None:
    try:
        definition.signature.bind()
    except TypeError as exc:
        raise TypeError(
            f"job {definition.name!r} cannot be scheduled: scheduled jobs get no arguments ({exc})"
        ) from None


def all_schedules() -> dict[str, Schedule]:
    """Every registered schedule, by name (a copy)."""
    return dict(_schedules)


def register_decorator_schedules() -> None:
    """Schedule every job declared with ``@job(schedule=...)`` (from ``AppConfig.ready``)."""
    for definition in all_definitions().values():
        if definition.schedule is not None:
            schedule(definition, definition.schedule)


def _clear_schedules() -> None:
    """Forget every schedule. For tests only."""
    _schedules.clear()
    _reported.clear()


def run_due(using: str | None = None, now: datetime | None = None) -> list[Job]:
    """Enqueue one job for every schedule that is due; returns the jobs this call created.

    Safe to run in any number of processes at once: the database's unique
    ``(schedule, scheduled_for)`` constraint lets exactly one of them create each
    fire's job. Missed fires are coalesced into one job for the latest of
    them (see the package docstring).
    """
    alias = using or jobs_settings.DATABASE
    now = to_utc(now or timezone.now())
    created = []
    for entry in list(_schedules.values()):
        job = _fire(entry, alias, entry.spec.latest_at_or_before(now))
        if job is not None:
            created.append(job)
    return created


def _fire(entry: Schedule, alias: str, due: datetime) -> Job | None:
    # Imported here so that @job(schedule=...) works before the app registry is ready.
    from ..enqueuing import build_job
    from ..models import Job
    from ..state import inserts

    jobs = Job.objects.using(alias)
    if jobs.filter(schedule=entry.name, scheduled_for__gte=due).exists():
        return None
    try:
        definition = entry.definition()
        _check_callable_without_arguments(definition)
        job = build_job(definition, (), {}, schedule=entry.name, scheduled_for=due)
    except (UnknownJob, TypeError, ValueError) as exc:
        if (entry.name, due) not in _reported:  # the worker retries every second: say it once
            _reported.add((entry.name, due))
            logger.error("schedule %r cannot fire for %s: %s", entry.name, due.isoformat(), exc)
        return None
    if not inserts.insert_fired(alias, job):
        return None  # another scheduler created this fire's job, or a unique_key held it back
    logger.info("schedule %r enqueued job %s for %s", entry.name, job.pk, due.isoformat())
    return job


def seconds_until_next_due(now: datetime | None = None) -> float | None:
    """Seconds from ``now`` to the next fire of any schedule; ``None`` without schedules."""
    if not _schedules:
        return None
    now = now or timezone.now()
    upcoming = min(entry.spec.next_after(now) for entry in list(_schedules.values()))
    return max(0.0, (upcoming - now).total_seconds())
