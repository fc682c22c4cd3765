"""Retention: deleting finished jobs once they have expired.

Internal module of the state machine. ``RETENTION`` says how long jobs are
kept after they finish, per status; a queue's ``retention`` in ``QUEUES``
replaces it for the statuses it names. Workers call :func:`prune_expired`
from their control loop; ``manage.py durablejobs prune`` calls :func:`prune`.

Jobs go in batches of at most :data:`BATCH`, one short transaction each,
with their checkpoints and fan-outs. What is never pruned, and how one
pruner at a time is chosen, is in :mod:`django_durable_jobs.storage.retention`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from .. import validation
from ..conf import DEFAULT_RETENTION, jobs_settings, retention_period
from ..exceptions import InvalidValue
from ..statuses import TERMINAL
from ..storage import Engine, engine
from ..storage import retention as sql
from ..storage.retention import Rule
from . import stats

__all__ = ["BATCH", "Pruned", "Rule", "parse_statuses", "prune", "prune_expired", "retention", "rules"]

#: Most jobs one batch (one transaction) deletes.
BATCH = 10_000
#: Most ids one batch looks through: a table of jobs that are all kept costs
#: each statement this much at most, so a worker's time budget holds.
SPAN = 100_000
#: Tries of one batch whose jobs changed between picking and deleting them.
_TRIES = 3
PRUNABLE = tuple(status.value for status in TERMINAL)


@dataclass
class Pruned:
    """What a prune deleted (or, in a dry run, would delete)."""

    jobs: int = 0
    checkpoints: int = 0
    fanouts: int = 0
    #: Another pruner held the lock: this one did nothing.
    busy: bool = False
    #: Stopped by its time budget with more left to look at, from job id ``resume`` on.
    more: bool = False
    resume: int = 0
    batches: int = field(default=0, repr=False)

    def add(self, jobs: int, checkpoints: int, fanouts: int) -> None:
        self.jobs += jobs
        self.checkpoints += checkpoints
        self.fanouts += fanouts
        self.batches += 1


def parse_statuses(values: Iterable[str], field: str = "status") -> tuple[str, ...]:
    """Finished statuses, each once, as given; refuses anything else."""
    found: list[str] = []
    for value in values:
        if value not in PRUNABLE:
            raise InvalidValue(field, f"{validation.show(value)} is not one of {', '.join(PRUNABLE)}")
        if value not in found:
            found.append(value)
    return tuple(found)


def retention(queue: str | None = None) -> dict[str, timedelta | None]:
    """How long jobs of ``queue`` (any queue: None) are kept, per finished status."""
    periods = {**DEFAULT_RETENTION, **jobs_settings.RETENTION}
    if queue is not None:
        periods.update((jobs_settings.QUEUES.get(queue) or {}).get("retention") or {})
    return {status: retention_period(period) for status, period in periods.items()}


def rules(
    *,
    statuses: Iterable[str] | None = None,
    queues: Iterable[str] | None = None,
    older_than: timedelta | None = None,
    now: datetime | None = None,
) -> list[Rule]:
    """What has expired: ``RETENTION`` and the queues' own, or ``older_than`` for every status chosen."""
    now = now or timezone.now()
    chosen = parse_statuses(statuses) if statuses else PRUNABLE
    only = tuple(dict.fromkeys(queues)) if queues else None
    if older_than is not None:
        cutoff = _cutoff(now, older_than)
        return [Rule(status, cutoff, only) for status in chosen] if cutoff else []
    overrides = {
        queue: options["retention"]
        for queue, options in jobs_settings.QUEUES.items()
        if isinstance(options, dict) and options.get("retention")
    }
    default = retention()
    found = []
    for status in chosen:
        own = {queue: periods[status] for queue, periods in overrides.items() if status in periods}
        cutoff = _cutoff(now, default[status])
        if cutoff and only is None:
            found.append(Rule(status, cutoff, None, tuple(sorted(own))))
        elif cutoff and (rest := tuple(q for q in only if q not in own)):
            found.append(Rule(status, cutoff, rest))
        for queue, period in sorted(own.items()):
            cutoff = _cutoff(now, retention_period(period))
            if cutoff and (only is None or queue in only):
                found.append(Rule(status, cutoff, (queue,)))
    return found


def _cutoff(now: datetime, period: timedelta | None) -> datetime | None:
    if period is None:
        return None  # kept forever
    try:
        return now - period
    except OverflowError:  # longer ago than datetimes go: nothing is that old
        return None


def count(using: str | None = None, **options: object) -> int:
    """Jobs the rules match (an upper bound of what :func:`prune` deletes): a progress bar's total."""
    found = rules(**options)  # type: ignore[arg-type]
    return sql.count_expired(engine(using), found) if found else 0


def prune_expired(
    using: str | None = None, *, budget: float | None = None, start: int = 0, batch_size: int = BATCH
) -> Pruned:
    """A worker's prune: skipped (``busy``) while another pruner holds the lock.

    A new round (``start`` 0, once per ``PRUNE_SECONDS``) first deletes the
    statistics older than ``STATS_RETENTION``.
    """
    if start == 0:
        stats.prune_stats(using or jobs_settings.DATABASE)
    return prune(using, wait=False, budget=budget, start=start, batch_size=batch_size)


def prune(
    using: str | None = None,
    *,
    statuses: Iterable[str] | None = None,
    queues: Iterable[str] | None = None,
    older_than: timedelta | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH,
    budget: float | None = None,
    wait: bool = True,
    start: int = 0,
    progress: Callable[[Pruned], None] | None = None,
) -> Pruned:
    """Delete expired jobs with their checkpoints and fan-outs, in batches; returns the totals.

    ``dry_run`` counts what would go and writes nothing. ``budget`` (seconds)
    stops after the batch that spends it, with ``more`` set. ``wait=False``
    gives up at once (``busy``) when another pruner holds the lock.
    ``start`` goes on from a job id (a previous prune's ``resume``).
    """
    batch_size = validation.integer("batch_size", batch_size, 1, BATCH)
    found = rules(statuses=statuses, queues=queues, older_than=older_than)
    result = Pruned()
    if not found:
        return result
    store = engine(using)
    started = time.monotonic()
    first, last = sql.id_range(store)
    after = max(start, first - 1)
    while True:
        for _ in range(_TRIES):
            # A dry run only reads: no transaction, which on SQLite would take the write lock.
            with contextlib.nullcontext() if dry_run else store.atomic():
                if not dry_run and not sql.take_lock(store, wait=wait):
                    result.busy = True
                    return result
                ids, next_after, done = _plan(store, found, after, last, batch_size, whole=dry_run)
                counts = _delete_or_count(store, found, ids, dry_run)
            if counts is not None:
                break
        else:
            return result  # jobs keep changing under this batch: leave them to the next prune
        result.add(*counts)
        after = next_after
        if progress is not None:
            progress(result)
        if done:
            return result
        if budget is not None and time.monotonic() - started >= budget:
            result.more, result.resume = True, after
            return result


class _Changed(Exception):
    """A picked job changed before it was deleted: roll the batch back."""


def _delete_or_count(
    store: Engine, found: list[Rule], ids: list[int], dry_run: bool
) -> tuple[int, int, int] | None:
    if not ids:
        return 0, 0, 0
    if dry_run:
        return (len(ids), *sql.count_dependents(store, ids))
    try:
        with store.atomic():  # a savepoint: undone alone when a job changed
            counts = sql.delete(store, found, ids)
            if counts is None:
                raise _Changed
    except _Changed:
        return None
    return counts


def _plan(
    store: Engine, found: list[Rule], after: int, last: int, size: int, *, whole: bool
) -> tuple[list[int], int, bool]:
    """The next batch: (job ids, where the batch after it starts, whether this is the last).

    A workflow whose jobs have not all expired is skipped. One that does not
    fit in what is left of the batch starts the next one, and one larger than
    a batch goes in several, its deepest jobs first, so that every deleted
    fan-out takes all its children along. ``whole`` (a dry run, which deletes
    nothing) takes every workflow whole.
    """
    upto = min(after + SPAN, last)
    roots = sql.next_roots(store, found, after, upto, size)
    trees = sql.descendants(store, found, [root for root, has_fanouts in roots if has_fanouts])
    ids: list[int] = []
    for root, _ in roots:
        members = trees.get(root, [])
        if not all(is_expired for _, _, is_expired in members):
            after = root  # kept: some job of its workflow has not expired
            continue
        if whole or len(ids) + 1 + len(members) <= size:
            ids.extend(job_id for job_id, _, _ in members)
            ids.append(root)
            after = root
            continue
        if not ids:  # larger than a batch: the deepest part now, the rest next time
            deepest = sorted(members, key=lambda member: -member[1])
            ids = [job_id for job_id, _, _ in deepest[:size]]
            after = root - 1
        return ids, after, False
    if len(roots) < size:  # the whole span is looked through
        after = upto
    return ids, after, after >= last
