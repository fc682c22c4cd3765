"""Pause by job type with real workers (issue 13): both modes and ``until``."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from demo import jobs as demo

from django_durable_jobs import PauseMode, pause_job_type, resume_job_type
from django_durable_jobs.models import Job, JobTypeState, Status

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def statuses(jobs: list[Job]) -> list[str]:
    return list(
        Job.objects.filter(pk__in=[j.pk for j in jobs]).order_by("id").values_list("status", flat=True)
    )


def test_graceful_pause_of_a_type_lets_running_ones_finish_and_starts_no_other(run_worker) -> None:
    worker = run_worker("--concurrency", "4")
    slow = demo.nap.enqueue_many([((1.0,), {})] * 12)
    wait_for(lambda: Job.objects.filter(name="demo.nap", status=Status.RUNNING).exists())
    pause_job_type("demo.nap", by="alice", reason="bad deploy")
    started = set(
        Job.objects.filter(name="demo.nap").exclude(status=Status.PENDING).values_list("id", flat=True)
    )
    others = [demo.add.enqueue(i, i) for i in range(5)]
    wait_for(lambda: set(statuses(others)) == {Status.COMPLETED}, timeout=20)
    wait_for(lambda: not Job.objects.filter(name="demo.nap", status=Status.RUNNING).exists(), timeout=20)
    time.sleep(1.0)
    now_started = set(
        Job.objects.filter(name="demo.nap").exclude(status=Status.PENDING).values_list("id", flat=True)
    )
    assert now_started <= started, f"{len(now_started - started)} jobs of a paused type started"
    assert Job.objects.filter(pk__in=started, status=Status.COMPLETED).count() >= 1
    assert Job.objects.filter(name="demo.nap", status=Status.PENDING).exists()
    resume_job_type("demo.nap")
    wait_for(lambda: set(statuses(slow)) == {Status.COMPLETED}, timeout=60)
    worker.terminate()


def test_aggressive_pause_of_a_type_interrupts_and_puts_back_then_until_resumes(run_worker) -> None:
    job = demo.spin.enqueue(60.0)
    worker = run_worker("--concurrency", "2")
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.RUNNING)
    pause_job_type("demo.spin", PauseMode.AGGRESSIVE, by="alice", until=timedelta(seconds=4))
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.attempt) == (Status.PENDING, 0)
    Job.objects.filter(pk=job.pk).update(args=[0.1])
    time.sleep(1.5)
    assert Job.objects.get(pk=job.pk).status == Status.PENDING, "not claimed while paused"
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.COMPLETED, timeout=20)
    state = JobTypeState.objects.get(name="demo.spin")
    assert not state.paused and state.paused_until is None
    assert Job.objects.get(pk=job.pk).attempt == 1
    worker.terminate()
