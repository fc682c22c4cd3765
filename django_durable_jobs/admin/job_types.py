"""The Job types page: every job name, its counts per status, limits, last error and pause/resume.

A job type is every job of one name (``@job("send-invoice")``), in whatever
queue. The page lists the names registered in this process
(``registry.all_definitions()``), and any other name that has jobs or a
``JobTypeState`` row (a web process need not import every worker's jobs).
Pause and resume call ``pause_job_type`` and ``resume_job_type``: once the
page reports a pause, no job of that name starts until it is resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models.functions import Left
from django.urls import reverse

from django_durable_jobs import pause_job_type, resume_job_type

from ..conf import jobs_settings
from ..limits import Limit, RateLimit
from ..models import Job, JobTypeState
from ..registry import JobDefinition, all_definitions
from .pause_pages import CountsRow, PausePageAdmin

#: How much of the last error's text is read from the database: its first line is shown.
ERROR_READ_CHARS = 1_000
#: How much of that first line the page shows (all of it on hover, up to ``ERROR_READ_CHARS``).
MAX_ERROR_CHARS_SHOWN = 120


@dataclass
class LastError:
    """The most recent failure of a job type: which job, when, and its error's first line."""

    job_id: int
    first_line: str
    finished_at: datetime | None

    @property
    def short(self) -> str:
        if len(self.first_line) <= MAX_ERROR_CHARS_SHOWN:
            return self.first_line
        return self.first_line[:MAX_ERROR_CHARS_SHOWN] + "…"

    @property
    def url(self) -> str:
        return reverse("admin:durable_jobs_job_change", args=[self.job_id])


def first_line(text: str) -> str:
    """The first non-blank line of an error text (``module.Class: message``)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return "(no error message)"


@dataclass
class JobTypeRow(CountsRow):
    """One line of the Job types page."""

    definition: JobDefinition | None = None
    last_error: LastError | None = None

    filter_field = "name"

    @property
    def registered(self) -> bool:
        return self.definition is not None

    @property
    def queue(self) -> str:
        """The queue its jobs go to unless enqueued elsewhere ("" if not registered here)."""
        if self.definition is None:
            return ""
        return self.definition.queue or jobs_settings.DEFAULT_QUEUE

    @property
    def limit(self) -> Limit | None:
        return self.definition.concurrency if self.definition else None

    @property
    def rate_limit(self) -> RateLimit | None:
        return self.definition.rate_limit if self.definition else None

    @property
    def queue_rate(self) -> str:
        """Its queue's rate (the ``QUEUES`` setting), which holds when the job has none of its own."""
        if self.definition is None or self.rate_limit is not None:
            return ""
        queues = jobs_settings.QUEUES
        options = queues.get(self.queue) if isinstance(queues, dict) else None
        return str(options.get("rate_limit") or "") if isinstance(options, dict) else ""


def last_errors(using: str) -> dict[str, LastError]:
    """``{job name: LastError}``: the most recently finished failed job of each name."""
    latest = Job.objects.using(using).latest_failed_per_name()
    rows = (
        Job.objects.using(using)
        .filter(pk__in=latest.values())
        .annotate(error_head=Left("last_error", ERROR_READ_CHARS))
        .values_list("name", "pk", "error_head", "finished_at")
    )
    return {name: LastError(pk, first_line(head or ""), finished) for name, pk, head, finished in rows}


def job_type_rows(using: str) -> list[JobTypeRow]:
    """Every known job type of database ``using``: registered, with jobs, or with a pause state."""
    definitions = all_definitions()
    counts = Job.objects.using(using).name_counts()
    states = {state.name: state for state in JobTypeState.objects.using(using).all()}
    errors = last_errors(using)
    return [
        JobTypeRow(name, counts.get(name, {}), states.get(name), definitions.get(name), errors.get(name))
        for name in sorted(definitions.keys() | counts.keys() | states.keys())
    ]


class JobTypeAdmin(PausePageAdmin):
    """The Job types page: a custom changelist over the registry, job counts and pause state."""

    title = "Job types"
    template = "admin/durable_jobs/job_types.html"
    rows_name = "job_types"
    key_field = "name"
    label = "Job type"

    def rows(self, using: str) -> list[CountsRow]:
        return list(job_type_rows(using))

    def pause(self, key: str, mode: str, **kwargs: Any) -> JobTypeState:
        return pause_job_type(key, mode, **kwargs)

    def resume(self, key: str, **kwargs: Any) -> JobTypeState:
        return resume_job_type(key, **kwargs)
