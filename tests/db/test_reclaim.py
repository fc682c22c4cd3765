"""Reclaiming the jobs of dead workers: the statement itself, on both databases."""

from __future__ import annotations

import pytest

from django_durable_jobs.conf import jobs_settings
from django_durable_jobs.models import Job, PauseMode, Status
from django_durable_jobs.state import execution
from django_durable_jobs.strategies import CollectAll

from ..factories import FanOutFactory, JobFactory, make_children

pytestmark = pytest.mark.django_db(transaction=True)


def reclaim() -> list[int]:
    return execution.reclaim_expired(jobs_settings.DATABASE)


def test_expired_leases_go_back_live_ones_stay() -> None:
    dead = JobFactory(name="demo.add", args=[1, 2], running=True, expired=True, attempt=2)
    live = JobFactory(name="demo.add", args=[3, 4], running=True, attempt=2)
    assert reclaim() == [dead.pk]
    dead.refresh_from_db()
    assert (dead.status, dead.attempt, dead.lease, dead.reclaims) == (Status.PENDING, 1, None, 1)
    assert "reclaimed" in dead.last_error
    assert Job.objects.get(pk=live.pk).status == Status.RUNNING


@pytest.mark.parametrize("status", [Status.PENDING, Status.WAITING, Status.PAUSED, Status.COMPLETED])
def test_only_running_jobs_are_reclaimed(status) -> None:
    job = JobFactory(status=status, expired=True)
    assert reclaim() == []
    assert Job.objects.get(pk=job.pk).status == status


def test_requested_graceful_pause_is_honoured() -> None:
    job = JobFactory(running=True, expired=True, attempt=2, pause_requested=PauseMode.GRACEFUL)
    reclaim()
    job.refresh_from_db()
    assert (job.status, job.pause_mode, job.pause_requested) == (Status.PAUSED, "graceful", None)


def test_a_job_that_keeps_killing_workers_is_failed(settings) -> None:
    settings.DURABLE_JOBS = {"MAX_RECLAIMS": 2}
    fanout = FanOutFactory(parent__name="demo.sum_squares", parent__args=[1], strategy=CollectAll().to_json())
    [child] = make_children(
        fanout, 1, Status.RUNNING, name="demo.square", args=[3], expired=True, attempt=2, reclaims=2
    )
    assert reclaim() == [child.pk]
    child.refresh_from_db()
    assert child.status == Status.FAILED and child.finished_at is not None
    assert child.last_error.startswith("worker lost 3 times")
    fanout.refresh_from_db()
    assert (fanout.state, fanout.failed) == ("succeeded", 1)
    assert Job.objects.get(pk=fanout.parent_id).status == Status.PENDING
