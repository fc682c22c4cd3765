"""The Schedules page: every schedule row, its job, spec, arguments, policies, fires, and buttons.

Schedule rows are written by ``runjobs --scheduler`` (synchronised from the
code, fired under their policies), never by hand, so this page is a custom
changelist like the Queues and Job types pages (see ``pause_pages``): view
permission to see it, change permission to press its buttons. Pause and
resume call ``pause_schedule`` and ``resume_schedule``; *run now* calls
``scheduling.manual.run_schedule_now``, which enqueues the schedule's job
once with its arguments, outside its fire times. The schedule's name travels
as POST data. Arguments are read as the start of their stored JSON text,
never loaded as Python values (see ``values``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.db.models.functions import Left, Length
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from django_durable_jobs import is_job_type_paused, is_queue_paused, pause_schedule, resume_schedule

from ..exceptions import DurableJobsError
from ..models import Job, Schedule
from ..registry import resolve
from ..scheduling.manual import run_schedule_now
from .common import operation
from .pause_pages import RowsPageAdmin, jobs_list_url
from .values import stored_text

#: How much of a schedule's stored args and kwargs the page reads (on hover, all of that).
ARGS_READ_CHARS = 1_000
#: How much of them a row shows.
MAX_ARGS_CHARS_SHOWN = 80

#: Units a catch-up window is shown in, largest first.
_UNITS = ((86_400, "d"), (3_600, "h"), (60, "min"), (1, "s"))


def duration(seconds: float) -> str:
    """``3600.0`` -> ``"1 h"``, ``90`` -> ``"90 s"``: the largest unit that divides it."""
    for size, unit in _UNITS:
        if seconds >= size and float(seconds) % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def stored_json(head: str | None, length: int | None, empty: str) -> tuple[str, bool]:
    """The stored JSON text of a value (its start) and whether it was cut; "" if it is ``empty``."""
    text = "null" if head is None else head
    if text.replace(" ", "") == empty:
        return "", False
    return text, (length or 0) > len(text)


@dataclass
class ScheduleRow:
    """One line of the Schedules page: a row (args and kwargs deferred) and what is known about it."""

    schedule: Schedule
    registered: bool
    last_job_status: str | None

    @property
    def name(self) -> str:
        return self.schedule.name

    @property
    def paused(self) -> bool:
        return self.schedule.paused

    @property
    def jobs_url(self) -> str:
        """Every job of the schedule's job name, fired or not."""
        return jobs_list_url(name=self.schedule.job_name)

    @property
    def fires_url(self) -> str:
        """The jobs this schedule fired (a run now is no fire: it is not among them)."""
        return jobs_list_url(schedule=self.schedule.name)

    @property
    def last_job_url(self) -> str:
        return reverse("admin:durable_jobs_job_change", args=[self.schedule.last_job_id])

    @property
    def arguments(self) -> str:
        """``["eu"] {"full": true}`` as stored (up to ``ARGS_READ_CHARS`` each); "" without any."""
        row = self.schedule
        parts = []
        for text, cut in (
            stored_json(row.args_head, row.args_length, "[]"),  # type: ignore[attr-defined]
            stored_json(row.kwargs_head, row.kwargs_length, "{}"),  # type: ignore[attr-defined]
        ):
            if text:
                parts.append(text + ("…" if cut else ""))
        return " ".join(parts)

    @property
    def arguments_short(self) -> str:
        text = self.arguments
        return text if len(text) <= MAX_ARGS_CHARS_SHOWN else text[:MAX_ARGS_CHARS_SHOWN] + "…"

    @property
    def catch_up(self) -> str:
        row = self.schedule
        if row.catch_up_window is None or row.catch_up == Schedule.CatchUp.LATEST:
            return row.catch_up
        return f"{row.catch_up}, within {duration(row.catch_up_window)}"

    @property
    def policies(self) -> list[tuple[str, str, str]]:
        """(policy, value, what the value means) for each policy."""
        row = self.schedule
        return [
            ("catch up", self.catch_up, row.get_catch_up_display()),
            ("overlap", row.overlap, row.get_overlap_display()),
            ("while paused", row.while_paused, row.get_while_paused_display()),
        ]


def schedule_rows(using: str) -> list[ScheduleRow]:
    """Every schedule row of database ``using``, by name, with its last job's status."""
    rows = list(
        Schedule.objects.using(using)
        .defer("args", "kwargs")
        .annotate(
            args_head=Left(stored_text("args"), ARGS_READ_CHARS),
            args_length=Length(stored_text("args")),
            kwargs_head=Left(stored_text("kwargs"), ARGS_READ_CHARS),
            kwargs_length=Length(stored_text("kwargs")),
        )
        .order_by("name")
    )
    last_jobs = [row.last_job_id for row in rows if row.last_job_id is not None]
    statuses = dict(Job.objects.using(using).filter(pk__in=last_jobs).values_list("pk", "status"))
    return [
        ScheduleRow(row, resolve(row.job_name) is not None, statuses.get(row.last_job_id)) for row in rows
    ]


def run_now_message(name: str, job: Job) -> SafeString:
    """The message of a run now: "Job 12 enqueued" linked to it, and why it may wait."""
    waits = ""
    if is_queue_paused(job.queue):
        waits = f" It waits: queue {job.queue!r} is paused."
    elif is_job_type_paused(job.name):
        waits = f" It waits: job type {job.name!r} is paused."
    return format_html(
        '<a href="{}">Job {}</a> enqueued: {} run now for schedule {}.{}',
        reverse("admin:durable_jobs_job_change", args=[job.pk]),
        job.pk,
        job.name,
        repr(name),
        waits,
    )


class ScheduleAdmin(RowsPageAdmin):
    """The Schedules page: a custom changelist over the schedule rows."""

    title = "Schedules"
    template = "admin/durable_jobs/schedules.html"
    rows_name = "schedules"
    buttons = ("pause", "resume", "run")

    def rows(self, using: str) -> list[Any]:
        return list(schedule_rows(using))

    @operation
    def operate_view(self, request: HttpRequest, action: str) -> HttpResponse:
        name = request.POST.get("name", "")
        by = request.user.get_username()
        done: str | SafeString
        try:
            if action == "pause":
                pause_schedule(name, by=by, reason=request.POST.get("reason", "").strip())
                done = f"Schedule {name!r} paused."
            elif action == "resume":
                resume_schedule(name, by=by)
                done = f"Schedule {name!r} resumed."
            elif action == "run":
                done = run_now_message(name, run_schedule_now(name, by=by))
            else:
                raise Http404(f"no action {action!r}")
        except (DurableJobsError, ValueError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return redirect(f"admin:{self.url_name('changelist')}")
