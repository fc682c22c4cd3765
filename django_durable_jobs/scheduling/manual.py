"""Run a schedule's job now, outside its fire times ("run now" in the admin).

A manual run is not a fire: the job it enqueues records no ``schedule`` or
``scheduled_for``, so it never takes a fire's place under the job table's
unique ``(schedule, scheduled_for)``, and it leaves the row's last and next
fire, its ``overlap`` and ``while_paused`` bookkeeping alone. It works on a
paused or orphaned schedule too: the operator asked for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .. import validation
from ..conf import jobs_settings
from ..exceptions import InvalidValue, ScheduleNotFound
from ..models import Schedule as Row
from ..registry import get_definition
from ..state.common import check_actor

if TYPE_CHECKING:
    from ..models import Job

logger = logging.getLogger("django_durable_jobs.scheduling")


def run_schedule_now(name: str, *, by: str = "") -> Job:
    """Enqueue the job of schedule ``name`` once, now, with the schedule's arguments.

    Raises ``ScheduleNotFound`` if no row has that name, ``UnknownJob`` if its
    job is not registered in this process, and ``InvalidValue`` for a bad
    name or ``by``, or arguments the job no longer takes. Nothing is written
    then. Returns the job.
    """
    validation.job_name(name, "name")
    check_actor(by)
    row = Row.objects.using(jobs_settings.DATABASE).filter(name=name).first()
    if row is None:
        raise ScheduleNotFound(name)
    definition = get_definition(row.job_name)
    args, kwargs = row.args, row.kwargs
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise InvalidValue("arguments", f"schedule {name!r} stores no list of args and dict of kwargs")
    try:
        definition.signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidValue(
            "arguments", f"job {definition.name!r} does not take the arguments of schedule {name!r}: {exc}"
        ) from None
    job = definition.enqueue(*args, **kwargs)
    logger.info("schedule %r run now%s: job %s", name, f" by {by}" if by else "", job.pk)
    return job
