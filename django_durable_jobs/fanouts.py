"""Fan-out bookkeeping inside the transactions that finish jobs.

Internal module. Lock order: fan-out rows first, then job rows. A child's
terminal transition bumps its fan-out's counters with one UPDATE that holds
the fan-out row until commit, so exactly one transition resolves a fan-out
and resumes its parent.
"""

from __future__ import annotations

from django.db.models import F, Q
from django.utils import timezone

from . import db, signals
from .models import TERMINAL, FanOut, Job, Status
from .strategies import from_json

UNFINISHED_CHILD = (Status.PENDING, Status.RUNNING, Status.WAITING, Status.PAUSED)


def lock_for_job(using: str, job_id: object) -> None:
    """Lock the running fan-outs a job belongs to or owns, in id order."""
    fanout_id = Job.objects.using(using).filter(pk=job_id).values_list("fanout_id", flat=True).first()
    where = Q(parent_id=job_id)
    if fanout_id is not None:
        where |= Q(pk=fanout_id)
    list(
        FanOut.objects.using(using)
        .filter(where, state=FanOut.State.RUNNING)
        .select_for_update()
        .order_by("id")
        .values_list("id", flat=True)
    )


def lock(using: str, fanout_ids: list[int]) -> None:
    """Inside a transaction: lock these fan-out rows in id order."""
    if fanout_ids:
        list(
            FanOut.objects.using(using)
            .filter(pk__in=fanout_ids)
            .select_for_update()
            .order_by("id")
            .values_list("id", flat=True)
        )


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
        woke = (
            Job.objects.using(using)
            .filter(pk=fanout.parent_id, status=Status.WAITING)
            .update(status=Status.PENDING, run_after=now, updated_at=now)
        )
        if woke:
            queue = Job.objects.using(using).filter(pk=fanout.parent_id).values_list("queue", flat=True)
            db.notify_work(using, list(queue))


def cancel_unfinished_children(using: str, fanout_ids: list[int], now) -> None:
    """Cancel the unfinished children of these fan-outs, and of their own fan-outs."""
    from .transitions import interrupt_running

    while fanout_ids:
        children = Job.objects.using(using).filter(fanout_id__in=fanout_ids, status__in=UNFINISHED_CHILD)
        rows = list(children.select_for_update().values_list("id", "status"))
        if not rows:
            return
        ids = [row[0] for row in rows]
        Job.objects.using(using).filter(id__in=ids).update(
            status=Status.CANCELLED,
            lease=None,
            lease_expires_at=None,
            worker_id=None,
            finished_at=now,
            updated_at=now,
            last_error="cancelled: its fan-out was resolved without it",
        )
        interrupt_running(using, [i for i, status in rows if status == Status.RUNNING], "cancelled")
        if signals.job_cancelled.receivers:
            for job in Job.objects.using(using).filter(id__in=ids):
                signals.send_on_commit(signals.job_cancelled, using, job=job, by="fan-out")
        nested = FanOut.objects.using(using).filter(parent_id__in=ids, state=FanOut.State.RUNNING)
        fanout_ids = list(nested.values_list("id", flat=True))
        nested.update(state=FanOut.State.FAILED, resolved_at=now)


def expire_timed_out(using: str) -> int:
    """Fail fan-outs past their timeout (cancelling their children) and wake parents."""
    from django.db import transaction

    now = timezone.now()
    due = FanOut.objects.using(using).filter(state=FanOut.State.RUNNING, timeout_at__lte=now)
    count = 0
    for fanout_id in list(due.values_list("id", flat=True)):
        with transaction.atomic(using=using):
            fanout = (
                FanOut.objects.using(using)
                .select_for_update()
                .filter(pk=fanout_id, state=FanOut.State.RUNNING)
                .first()
            )
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
