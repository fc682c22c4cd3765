"""Per-minute statistics: bucket bounds, aggregation, and the helpers that read them back.

The worker's writer upserts one :class:`~django_durable_jobs.models.JobStat`
row per minute, queue and job name in the transaction that records the
outcomes (``state.stats``); once a minute one worker records a
:class:`~django_durable_jobs.models.QueueSample` per queue. What is here is
shared by that write path and by everything that reads the statistics (the
dashboard, ``/metrics``, ``durablejobs status``):

- :data:`WAIT_BUCKETS` and :data:`RUN_BUCKETS`, the histogram bounds
  (seconds). A value lands in the first bucket whose bound is >= it (as in
  Prometheus' ``le``); the last count of a list is "above the last bound".
  Lists are *not* cumulative.
- :class:`Rollup`, one row's counts, which add up (:meth:`Rollup.add`).
- :func:`per_minute`, :func:`totals`, :func:`queue_samples`,
  :func:`throughput` and :func:`percentile`: the reading helpers.

Wait time is ``started_at - max(created_at, run_after)`` of an execution (how
long a runnable job waited for a worker); run time is its finish minus
``started_at``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from .conf import jobs_settings
from .models import JobStat, QueueSample

#: Histogram bounds of the wait before an execution starts, in seconds.
WAIT_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip
#: Histogram bounds of an execution's run time, in seconds.
RUN_BUCKETS: tuple[float, ...] = WAIT_BUCKETS
#: The outcome counters of a :class:`~django_durable_jobs.models.JobStat` row.
OUTCOMES = ("completed", "failed", "retried", "cancelled", "paused", "snoozed")
#: The unfinished statuses a :class:`~django_durable_jobs.models.QueueSample` counts.
SAMPLED = ("pending", "running", "waiting", "paused")


def minute_of(moment: datetime) -> datetime:
    """The start of the minute ``moment`` falls in."""
    return moment.replace(second=0, microsecond=0)


def bucket_index(bounds: Sequence[float], seconds: float) -> int:
    """Which count of a bucket list ``seconds`` adds to (``len(bounds)``: above the last bound)."""
    return bisect.bisect_left(bounds, seconds)


def outcome_of(kind: str, status: str | None) -> str | None:
    """The counter an outcome of ``kind`` that left its job in ``status`` adds to, or None.

    ``kind`` is an outcome kind of the worker (``state.execution.KINDS``). A
    release (the job given back unrun) and a discarded outcome (``status``
    None: the execution no longer owned its job) count nowhere.
    """
    if status is None or kind == "release":
        return None
    if status == "paused":
        return "paused"  # a graceful pause took effect as the attempt ended
    if kind == "complete":
        return "completed"
    if kind in ("fail", "fail_now"):
        return "failed"
    return {"retry": "retried", "snooze": "snoozed"}.get(kind)


@dataclass
class Rollup:
    """The counts of one :class:`~django_durable_jobs.models.JobStat` row, or of a sum of rows.

    ``queue`` or ``name`` is ``""`` in a sum over several queues or names.
    """

    minute: datetime | None = None
    queue: str = ""
    name: str = ""
    completed: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    paused: int = 0
    snoozed: int = 0
    run_count: int = 0
    run_seconds_sum: float = 0.0
    run_seconds_max: float = 0.0
    wait_count: int = 0
    wait_seconds_sum: float = 0.0
    wait_buckets: list[int] = field(default_factory=lambda: [0] * (len(WAIT_BUCKETS) + 1))
    run_buckets: list[int] = field(default_factory=lambda: [0] * (len(RUN_BUCKETS) + 1))

    @property
    def finished(self) -> int:
        """Executions that ended with an outcome (every counter but ``cancelled``): throughput."""
        return self.completed + self.failed + self.retried + self.paused + self.snoozed

    def count(self, outcome: str, n: int = 1) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
        setattr(self, outcome, getattr(self, outcome) + n)

    def observe(self, wait: float | None, run: float | None) -> None:
        """Add one execution's wait and run time (seconds; negative clock skew counts as 0)."""
        if wait is not None:
            wait = max(wait, 0.0)
            self.wait_count += 1
            self.wait_seconds_sum += wait
            self.wait_buckets[bucket_index(WAIT_BUCKETS, wait)] += 1
        if run is not None:
            run = max(run, 0.0)
            self.run_count += 1
            self.run_seconds_sum += run
            self.run_seconds_max = max(self.run_seconds_max, run)
            self.run_buckets[bucket_index(RUN_BUCKETS, run)] += 1

    def add(self, other: Rollup) -> None:
        """Add ``other``'s counts to these (bucket lists element-wise)."""
        for name in (*OUTCOMES, "run_count", "run_seconds_sum", "wait_count", "wait_seconds_sum"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.run_seconds_max = max(self.run_seconds_max, other.run_seconds_max)
        self.wait_buckets = _added(self.wait_buckets, other.wait_buckets)
        self.run_buckets = _added(self.run_buckets, other.run_buckets)

    def wait_percentile(self, q: float) -> float | None:
        return percentile(self.wait_buckets, q, WAIT_BUCKETS)

    def run_percentile(self, q: float) -> float | None:
        return percentile(self.run_buckets, q, RUN_BUCKETS)

    @classmethod
    def of_row(cls, row: object) -> Rollup:
        """A :class:`Rollup` of a ``JobStat`` row (or of anything with its attributes)."""
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def _added(a: Sequence[int], b: Sequence[int]) -> list[int]:
    longer, shorter = (a, b) if len(a) >= len(b) else (b, a)
    return [x + (shorter[i] if i < len(shorter) else 0) for i, x in enumerate(longer)]


class Tally:
    """Aggregates one batch of outcomes into one :class:`Rollup` per minute, queue and name."""

    def __init__(self) -> None:
        self._rows: dict[tuple[datetime, str, str], Rollup] = {}

    def row(self, minute: datetime, queue: str, name: str) -> Rollup:
        key = (minute_of(minute), queue, name)
        found = self._rows.get(key)
        if found is None:
            found = self._rows[key] = Rollup(*key)
        return found

    def rows(self) -> list[Rollup]:
        """The rollups in (minute, queue, name) order: the order upserts lock their rows in."""
        return [self._rows[key] for key in sorted(self._rows)]

    def __bool__(self) -> bool:
        return bool(self._rows)


def percentile(buckets: Sequence[int], q: float, bounds: Sequence[float] = WAIT_BUCKETS) -> float | None:
    """The ``q`` quantile (0..1) estimated from non-cumulative bucket counts, or None without any.

    Linear within the bucket it falls in, as Prometheus' ``histogram_quantile``
    does; in the overflow bucket it is the last bound (all that is known).
    """
    if not 0 <= q <= 1:
        raise ValueError(f"q must be between 0 and 1, not {q!r}")
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(buckets):
        if n and seen + n >= rank:
            if i >= len(bounds):
                return float(bounds[-1])
            low = bounds[i - 1] if i > 0 else 0.0
            return low + (bounds[i] - low) * max(rank - seen, 0) / n
        seen += n
    return float(bounds[-1])


# --------------------------------------------------------------------------- reading


def _stats(
    since: datetime, until: datetime | None, queue: str | None, name: str | None, using: str | None
) -> QuerySet[JobStat]:
    rows = JobStat.objects.using(using or jobs_settings.DATABASE).filter(minute__gte=minute_of(since))
    if until is not None:
        rows = rows.filter(minute__lte=until)
    if queue is not None:
        rows = rows.filter(queue=queue)
    if name is not None:
        rows = rows.filter(name=name)
    return rows.order_by("minute", "queue", "name")


def per_minute(
    since: datetime,
    queue: str | None = None,
    *,
    until: datetime | None = None,
    name: str | None = None,
    using: str | None = None,
) -> list[Rollup]:
    """One :class:`Rollup` per minute from ``since`` to ``until`` (default now), oldest first.

    Each sums the rows of that minute over every queue (or only ``queue``) and
    every job name (or only ``name``); minutes without any row are there,
    with zero counts, so a chart has no gaps.
    """
    until = minute_of(until or timezone.now())
    found: dict[datetime, Rollup] = {}
    for row in _stats(since, until, queue, name, using):
        total = found.setdefault(row.minute, Rollup(row.minute, queue or "", name or ""))
        total.add(Rollup.of_row(row))
    minutes: list[Rollup] = []
    minute = minute_of(since)
    while minute <= until:
        minutes.append(found.get(minute) or Rollup(minute, queue or "", name or ""))
        minute += timedelta(minutes=1)
    return minutes


def totals(
    since: datetime,
    *,
    by: str = "queue",
    until: datetime | None = None,
    queue: str | None = None,
    using: str | None = None,
) -> dict[str, Rollup]:
    """``{queue: Rollup}`` (``by="queue"``) or ``{job name: Rollup}`` (``by="name"``), summed over minutes."""
    if by not in ("queue", "name"):
        raise ValueError(f"by must be 'queue' or 'name', not {by!r}")
    found: dict[str, Rollup] = {}
    for row in _stats(since, until, queue, None, using):
        key = getattr(row, by)
        total = found.setdefault(
            key, Rollup(None, row.queue if by == "queue" else "", key if by == "name" else "")
        )
        total.add(Rollup.of_row(row))
    return found


def throughput(now: datetime | None = None, *, using: str | None = None) -> dict[str, float]:
    """``{queue: executions finished in the last 60 seconds}``, estimated from the minute rows.

    The current minute counts whole, the previous one in proportion to the
    part of it still inside the last 60 seconds (a sliding window).
    """
    now = now or timezone.now()
    current = minute_of(now)
    previous = current - timedelta(minutes=1)
    weight = 1 - (now - current).total_seconds() / 60
    found: dict[str, float] = {}
    for row in _stats(previous, current, None, None, using):
        share = 1.0 if row.minute == current else weight
        found[row.queue] = found.get(row.queue, 0.0) + Rollup.of_row(row).finished * share
    return found


@dataclass(frozen=True)
class Sample:
    """A :class:`~django_durable_jobs.models.QueueSample`'s counts."""

    minute: datetime
    queue: str
    pending: int
    running: int
    waiting: int
    paused: int


def queue_samples(
    since: datetime, queue: str | None = None, *, until: datetime | None = None, using: str | None = None
) -> list[Sample]:
    """The queue depth samples from ``since`` on (oldest first); a queue without jobs has none."""
    rows = QueueSample.objects.using(using or jobs_settings.DATABASE).filter(minute__gte=minute_of(since))
    if until is not None:
        rows = rows.filter(minute__lte=until)
    if queue is not None:
        rows = rows.filter(queue=queue)
    return [
        Sample(r.minute, r.queue, r.pending, r.running, r.waiting, r.paused)
        for r in rows.order_by("minute", "queue")
    ]


def outcome_counts(rows: Iterable[Rollup]) -> dict[str, int]:
    """``{outcome: count}`` summed over ``rows``."""
    return {outcome: sum(getattr(r, outcome) for r in rows) for outcome in OUTCOMES}
