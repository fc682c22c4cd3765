"""Per-minute statistics, written in the transactions that make the outcomes (internal).

Internal module of the state machine. Two ways, both ending with the upsert
of the rollup rows (which every worker of the fleet writes, so they are
locked for as short a time as possible):

- A batch of nothing but completions, on PostgreSQL: the completing
  statement counts them itself (:func:`complete_many`; a PL/pgSQL function
  adds up what the ``UPDATE`` returns). Nothing is read or counted in
  Python: this is most batches of a busy worker.
- Any other batch: :func:`lock_jobs` replaces the batch's row locks with a
  statement that also reads each execution's wait and run time, and
  :func:`record_outcomes` aggregates the batch in Python (one
  :class:`~django_durable_jobs.stats.Rollup` per minute, queue and job name)
  and upserts it as the transaction's last statement.

With ``STATS = False`` nothing here reads or writes anything extra.

:func:`fold_totals` runs apart from all that, in the workers' housekeeping:
it adds the finished minutes to the cumulative totals ``/metrics`` reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.utils import timezone

from ..conf import jobs_settings, retention_period
from ..stats import Rollup, Tally, minute_of, outcome_of
from ..storage import engine
from ..storage.stats import Timings

Timed = tuple[datetime, Timings]
#: How far behind "now" the totals are folded: the minutes still being written.
FOLD_LAG = timedelta(minutes=2)
#: The most minutes one fold adds (a first fold after upgrading catches up a day a minute).
FOLD_SPAN = timedelta(days=1)


class Folded(NamedTuple):
    """What a fold did: the last minute the totals now hold (None: no rollup yet), totals added to."""

    through: datetime | None
    totals: int


def lock_jobs(using: str, job_ids: list[int], *, only_completions: bool) -> Timed | None:
    """Inside a transaction: lock these job rows in id order; read their timings if Python counts them.

    Python counts a batch with ``STATS`` on, unless it holds nothing but
    completions (``only_completions``: no other outcome, no fan-out child)
    and the dialect counts those in the completing statement (then
    :func:`complete_many` does, and the batch takes no other lock after the
    rollup rows).
    """
    store = engine(using)
    if not jobs_settings.STATS or _counted_in_sql(store, only_completions):
        store.lock_jobs(job_ids)
        return None
    return store.lock_jobs_timed(job_ids)


def complete_many(
    using: str, items: list[tuple[int, str, Any]], *, only_completions: bool
) -> tuple[set[int], bool]:
    """Complete these (id, lease, result); returns the ids still owned and whether they were counted."""
    store = engine(using)
    if jobs_settings.STATS and _counted_in_sql(store, only_completions):
        return store.complete_many_counted(items), True
    return store.complete_many(items), False


def _counted_in_sql(store: Any, only_completions: bool) -> bool:
    return only_completions and store.counts_completions


def record_outcomes(using: str, timed: Timed | None, outcomes: Iterable[tuple[str, int, str | None]]) -> None:
    """Add a batch's (outcome kind, job id, new status) to its minute's rollups.

    ``timed`` is what :func:`lock_jobs` returned (None: ``STATS`` is off).
    """
    if timed is not None:
        engine(using).upsert_stats(_tally(timed, outcomes))


def _tally(timed: Timed, outcomes: Iterable[tuple[str, int, str | None]]) -> list[Rollup]:
    """The rollups of these (outcome kind, job id, new status), one per minute, queue and name."""
    minute, timings = timed
    tally = Tally()
    for kind, job_id, status in outcomes:
        counter = outcome_of(kind, status)
        timing = timings.get(job_id)
        if counter is None or timing is None:
            continue
        name, queue, wait, run = timing
        row = tally.row(minute, queue, name)
        row.count(counter)
        row.observe(wait, run)
    return tally.rows()


def cancelled(using: str, job_ids: list[int]) -> None:
    """Inside the cancelling transaction: count these jobs as cancelled this minute."""
    count(using, "cancelled", job_ids)


def count(using: str, outcome: str, job_ids: list[int]) -> None:
    """Inside the transaction that made it: count an ``outcome`` of these jobs that ended no execution."""
    if jobs_settings.STATS and job_ids:
        engine(using).count_jobs(minute_of(timezone.now()), outcome, job_ids)


def sample_queues(using: str, now: datetime | None = None) -> bool:
    """Record this minute's queue depth samples unless a worker did already; True if this one did.

    The check first, so the fleet counts once a minute; two workers that
    both pass it insert the same minute, and the second insert is a no-op.
    """
    if not jobs_settings.STATS:
        return False
    minute = minute_of(now or timezone.now())
    store = engine(using)
    if store.sampled(minute):
        return False
    with store.atomic():
        return store.insert_samples(minute, store.unfinished_counts()) > 0


def fold_totals(using: str, now: datetime | None = None) -> Folded:
    """Add the minutes that ended before the last two to the cumulative totals ``/metrics`` reads.

    Workers call it once a minute (whichever gets there first folds; the
    others find nothing left). ``now`` defaults to the clock the writers
    count minutes by. The current minute and the one before stay out: an
    outcome transaction counts in the minute it began, so a minute is still
    written to after it ends. A count added to a minute already folded (an
    outcome transaction open for over a minute, a cancelling process whose
    clock is behind the database's) stays out of the totals. At most
    :data:`FOLD_SPAN` of minutes goes in at a time. With ``STATS`` off there
    is nothing new to fold and nothing is read.
    """
    if not jobs_settings.STATS:
        return Folded(None, 0)
    return _fold(using, now)


def _fold(using: str, now: datetime | None) -> Folded:
    store = engine(using)
    with store.atomic():
        cutoff = minute_of(now or store.stats_clock()) - FOLD_LAG
        return Folded(*store.fold_stats(cutoff, FOLD_SPAN))


def prune_stats(using: str, now: datetime | None = None) -> tuple[int, int]:
    """Delete rollups and queue samples older than ``STATS_RETENTION``; returns how many of each.

    The minutes are folded into the totals first, and a rollup not folded
    yet stays (see ``Engine.delete_stats_before``).
    """
    period = retention_period(jobs_settings.STATS_RETENTION)
    if period is None:
        return 0, 0
    _fold(using, now)
    store = engine(using)
    with store.atomic():
        return store.delete_stats_before(minute_of((now or timezone.now()) - period))
