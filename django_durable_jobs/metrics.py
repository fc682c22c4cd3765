"""Prometheus metrics of the whole fleet, read from the database at each scrape.

Every number comes from the job database, so any one web process answers
for every worker. Each scrape builds a :class:`FleetCollector` on a fresh
``CollectorRegistry``: nothing is kept between scrapes, and nothing is
registered in ``prometheus_client``'s global registry.

What a scrape reads, none of it proportional to the finished jobs:

- the queue names (a skip scan of the ``(queue, status)`` index, one
  descent per queue), then the unfinished jobs of those queues through the
  same index;
- the outcome counters and histograms: a
  :class:`~django_durable_jobs.models.JobStatTotal` row per queue and job
  name, plus the last few minutes of
  :class:`~django_durable_jobs.models.JobStat` rollups not folded into
  them yet, summed in SQL;
- the worker registry, the running jobs (a partial index) and the queue pauses.

The counters and histograms are cumulative since statistics began: workers
fold each finished minute into the totals once, and ``STATS_RETENTION``
prunes only folded minutes, so they never drop (no false counter resets)
however old the minutes pruned.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core import checks
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from .conf import jobs_settings
from .models import Job, QueueState, Worker
from .querysets import is_alive
from .stats import OUTCOMES, RUN_BUCKETS, WAIT_BUCKETS, Rollup
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
                *self._finished(store),
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

    def _finished(self, store: Any) -> Iterator[Any]:
        finished = CounterMetricFamily(
            "durable_jobs_finished",
            "Executions by outcome since statistics began (STATS).",
            labels=["queue", "name", "outcome"],
        )
        run = HistogramMetricFamily(
            "durable_jobs_run_seconds", "Run time of executions.", labels=["queue", "name"]
        )
        waits: dict[str, Rollup] = {}
        for row in store.finished_totals():
            for outcome in OUTCOMES:
                finished.add_metric([row.queue, row.name, outcome], getattr(row, outcome))
            run.add_metric(
                [row.queue, row.name], *_cumulative(row.run_buckets, row.run_seconds_sum, RUN_BUCKETS)
            )
            waits.setdefault(row.queue, Rollup(None, row.queue)).add(row)
        wait = HistogramMetricFamily(
            "durable_jobs_wait_seconds",
            "Seconds from due to started: how long runnable jobs waited for a worker.",
            labels=["queue"],
        )
        for queue in sorted(waits):
            total = waits[queue]
            wait.add_metric([queue], *_cumulative(total.wait_buckets, total.wait_seconds_sum, WAIT_BUCKETS))
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


def _cumulative(counts: list[int], total: float, bounds: tuple[float, ...]) -> tuple[list, float]:
    """``(buckets, sum)`` for ``HistogramMetricFamily.add_metric``: counts made cumulative, ``+Inf`` last."""
    buckets, seen = [], 0
    for bound, n in zip([*map(str, bounds), "+Inf"], counts, strict=True):
        seen += n
        buckets.append((bound, seen))
    return buckets, total


def check_metrics_library(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A warning when ``django_durable_jobs.urls`` is included but ``prometheus_client`` is missing."""
    if available():
        return []
    try:
        reverse("durable_jobs:metrics")
    except NoReverseMatch:
        return []
    return [checks.Warning(MISSING, id="durable_jobs.W001")]
