"""Fan-out bookkeeping inside the transactions that finish jobs.

Internal module. Lock order: fan-out rows first, then job rows. A child's
terminal transition bumps its fan-out's counters with one UPDATE that holds
the fan-out row until commit, so exactly one transition resolves a fan-out
and resumes its parent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import signals
from ..models import TERMINAL, FanOut, Job, Status
from ..storage import engine
from ..strategies import from_json
from . import stats
from .common import interrupt_running, lock, lock_matching

UNFINISHED_CHILD = (Status.PENDING, Status.RUNNING, Status.WAITING, Status.PAUSED)


def create(
    using: str,
    parent_id: int,
    lease: str,
    *,
    step: int,
    strategy: dict[str, Any],
    children: list[Job],
    cancel_on_parent_failure: bool,
    timeout_at: datetime | None,
) -> bool:
    """Create a fan-out and its children, and suspend the parent, in one transaction.

    False (and nothing written) when the parent's execution lost its lease.
    """
    with transaction.atomic(using=using):
        if not engine(using).touch_owned(parent_id, lease):
            return False
        fanout = FanOut.objects.using(using).create(
            parent_id=parent_id,
            index=step,
            strategy=strategy,
            total=len(children),
            cancel_on_parent_failure=cancel_on_parent_failure,
            timeout_at=timeout_at,
        )
        for child in children:
            child.fanout = fanout
        engine(using).insert_jobs(children)
        if engine(using).suspend(parent_id, lease) is None:
            raise AssertionError("the parent's row is locked by this transaction and owned")
    return True


def on_cancelled(using: str, job: Job) -> None:
    """Inside the transaction that cancelled ``job``: count it, and cancel its own children."""
    if job.fanout_id is not None:
        child_finished(using, job.fanout_id, job.status)
    for fanout in FanOut.objects.using(using).filter(parent_id=job.pk, state=FanOut.State.RUNNING):
        resolve(using, fanout, FanOut.State.FAILED, resume_parent=False, cancel_rest=True)


def child_finished(using: str, fanout_id: int, status: str) -> None:
    counter = {Status.COMPLETED: "succeeded", Status.FAILED: "failed"}.get(status, "cancelled")
    children_finished(using, fanout_id, **{counter: 1})


def children_finished(
    using: str, fanout_id: int, *, succeeded: int = 0, failed: int = 0, cancelled: int = 0
) -> None:
    """Count finished children of one fan-out (one UPDATE) and resolve it when decided."""
    updated = (
        FanOut.objects.using(using)
        .filter(pk=fanout_id, state=FanOut.State.RUNNING)
        .update(
            succeeded=F("succeeded") + succeeded,
            failed=F("failed") + failed,
            cancelled=F("cancelled") + cancelled,
        )
    )
    if not updated:
        return  # already resolved (fail-fast or timeout); late children change nothing
    fanout = FanOut.objects.using(using).get(pk=fanout_id)
    decision = from_json(fanout.strategy).decide(
        fanout.total, fanout.succeeded, fanout.failed, fanout.cancelled
    )
    if decision is not None:
        resolve(using, fanout, decision)


def resolve(
    using: str, fanout: FanOut, state: str, *, resume_parent: bool = True, cancel_rest: bool | None = None
) -> None:
    """Close a fan-out: cancel what is left of it if it failed, and wake its parent.

    A failed fan-out's unfinished children are cancelled when its strategy is
    FailFast or it was made with ``cancel_on_parent_failure=True`` (the
    default); otherwise they run to the end, unseen by the parent.
    """
    now = timezone.now()
    FanOut.objects.using(using).filter(pk=fanout.pk).update(state=state, resolved_at=now)
    if cancel_rest is None:
        fail_fast = fanout.strategy.get("kind") == "fail_fast"
        cancel_rest = fail_fast or fanout.cancel_on_parent_failure
    if state == FanOut.State.FAILED and cancel_rest:
        cancel_unfinished_children(using, [fanout.pk], now)
    if resume_parent:
        wake_parents(using, [fanout.parent_id])


def wake_parents(using: str, parent_ids: list[int]) -> int:
    """Waiting parents with no running fan-out -> pending, and wake their queues' workers."""
    now = timezone.now()
    ids = lock_matching(using, Q(pk__in=parent_ids, status=Status.WAITING))
    ready = Job.objects.using(using).filter(pk__in=ids).exclude(fanouts__state=FanOut.State.RUNNING)
    queues = set(ready.values_list("queue", flat=True))
    woke = (
        Job.objects.using(using)
        .filter(pk__in=list(ready.values_list("pk", flat=True)))
        .update(status=Status.PENDING, run_after=now, delayed=False, updated_at=now)
    )
    if woke:
        engine(using).notify_work(queues)
    return woke


def cancel_unfinished_children(using: str, fanout_ids: list[int], now: datetime) -> None:
    """Cancel the unfinished children of these fan-outs, and of their own fan-outs.

    The whole tree of running fan-outs below is read first and locked before
    any child, to keep the lock order.
    """
    tree = set(fanout_ids)
    frontier = list(fanout_ids)
    while frontier:
        nested = FanOut.objects.using(using).filter(
            parent__fanout_id__in=frontier, state=FanOut.State.RUNNING
        )
        frontier = [i for i in nested.values_list("id", flat=True) if i not in tree]
        tree.update(frontier)
    lock(using, fanouts=tree)
    ids = lock_matching(using, Q(fanout_id__in=tree, status__in=UNFINISHED_CHILD))
    if not ids:
        return
    running = list(
        Job.objects.using(using).filter(id__in=ids, status=Status.RUNNING).values_list("id", flat=True)
    )
    Job.objects.using(using).filter(id__in=ids).update(
        status=Status.CANCELLED,
        lease=None,
        lease_expires_at=None,
        worker_id=None,
        finished_at=now,
        updated_at=now,
        last_error="cancelled: its fan-out was resolved without it",
    )
    nested = FanOut.objects.using(using).filter(pk__in=tree - set(fanout_ids), state=FanOut.State.RUNNING)
    nested.update(state=FanOut.State.FAILED, resolved_at=now)
    interrupt_running(using, running)
    stats.cancelled(using, ids)
    if signals.job_cancelled.receivers:
        for job in Job.objects.using(using).filter(id__in=ids):
            signals.send_on_commit(signals.job_cancelled, using, job=job, by="fan-out")


def expire_timed_out(using: str) -> int:
    """Fail fan-outs past their timeout (cancelling their children) and wake parents."""
    now = timezone.now()
    due = FanOut.objects.using(using).filter(state=FanOut.State.RUNNING, timeout_at__lte=now)
    count = 0
    for fanout_id in list(due.values_list("id", flat=True)):
        with transaction.atomic(using=using):
            lock(using, fanouts=[fanout_id])
            fanout = FanOut.objects.using(using).filter(pk=fanout_id, state=FanOut.State.RUNNING).first()
            if fanout is None:
                continue
            resolve(using, fanout, FanOut.State.FAILED)
            fanout.strategy = {**fanout.strategy, "timed_out": True}
            FanOut.objects.using(using).filter(pk=fanout_id).update(strategy=fanout.strategy)
            count += 1
    return count


def results(using: str, fanout: FanOut) -> list[tuple[str, object, str]]:
    """(status, result, error) of each child, in sub-job order."""
    rows = (
        Job.objects.using(using)
        .filter(fanout=fanout)
        .order_by("fanout_index")
        .values_list("status", "result", "last_error")
    )
    return [(status, result, error if status in TERMINAL else "") for status, result, error in rows]
