"""The Dashboard page: throughput, wait times, queue depths, failures and busy slots.

Charts read the per-minute statistics (``JobStat``, ``QueueSample``), never
the job table's history, so their cost grows with the statistics rows in
the window (minutes x queues x job names), not with the jobs that ran; only
the last errors of the top failing names and the running jobs per worker
come from the live tables. A window (the last hour, 24 hours or 7 days) is
cut into at most ``MAX_POINTS`` buckets of whole minutes, aligned to the
clock so that a refresh moves the chart instead of reshuffling it; the
database sums each bucket (histograms index by index), so what reaches
Python is one row per minute, or per hour for the week.

The charts are inline SVG drawn by ``charts``; the page refreshes them
every few seconds (``TimeWindow.refresh_seconds``) with a few lines of
inline JavaScript that fetch the same view with ``?fragment=1`` and swap
the charts' HTML (no reload, no library).
The page is registered over ``JobStat`` and shown to whoever may view jobs
(``view_job``), whatever the permissions of ``JobStat`` itself.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import BigIntegerField, F, Max, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Left, TruncHour
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString, mark_safe

from .. import stats, validation
from ..conf import jobs_settings
from ..models import Job, JobStat, QueueSample, Worker
from ..statuses import Status
from .charts import PALETTE, Bar, Series, bar_chart, line_chart
from .common import JobTablesAdmin
from .guard import without
from .job_types import ERROR_READ_CHARS, LastError, first_line
from .pause_pages import jobs_list_url

#: The most points a chart draws: longer windows add minutes up into larger steps.
MAX_POINTS = 300
#: Bucket sizes a window may use, in minutes (the smallest that fits ``MAX_POINTS``).
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 240)
#: How many failing job names the page lists, and how many queues the depth chart draws.
TOP_FAILING = 10
MAX_QUEUES_DRAWN = len(PALETTE)


@dataclass(frozen=True)
class TimeWindow:
    """A choice of the page: the last ``minutes`` minutes, up to now."""

    key: str
    label: str
    minutes: int
    #: How often the page fetches fresh charts: a longer window moves slower and costs more to read.
    refresh_seconds: int = 5

    @property
    def step(self) -> int:
        """Minutes per point: the smallest of ``STEPS`` that keeps the chart within ``MAX_POINTS``."""
        return next(s for s in STEPS if math.ceil(self.minutes / s) <= MAX_POINTS)

    @property
    def points(self) -> int:
        return math.ceil(self.minutes / self.step)


WINDOWS = {
    w.key: w
    for w in (
        TimeWindow("1h", "Last hour", 60),
        TimeWindow("24h", "Last 24 hours", 1440, refresh_seconds=15),
        TimeWindow("7d", "Last 7 days", 7 * 1440, refresh_seconds=30),
    )
}
DEFAULT_WINDOW = "1h"


def step_name(step: int) -> str:
    """A step in words: "minute", "5 minutes", "hour", "2 hours"."""
    if step % 60 == 0:
        hours = step // 60
        return "hour" if hours == 1 else f"{hours} hours"
    return "minute" if step == 1 else f"{step} minutes"


@dataclass(frozen=True)
class Timeline:
    """The buckets of a window: ``count`` steps of ``step`` minutes, the last one holding ``now``.

    Bucket boundaries are multiples of ``step`` minutes since the epoch, so
    the same minute always falls into the same bucket.
    """

    start: datetime
    step: int
    count: int

    @classmethod
    def ending_at(cls, now: datetime, window: TimeWindow) -> Timeline:
        epoch_minute = int(now.timestamp() // 60)
        last = epoch_minute - epoch_minute % window.step
        first = last - (window.points - 1) * window.step
        return cls(datetime.fromtimestamp(first * 60, tz=UTC), window.step, window.points)

    @property
    def end(self) -> datetime:
        """The end of the last bucket (exclusive)."""
        return self.start + timedelta(minutes=self.step * self.count)

    def index(self, minute: datetime) -> int | None:
        """The bucket holding ``minute``, or None outside the timeline."""
        offset = (minute - self.start).total_seconds() // 60
        index = int(offset // self.step)
        return index if 0 <= index < self.count else None

    def labels(self) -> list[str]:
        """Each bucket's start in local time ("14:05", or "Dec 1 14:00" when the window spans days)."""
        spans_days = self.step * self.count > 1440
        fmt = "M j H:i" if spans_days else "H:i"
        return [
            date_format(timezone.localtime(self.start + timedelta(minutes=self.step * i)), fmt)
            for i in range(self.count)
        ]


def in_window(rows: Any, timeline: Timeline) -> Any:
    return rows.filter(minute__gte=timeline.start, minute__lt=timeline.end)


def period(timeline: Timeline) -> Any:
    """What the queries group rows by: the hour when a bucket is whole hours, else the minute.

    A week of hourly buckets is then 168 groups from the database, not 10,080
    minutes (buckets of whole hours start on the hour, as ``TruncHour`` does).
    """
    return TruncHour("minute", tzinfo=UTC) if timeline.step % 60 == 0 else F("minute")


@dataclass
class Outcomes:
    """Per bucket: jobs completed and failed, and the wait histogram (``stats.WAIT_BUCKETS`` counts)."""

    completed: list[float | None]
    failed: list[float | None]
    waits: list[list[int]]

    def wait_percentiles(self, q: float) -> list[float | None]:
        """The ``q`` quantile of the wait per bucket (``stats.percentile``; None: no wait measured)."""
        return [stats.percentile(counts, q, stats.WAIT_BUCKETS) for counts in self.waits]


def outcomes(using: str, timeline: Timeline) -> Outcomes:
    """The window's outcomes, summed per bucket by the database (histograms index by index).

    A bucket without outcomes is 0, unless the window has no statistics at
    all (nothing ran, or ``STATS`` is off): then every bucket is a gap, and
    the chart says "no data" instead of drawing a flat line.
    """
    size = len(stats.WAIT_BUCKETS) + 1
    histogram = {f"wait_{i}": Sum(Cast(KT(f"wait_buckets__{i}"), BigIntegerField())) for i in range(size)}
    rows = (
        in_window(JobStat.objects.using(using), timeline)
        .annotate(period=period(timeline))
        .values("period")
        .annotate(completed=Sum("completed"), failed=Sum("failed"), **histogram)
        .order_by()
    )
    found = Outcomes([], [], [[0] * size for _ in range(timeline.count)])
    for row in rows:
        index = timeline.index(row["period"])
        if index is None:
            continue
        for key in ("completed", "failed"):
            values = getattr(found, key)
            if not values:
                values.extend([0] * timeline.count)
            values[index] = (values[index] or 0) + (row[key] or 0)
        counts = found.waits[index]
        for i in range(size):
            counts[i] += row[f"wait_{i}"] or 0
    found.completed = found.completed or [None] * timeline.count
    found.failed = found.failed or [None] * timeline.count
    return found


def queue_depths(using: str, timeline: Timeline) -> dict[str, list[float | None]]:
    """``{queue: [pending jobs or None per bucket]}``, the highest sample of each bucket.

    A bucket without a sample (no worker was sampling) is a gap, not a zero.
    Only the ``MAX_QUEUES_DRAWN`` queues with the highest peaks are kept.
    """
    depths: dict[str, list[float | None]] = defaultdict(lambda: [None] * timeline.count)
    rows = (
        in_window(QueueSample.objects.using(using), timeline)
        .annotate(period=period(timeline))
        .values("period", "queue")
        .annotate(peak=Max("pending"))
        .values_list("period", "queue", "peak")
        .order_by()
    )
    for minute, queue, pending in rows:
        index = timeline.index(minute)
        if index is not None:
            values = depths[queue]
            values[index] = max(values[index] or 0, pending)
    peaks = sorted(depths, key=lambda q: (-max(v or 0 for v in depths[q]), q))
    return {queue: depths[queue] for queue in sorted(peaks[:MAX_QUEUES_DRAWN])}


@dataclass
class FailingName:
    """A job name that failed in the window: how often, and its most recent failure."""

    name: str
    failed: int
    last_error: LastError | None

    @property
    def failed_url(self) -> str:
        return jobs_list_url(name=self.name, status__exact=Status.FAILED)


def top_failing(using: str, timeline: Timeline, limit: int = TOP_FAILING) -> list[FailingName]:
    """The names with the most failures in the window, each with its latest failed job's error."""
    rows = list(
        in_window(JobStat.objects.using(using), timeline)
        .values("name")
        .annotate(failed=Sum("failed"))
        .filter(failed__gt=0)
        .order_by("-failed", "name")[:limit]
    )
    names = [row["name"] for row in rows]
    latest = Job.objects.using(using).filter(name__in=names).latest_failed_per_name()
    errors = {
        name: LastError(pk, first_line(head or ""), finished)
        for name, pk, head, finished in Job.objects.using(using)
        .filter(pk__in=latest.values())
        .annotate(error_head=Left("last_error", ERROR_READ_CHARS))
        .values_list("name", "pk", "error_head", "finished_at")
    }
    return [FailingName(row["name"], row["failed"], errors.get(row["name"])) for row in rows]


def busy_slots(using: str) -> list[Bar]:
    """One bar per alive worker: its running jobs out of its concurrency, now."""
    running = Job.objects.using(using).running_per_worker()
    workers = Worker.objects.using(using).alive().order_by("id").values_list("id", "concurrency")
    return [Bar(worker_id, running.get(worker_id, 0), concurrency) for worker_id, concurrency in workers]


def seconds_unit(values: Iterable[float | None]) -> tuple[float, str]:
    """(divisor, unit) that shows wait times readably: ms below a second, minutes above 2 minutes."""
    peak = max((v for v in values if v is not None), default=0.0)
    if peak < 1:
        return 0.001, "ms"
    if peak > 120:
        return 60.0, "min"
    return 1.0, "s"


def dashboard_charts(using: str, window: TimeWindow, now: datetime | None = None) -> dict[str, Any]:
    """Everything the charts fragment shows, for ``window`` up to ``now``."""
    now = now or timezone.now()
    timeline = Timeline.ending_at(now, window)
    labels = timeline.labels()
    per = step_name(timeline.step)
    found = outcomes(using, timeline)
    done = {"completed": found.completed, "failed": found.failed}
    waits = {q: found.wait_percentiles(q) for q in (0.5, 0.95)}
    divisor, unit = seconds_unit(waits[0.95])
    depths = queue_depths(using, timeline)
    svg: dict[str, SafeString] = {
        "throughput": chart(
            f"Jobs finished per {per}",
            [Series(name, values) for name, values in done.items()],
            labels,
        ),
        "wait": chart(
            f"Wait before start per {per} ({unit})",
            [
                Series(f"p{round(q * 100)}", [None if v is None else v / divisor for v in values])
                for q, values in waits.items()
            ],
            labels,
        ),
        "depth": chart(
            f"Pending jobs per queue (highest per {per})",
            [Series(queue, values) for queue, values in depths.items()],
            labels,
        ),
        "slots": mark_safe(  # noqa: S308 - charts escapes every text it draws
            bar_chart("Busy slots per alive worker (now)", busy_slots(using), "No alive worker")
        ),
    }
    return {
        "charts": svg,
        "failing": top_failing(using, timeline),
        "window": window,
        "step": per,
        "generated_at": now,
        "stats_off": not jobs_settings.STATS,
        "totals": {name: int(sum(v or 0 for v in values)) for name, values in done.items()},
    }


def chart(title: str, series: list[Series], labels: list[str]) -> SafeString:
    return mark_safe(line_chart(title, series, labels))  # noqa: S308 - charts escapes every text


class DashboardAdmin(JobTablesAdmin):
    """The Dashboard page, in place of ``JobStat``'s changelist (its rows have no page of their own)."""

    template = "admin/durable_jobs/dashboard.html"
    fragment_template = "admin/durable_jobs/dashboard_charts.html"

    def job_permission(self, request: HttpRequest, action: str) -> bool:
        return request.user.has_perm(f"{Job._meta.app_label}.{get_permission_codename(action, Job._meta)}")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.job_permission(request, "view") or self.job_permission(request, "change")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [
            path("", self.admin_site.admin_view(self.changelist_view), name=name),
            path("<path:rest>", self.admin_site.admin_view(self.to_dashboard)),
        ]

    def to_dashboard(self, request: HttpRequest, rest: str) -> HttpResponse:
        """Statistics rows have no page of their own: everything is on the dashboard."""
        return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        fragment = "fragment" in request.GET
        key = request.GET.get("window", DEFAULT_WINDOW)
        window = WINDOWS.get(key)
        if window is None:
            choices = ", ".join(WINDOWS)
            error = f"window {validation.show(key)} is not one of {choices}"
            if fragment:
                return HttpResponseBadRequest(error, content_type="text/plain; charset=utf-8")
            self.message_user(
                request, f"{error[0].upper()}{error[1:]}: showing the last hour.", messages.ERROR
            )
            return without(request, ["window"])
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        context = {
            **dashboard_charts(jobs_settings.DATABASE, window),
            "fragment_url": f"{url}?window={window.key}&fragment=1",
            "refresh_seconds": window.refresh_seconds,
        }
        if fragment:
            return TemplateResponse(request, self.fragment_template, context)
        context.update(
            self.admin_site.each_context(request),
            opts=self.opts,
            title="Dashboard",
            windows=[(w, f"{url}?window={w.key}") for w in WINDOWS.values()],
            **(extra_context or {}),
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.template, context)
