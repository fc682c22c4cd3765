"""Retention with a real ``runjobs``: it prunes what has expired, and only that, on its own."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from django_durable_jobs.models import Checkpoint, FanOut, Job, PauseMode, Status
from django_durable_jobs.models import Worker as WorkerRow

from ..conftest import wait_for
from ..factories import CheckpointFactory, FanOutFactory, JobFactory, QueueStateFactory, make_children

pytestmark = pytest.mark.django_db(transaction=True)


def settings(**values: object) -> dict[str, str]:
    return {"DJJ_EXTRA_SETTINGS": json.dumps(values), "DJJ_LOG_LEVEL": "INFO"}


def finished(status: str, age: timedelta, **fields: object) -> Job:
    return JobFactory(status=status, finished_at=timezone.now() - age, **fields)


def test_a_worker_prunes_what_has_expired_and_nothing_else(run_worker) -> None:
    hours = timedelta(hours=2)
    gone = [
        finished(Status.COMPLETED, hours),
        finished(Status.CANCELLED, timedelta(seconds=30)),
        finished(Status.COMPLETED, timedelta(minutes=2), queue="emails"),
    ]
    CheckpointFactory(job=gone[0])
    parent = finished(Status.COMPLETED, hours)
    make_children(FanOutFactory(parent=parent, state=FanOut.State.SUCCEEDED), 3, status=Status.COMPLETED)
    Job.objects.filter(fanout__parent=parent).update(finished_at=timezone.now() - hours)
    gone += [parent, *Job.objects.filter(fanout__parent=parent)]

    QueueStateFactory(queue="held", paused=True, pause_mode=PauseMode.GRACEFUL)
    paused_parent = JobFactory(status=Status.PAUSED)  # unfinished: its old children stay
    make_children(FanOutFactory(parent=paused_parent), 2, status=Status.COMPLETED)
    Job.objects.filter(fanout__parent=paused_parent).update(finished_at=timezone.now() - hours)
    kept = [
        finished(Status.COMPLETED, timedelta(minutes=10)),  # younger than an hour
        finished(Status.FAILED, timedelta(days=900)),  # failed: kept forever
        finished(Status.COMPLETED, timedelta(seconds=30), queue="emails"),
        JobFactory(status=Status.PENDING, queue="held", created_at=timezone.now() - timedelta(days=90)),
        paused_parent,
        *Job.objects.filter(fanout__parent=paused_parent),
    ]
    worker = run_worker(
        "--queue",
        "other",
        env=settings(
            RETENTION={"completed": 3600, "failed": None, "cancelled": 0},
            QUEUES={"emails": {"retention": {"completed": 60}}},
            PRUNE_SECONDS=0.2,
        ),
    )
    wait_for(lambda: not Job.objects.filter(pk__in=[job.pk for job in gone]).exists(), timeout=60)
    assert not Checkpoint.objects.exists()
    assert FanOut.objects.get().parent_id == paused_parent.pk
    time.sleep(1)  # several more prunes: what is left stays
    assert set(Job.objects.values_list("id", flat=True)) == {job.pk for job in kept}
    assert worker.terminate() == 0
    assert re.search(r"pruned 7 expired job\(s\), 1 checkpoint\(s\), 1 fan-out\(s\)", worker.output())


def test_the_scheduler_does_not_fire_again_after_pruning(run_worker) -> None:
    worker = run_worker(
        "--scheduler",
        env={"DJJ_DEMO_TICK": "1", **settings(RETENTION={"completed": 0}, PRUNE_SECONDS=0.2)},
    )
    wait_for(lambda: WorkerRow.objects.exists(), timeout=60)
    time.sleep(5)
    newest = Job.objects.filter(name="demo.tick").order_by("-scheduled_for").first()
    assert Job.objects.filter(name="demo.tick").count() <= 2  # the newest fire, and one just finished
    assert worker.terminate() == 0
    output = worker.output()
    fires = re.findall(r"schedule 'demo.tick' enqueued job \d+ for (\S+)", output)
    assert len(fires) >= 3 and len(fires) == len(set(fires)), output  # each fire once
    assert newest is not None and newest.scheduled_for.isoformat() in fires
    assert "pruned" in output


def test_a_backlog_is_pruned_in_short_slices_one_soon_after_another(run_worker) -> None:
    """Pruning more than a slice holds goes on at once, slice by slice, not a PRUNE_SECONDS later."""
    old = timezone.now() - timedelta(hours=2)
    Job.objects.bulk_create(
        Job(name="demo.noop", status=Status.COMPLETED, finished_at=old, updated_at=old) for _ in range(20_000)
    )
    worker = run_worker("--queue", "other", env=settings(RETENTION={"completed": 3600}, PRUNE_SECONDS=3600))
    wait_for(lambda: not Job.objects.exists(), timeout=60)
    assert worker.terminate() == 0
    slices = [int(n) for n in re.findall(r"pruned (\d+) expired job", worker.output())]
    assert sum(slices) == 20_000 and len(slices) >= 2, slices
