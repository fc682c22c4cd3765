"""Schedules bound to jobs, and firing them: the database half of scheduling.

:func:`schedule` registers a spec (from :mod:`.specs`) for a job, and
:func:`run_due` enqueues the jobs of the schedules that are due; ``runjobs
--scheduler`` calls it. The rules it follows are in the package docstring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from .. import validation
from ..conf import jobs_settings
from ..exceptions import InvalidValue, UnknownJob
from ..registry import JobDefinition, all_definitions, get_definition
from .declared import CATCH_UP, OVERLAP, WHILE_PAUSED, Schedule
from .rows import check_arguments
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


_schedules: dict[str, Schedule] = {}
_synced: set[str] = set()  # database aliases whose rows this process synchronised


def schedule(
    job: JobDefinition | Callable[..., Any] | str,
    spec: ScheduleSpec,
    *,
    name: str | None = None,
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    catch_up: str = "latest",
    catch_up_window: timedelta | float | None = None,
    overlap: str = "allow",
    while_paused: str = "coalesce",
) -> Schedule:
    """Run ``job(*args, **kwargs)`` on ``spec``; returns the registered Schedule.

    ``job`` is a job, a job function or a job name. A name not registered yet
    is looked up when the schedule fires. ``name`` defaults to the job's name;
    give one to schedule a job more than once. Registering the same schedule
    again is a no-op; reusing a name for another job or spec is an error.
    The policies (``catch_up``, ``catch_up_window``, ``overlap``,
    ``while_paused``) are described in the package docstring.
    """
    validate_spec(spec)
    if name is not None:
        validation.job_name(name, "schedule name")
    for field, value, choices in (
        ("catch_up", catch_up, CATCH_UP),
        ("overlap", overlap, OVERLAP),
        ("while_paused", while_paused, WHILE_PAUSED),
    ):
        if value not in choices:
            raise InvalidValue(field, f"{validation.show(value)} is not one of {', '.join(choices)}")
    window = _seconds("catch_up_window", catch_up_window)
    kwargs = dict(kwargs or {})
    validation.payload("schedule arguments", [list(args), kwargs], max_nesting=jobs_settings.MAX_NESTING)
    target = _schedule_target(job, tuple(args), kwargs)
    new = Schedule(
        name or (target if isinstance(target, str) else target.name),
        target,
        spec,
        tuple(args),
        tuple(sorted(kwargs.items())),
        catch_up,
        window,
        overlap,
        while_paused,
    )
    existing = _schedules.get(new.name)
    if existing is not None and existing != new:
        raise ValueError(
            f"schedule {new.name!r} is already registered ({existing}); "
            "pass name= to schedule a job more than once"
        )
    _schedules[new.name] = new
    _synced.clear()  # the rows must learn about it
    return new


def _seconds(field: str, value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds < 1e9:
        raise InvalidValue(field, f"{validation.show(value)} is not a positive duration")
    return float(seconds)


def _schedule_target(
    job: object, args: tuple = (), kwargs: dict[str, Any] | None = None
) -> JobDefinition | str:
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
    check_arguments(definition, args, kwargs or {})
    return definition


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
    _synced.clear()


def run_due(using: str | None = None, now: datetime | None = None) -> list[Job]:
    """Deal with every schedule that is due; returns the jobs this call created.

    Safe to run in any number of processes at once: each schedule's row is
    locked while its fires are decided, and the job table's unique
    ``(schedule, scheduled_for)`` lets one job exist per fire. The policies
    are in the package docstring.
    """
    from . import rows

    alias = using or jobs_settings.DATABASE
    now = to_utc(now or timezone.now())
    if alias not in _synced:
        sync_schedules(alias)
    created = []
    for entry in list(_schedules.values()):
        created += rows.fire_due(alias, entry, now)
    return created


def sync_schedules(using: str | None = None) -> None:
    """Write the schedules the code declares to their rows (``runjobs --scheduler`` at start)."""
    from . import rows

    alias = using or jobs_settings.DATABASE
    rows.sync(alias, list(_schedules.values()))
    _synced.add(alias)


def seconds_until_next_due(now: datetime | None = None) -> float | None:
    """Seconds from ``now`` to the next fire of any schedule; ``None`` without schedules."""
    if not _schedules:
        return None
    now = now or timezone.now()
    upcoming = min(entry.spec.next_after(now) for entry in list(_schedules.values()))
    return max(0.0, (upcoming - now).total_seconds())
