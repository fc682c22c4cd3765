"""A schedule as the code declares it (``schedule()``, ``@job(schedule=...)``): what and when.

Its row (:class:`~django_durable_jobs.models.Schedule`) holds what the fleet shares.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..registry import JobDefinition, get_definition
from .specs import ScheduleSpec

CATCH_UP = ("latest", "skip", "all")
OVERLAP = ("allow", "skip", "buffer_one")
WHILE_PAUSED = ("skip", "coalesce", "queue")


@dataclass(frozen=True)
class Schedule:
    """A spec bound to a job, as the code declares it; ``job`` is a name when it was not
    registered yet. Its row (:class:`~django_durable_jobs.models.Schedule`) holds the rest."""

    name: str
    job: JobDefinition | str
    spec: ScheduleSpec
    args: tuple = ()
    kwargs: tuple = ()  # (key, value) pairs: hashable, so a re-registration compares equal
    catch_up: str = "latest"
    catch_up_window: float | None = None
    overlap: str = "allow"
    while_paused: str = "coalesce"

    @property
    def job_name(self) -> str:
        return self.job if isinstance(self.job, str) else self.job.name

    def definition(self) -> JobDefinition:
        return get_definition(self.job)

    def __str__(self) -> str:
        return f"{self.name}: {self.job_name} {self.spec}"
