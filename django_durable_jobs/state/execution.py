"""Transitions made by the worker on behalf of executions: claim, outcomes, reclaim.

Internal module of the state machine. Every write here is fenced by the
execution's lease token: a job that was paused, cancelled or reclaimed since
it was claimed ignores the execution's writes (they match no row).

The path of one job: :func:`claim` -> (handler runs, saving checkpoints with
:func:`save_checkpoint`, perhaps suspending on a fan-out with :func:`suspend`)
-> one :class:`Outcome` -> :func:`record`, which commits the outcomes of many
jobs in one transaction.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import signals, storage
from ..conf import jobs_settings
from ..models import Job, Status
from ..registry import any_limits
from ..storage import engine
from . import fanouts, stats
from .common import lock

ClaimedJob = storage.ClaimedJob

#: Outcome kinds, in the order of precedence when one batch holds two
#: outcomes of one execution (a release queued at shutdown after the handler
#: had already finished must not hide its completion).
KINDS = ("complete", "fail_now", "fail", "retry", "snooze", "release")


@dataclass(slots=True, eq=False)
class Outcome:
    """How one execution ended, as the writer commits it."""

    kind: str  # one of KINDS
    job_id: int
    lease: str
    fanout_id: int | None = None
    result: Any = None
    error: str = ""
    run_after: datetime | None = None
    #: The job's queue if it ran under a concurrency limit: its end frees a
    #: slot that workers elsewhere may be waiting for, so they are woken.
    frees_limit_in: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown outcome kind {self.kind!r}")


def claim(using: str, worker_id: str, queues: Sequence[str] | None, limit: int) -> list[ClaimedJob]:
    """Claim up to ``limit`` runnable jobs under one fresh lease token."""
    return engine(using).claim(worker_id, uuid.uuid4().hex, queues, limit, limited=any_limits())


def next_permit_in(using: str, queues: Sequence[str] | None) -> float | None:
    """Seconds until the next ready rate-limited job may get a permit, or None (see the engine)."""
    return engine(using).next_permit_in(queues)


def renew_leases(using: str, owned: dict[int, str]) -> None:
    engine(using).renew_leases(owned)


def still_owned(using: str, owned: dict[int, str]) -> set[int]:
    """Which of these (id -> lease) executions still own their job."""
    return engine(using).owned_subset(owned)


def record(using: str, outcomes: list[Outcome]) -> list[str | None]:
    """Commit many outcomes in one transaction; returns each one's new job status.

    ``None`` means the execution no longer owned the job and nothing was
    written (or the outcome was superseded by another of the same execution in
    this batch). Finished fan-out children are counted in the same
    transaction, so the last one resumes its parent exactly once.
    """
    winners: dict[tuple[int, str], Outcome] = {}
    for outcome in outcomes:
        key = (outcome.job_id, outcome.lease)
        current = winners.get(key)
        if current is None or KINDS.index(outcome.kind) < KINDS.index(current.kind):
            winners[key] = outcome
    batch = sorted(winners.values(), key=lambda o: o.job_id)
    status: dict[int, str | None] = {}  # by id(outcome)
    with transaction.atomic(using=using):
        lock(using, fanouts=[o.fanout_id for o in batch if o.fanout_id is not None])
        alone = all(o.kind == "complete" and o.fanout_id is None for o in batch)
        timed = stats.lock_jobs(using, [o.job_id for o in batch], only_completions=alone)
        completes = [o for o in batch if o.kind == "complete"]
        items = [(o.job_id, o.lease, o.result) for o in completes]
        owned, counted = stats.complete_many(using, items, only_completions=alone)
        for outcome in completes:
            status[id(outcome)] = Status.COMPLETED if outcome.job_id in owned else None
        for outcome in batch:
            if outcome.kind == "retry":
                new = engine(using).retry(outcome.job_id, outcome.lease, outcome.error, outcome.run_after)
            elif outcome.kind in ("fail", "fail_now"):
                pausable = outcome.kind == "fail"
                new = engine(using).fail(outcome.job_id, outcome.lease, outcome.error, pausable=pausable)
            elif outcome.kind == "snooze":
                new = engine(using).snooze(outcome.job_id, outcome.lease, outcome.run_after)
            elif outcome.kind == "release":
                new = engine(using).release(outcome.job_id, outcome.lease)
            else:
                continue
            status[id(outcome)] = new
        finished: dict[int, Counter[str]] = {}
        for outcome in batch:
            new = status[id(outcome)]
            if outcome.fanout_id is not None and new in (Status.COMPLETED, Status.FAILED):
                finished.setdefault(outcome.fanout_id, Counter())[new] += 1
        freed = {o.frees_limit_in for o in batch if o.frees_limit_in and status[id(o)] is not None}
        if freed:
            engine(using).notify_work(freed)
        for fanout_id, counts in sorted(finished.items()):
            fanouts.children_finished(
                using, fanout_id, succeeded=counts[Status.COMPLETED], failed=counts[Status.FAILED]
            )
        if not counted:
            stats.record_outcomes(using, timed, [(o.kind, o.job_id, status[id(o)]) for o in batch])
    return [status.get(id(o)) for o in outcomes]


def save_checkpoint(using: str, job_id: int, lease: str, step: int, target: str, value: Any) -> bool:
    """Save a ``call()`` result if this execution still owns the job."""
    return engine(using).save_checkpoint(job_id, lease, step, target, value)


def load_history(using: str, job_id: int) -> tuple[dict[int, tuple[str, Any]], set[int]]:
    return engine(using).load_history(job_id)


def reclaim_expired(using: str) -> list[int]:
    """Put running jobs whose lease expired (their worker died) back to pending.

    The lost attempt is not counted; a job with a graceful pause pending is
    paused; a job whose workers died ``MAX_RECLAIMS`` times is failed (and
    counted by its fan-out and the statistics). Returns the ids reclaimed.
    """
    give_up = Job.objects.using(using).filter(
        status=Status.RUNNING,
        lease_expires_at__lt=timezone.now(),
        reclaims__gte=jobs_settings.MAX_RECLAIMS,
        fanout_id__isnull=False,
    )
    with transaction.atomic(using=using):
        lock(using, fanouts=give_up.values_list("fanout_id", flat=True))  # lock order: fan-outs first
        reclaimed = engine(using).reclaim_expired()
        for _, new, fanout_id in reclaimed:
            if new == Status.FAILED and fanout_id is not None:
                fanouts.child_finished(using, fanout_id, new)
        failed = [job_id for job_id, new, _ in reclaimed if new == Status.FAILED]
        stats.count(using, "failed", failed)
        if failed and signals.job_failed.receivers:
            for job in Job.objects.using(using).filter(id__in=failed):
                signals.send_on_commit(signals.job_failed, using, job=job)
    return [job_id for job_id, _, _ in reclaimed]


def wake_stranded_parents(using: str) -> int:
    """Waiting parents none of whose fan-outs is still running -> pending.

    Resolution wakes a parent in the same transaction; this sweep is the
    safety net that makes "waiting forever" impossible whatever raced.
    """
    stranded = Job.objects.using(using).filter(status=Status.WAITING).exclude(Q(fanouts__state="running"))
    ids = list(stranded.values_list("id", flat=True)[:1000])
    if not ids:
        return 0
    with transaction.atomic(using=using):
        woken = fanouts.wake_parents(using, ids)
    return woken
