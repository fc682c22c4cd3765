"""The emergency stop works best when the system is busiest: no limit on running jobs."""

from __future__ import annotations

import pytest

from django_durable_jobs import PauseMode, cancel_job, pause_queue, pause_worker
from django_durable_jobs.models import FanOut, Job, Status
from tests.factories import FanOutFactory, JobFactory, WorkerFactory, make_children

pytestmark = pytest.mark.django_db

#: Enough running jobs that their ids overflow one 8,000-byte NOTIFY payload.
BUSY = 1500


def test_aggressive_queue_pause_with_many_running_jobs() -> None:
    JobFactory.create_batch(BUSY, running=True, queue="busy")
    pause_queue("busy", PauseMode.AGGRESSIVE, by="ops")
    assert set(Job.objects.filter(queue="busy").values_list("status", flat=True)) == {Status.PENDING}


def test_aggressive_worker_pause_with_many_running_jobs() -> None:
    worker = WorkerFactory()
    JobFactory.create_batch(BUSY, running=True, worker_id=worker.pk)
    pause_worker(worker.pk, PauseMode.AGGRESSIVE)
    assert not Job.objects.filter(worker_id=worker.pk).exists()
    assert Job.objects.filter(status=Status.PENDING).count() == BUSY


def test_cancelling_a_wide_fan_out() -> None:
    fanout = FanOutFactory()
    make_children(fanout, BUSY, status=Status.RUNNING)
    cancel_job(fanout.parent_id)
    assert set(Job.objects.filter(fanout=fanout).values_list("status", flat=True)) == {Status.CANCELLED}
    assert FanOut.objects.get(pk=fanout.pk).state == FanOut.State.FAILED
