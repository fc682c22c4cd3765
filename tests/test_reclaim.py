"""Reclaiming the jobs of dead workers: the statement itself, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from demo import jobs as demo
from django.utils import timezone

from django_durable_jobs import db
from django_durable_jobs.models import FanOut, Job, PauseMode, Status

pytestmark = pytest.mark.django_db(transaction=True)


def running(job: Job, *, expired: bool, **fields) -> None:
    expiry = timezone.now() + timedelta(seconds=-5 if expired else 60)
    Job.objects.filter(pk=job.pk).update(
        status=Status.RUNNING, lease="l", lease_expires_at=expiry, attempt=2, **fields
    )


def test_expired_leases_go_back_live_ones_stay() -> None:
    dead, live = demo.add.enqueue(1, 2), demo.add.enqueue(3, 4)
    running(dead, expired=True)
    running(live, expired=False)
    assert [row[0] for row in db.reclaim_expired(db.alias())] == [dead.pk]
    dead.refresh_from_db()
    assert (dead.status, dead.attempt, dead.lease, dead.reclaims) == (Status.PENDING, 1, None, 1)
    assert Job.objects.get(pk=live.pk).status == Status.RUNNING


def test_requested_graceful_pause_is_honoured() -> None:
    job = demo.add.enqueue(1, 2)
    running(job, expired=True, pause_requested=PauseMode.GRACEFUL)
    db.reclaim_expired(db.alias())
    job.refresh_from_db()
    assert (job.status, job.pause_mode, job.pause_requested) == (Status.PAUSED, "graceful", None)


def test_a_job_that_keeps_killing_workers_is_failed(settings) -> None:
    settings.DURABLE_JOBS = {"MAX_RECLAIMS": 2}
    parent = demo.sum_squares.enqueue(1)
    fanout = FanOut.objects.create(parent=parent, index=0, total=1, strategy={"kind": "collect_all"})
    Job.objects.filter(pk=parent.pk).update(status=Status.WAITING)
    child = demo.square.enqueue(3)
    running(child, expired=True, reclaims=2, fanout=fanout, fanout_index=0)
    from django.db import transaction

    from django_durable_jobs.state import fanouts

    with transaction.atomic():
        for _, status, fanout_id in db.reclaim_expired(db.alias()):
            fanouts.child_finished(db.alias(), fanout_id, status)
    child.refresh_from_db()
    assert child.status == Status.FAILED and child.finished_at is not None
    assert child.last_error.startswith("worker lost 3 times")
    fanout.refresh_from_db()
    assert (fanout.state, fanout.failed) == ("succeeded", 1)
    assert Job.objects.get(pk=parent.pk).status == Status.PENDING
