"""Prometheus metrics of the whole fleet, read from the database at each scrape.

Every number comes from the job database, so any one web process answers
for every worker. Each scrape builds a :class:`FleetCollector` on a fresh
``CollectorRegistry``: nothing is kept between scrapes, and nothing is
registered in ``prometheus_client``'s global registry.

What a scrape reads, none of it proportional to the finished jobs:

- the queue names (a skip scan of the ``(queue, status)`` index, one
  descent per queue), then the unfinished jobs of those queues through the
  same index;
- the :class:`~django_durable_jobs.models.JobStat` rollups, summed in SQL:
  outcome counters and histograms over ``STATS_RETENTION``;
- the worker registry, the running jobs (a partial index) and the queue pauses.

The counters sum the rollups kept; as the oldest minute leaves
``STATS_RETENTION`` a sum can drop, which Prometheus reads as a counter
reset: query it with ``increase()``/``rate()`` over ranges well inside the
retention.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core import checks
from django.db.models import BigIntegerField, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from .conf import jobs_settings
from .models import Job, JobStat, QueueState, Worker
from .querysets import is_alive
from .stats import OUTCOMES, RUN_BUCKETS, WAIT_BUCKETS
from .statuses import UNFINISHED
from .storage import engine
from .storage.metrics import QueueRow

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
except ImportError:  # the extra is not installed: the view says so
    CollectorRegistry = None  # type: ignore[assignment,misc]

MISSING = (
    "prometheus_client is not installed: install django-durable-jobs[metrics] "
    "(pip install 'django-durable-jobs[metrics]') to serve /metrics."
)


def available() -> bool:
    """Whether ``prometheus_client`` is installed."""
    return CollectorRegistry is not None


def render(using: str | None = None) -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    if CollectorRegistry is None:
        raise RuntimeError(MISSING)
    registry = CollectorRegistry()
    registry.register(FleetCollector(using or jobs_settings.DATABASE))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class FleetCollector:
    """A one-scrape ``prometheus_client`` collector over the job tables of ``using``."""

    def __init__(self, using: str) -> None:
        self.using = using

    def collect(self) -> Iterator[Any]:
        store = engine(self.using)
        with store.metrics_reads():
            rows = store.queue_overview(UNFINISHED)
            queues = [queue for queue, _, _ in rows]
            families = [
                *self._jobs(queues, rows),
                *self._finished(),
                *self._workers(),
                *self._paused(queues),
            ]
        yield from families

    # ------------------------------------------------------------------ jobs

    def _jobs(self, queues: list[str], rows: list[QueueRow]) -> Iterator[Any]:
        counts = {queue: by_status for queue, by_status, _ in rows}
        gauge = GaugeMetricFamily(
            "durable_jobs_jobs", "Jobs in each unfinished status, per queue.", labels=["queue", "status"]
        )
        for queue in queues:
            for status in UNFINISHED:
                gauge.add_metric([queue, str(status)], counts[queue][status])
        yield gauge
        now = timezone.now()
        oldest = {queue: since for queue, _, since in rows}
        gauge = GaugeMetricFamily(
            "durable_jobs_oldest_pending_seconds",
            "Seconds the oldest due pending job of each queue has waited (0: none waits).",
            labels=["queue"],
        )
        for queue in queues:
            since = oldest.get(queue)
            gauge.add_metric([queue], max((now - since).total_seconds(), 0.0) if since else 0.0)
        yield gauge

    # ------------------------------------------------------------------ rollups

    def _finished(self) -> Iterator[Any]:
        sums: dict[str, Any] = {f: Sum(f) for f in (*OUTCOMES, "run_seconds_sum", "wait_seconds_sum")}
        for prefix, bounds in (("wait", WAIT_BUCKETS), ("run", RUN_BUCKETS)):
            for i in range(len(bounds) + 1):
                sums[f"{prefix}_{i}"] = Sum(Cast(KT(f"{prefix}_buckets__{i}"), BigIntegerField()))
        rows = JobStat.objects.using(self.using).order_by().values("queue", "name").annotate(**sums)
        finished = CounterMetricFamily(
            "durable_jobs_finished",
            f"Executions by outcome over the statistics kept ({_retention()}).",
            labels=["queue", "name", "outcome"],
        )
        run = HistogramMetricFamily(
            "durable_jobs_run_seconds", "Run time of executions.", labels=["queue", "name"]
        )
        waits: dict[str, tuple[list[int], float]] = {}
        for row in rows:
            queue, name = row["queue"], row["name"]
            for outcome in OUTCOMES:
                finished.add_metric([queue, name, outcome], row[outcome] or 0)
            run.add_metric([queue, name], *_histogram(row, "run", RUN_BUCKETS))
            counts, total = waits.get(queue, ([0] * (len(WAIT_BUCKETS) + 1), 0.0))
            counts = [n + (row[f"wait_{i}"] or 0) for i, n in enumerate(counts)]
            waits[queue] = (counts, total + (row["wait_seconds_sum"] or 0.0))
        wait = HistogramMetricFamily(
            "durable_jobs_wait_seconds",
            "Seconds from due to started: how long runnable jobs waited for a worker.",
            labels=["queue"],
        )
        for queue in sorted(waits):
            counts, total = waits[queue]
            wait.add_metric([queue], *_cumulative(counts, total, WAIT_BUCKETS))
        yield finished
        yield wait
        yield run

    # ------------------------------------------------------------------ workers and pauses

    def _workers(self) -> Iterator[Any]:
        now = timezone.now()
        workers = Worker.objects.using(self.using).only("id", "paused", "stopped_at", "heartbeat_at")
        alive = {w.id: w.paused for w in workers if is_alive(w, now)}
        states = GaugeMetricFamily(
            "durable_jobs_workers",
            "Workers: alive (running), paused (alive, paused) and dead (stopped or silent).",
            labels=["state"],
        )
        states.add_metric(["alive"], sum(not paused for paused in alive.values()))
        states.add_metric(["paused"], sum(alive.values()))
        states.add_metric(["dead"], len(workers) - len(alive))
        yield states
        busy = {worker_id: 0 for worker_id in alive}
        busy.update(Job.objects.using(self.using).running_per_worker())
        slots = GaugeMetricFamily(
            "durable_jobs_worker_busy_slots", "Jobs each worker is running.", labels=["worker"]
        )
        for worker_id in sorted(busy):
            slots.add_metric([worker_id], busy[worker_id])
        yield slots

    def _paused(self, queues: list[str]) -> Iterator[Any]:
        states = dict(QueueState.objects.using(self.using).values_list("queue", "paused"))
        gauge = GaugeMetricFamily(
            "durable_jobs_queue_paused", "1 if the queue is paused, else 0.", labels=["queue"]
        )
        for queue in sorted({*queues, *states}):
            gauge.add_metric([queue], 1 if states.get(queue) else 0)
        yield gauge


def _histogram(row: dict[str, Any], prefix: str, bounds: tuple[float, ...]) -> tuple[list, float]:
    counts = [row[f"{prefix}_{i}"] or 0 for i in range(len(bounds) + 1)]
    return _cumulative(counts, row[f"{prefix}_seconds_sum"] or 0.0, bounds)


def _cumulative(counts: list[int], total: float, bounds: tuple[float, ...]) -> tuple[list, float]:
    """``(buckets, sum)`` for ``HistogramMetricFamily.add_metric``: counts made cumulative, ``+Inf`` last."""
    buckets, seen = [], 0
    for bound, n in zip([*map(str, bounds), "+Inf"], counts, strict=True):
        seen += n
        buckets.append((bound, seen))
    return buckets, total


def _retention() -> str:
    period = jobs_settings.STATS_RETENTION
    return "STATS_RETENTION: forever" if period is None else f"STATS_RETENTION: {period}"


def check_metrics_library(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A warning when ``django_durable_jobs.urls`` is included but ``prometheus_client`` is missing."""
    if available():
        return []
    try:
        reverse("durable_jobs:metrics")
    except NoReverseMatch:
        return []
    return [checks.Warning(MISSING, id="durable_jobs.W001")]
