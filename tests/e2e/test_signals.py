"""Signals a worker process sends (SPEC §9), recorded by demo.signal_log."""

from __future__ import annotations

import pytest
from demo import jobs as demo
from demo.models import SignalLog

from django_durable_jobs import PauseMode, pause_job
from django_durable_jobs.models import Job, Status

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def names(job_id: int) -> list[str]:
    return list(SignalLog.objects.filter(job_id=job_id).order_by("id").values_list("name", flat=True))


def test_worker_sends_job_signals_after_commit(run_worker) -> None:
    ok = demo.add.enqueue(1, 2)
    flaky = demo.flaky.enqueue(1, "signals")
    bad = demo.flaky.using(retries=0).enqueue(1, "bad")
    worker = run_worker("--burst", env={"DJJ_SIGNAL_LOG": "1"})
    assert worker.wait(timeout=60) == 0
    assert names(ok.pk) == ["job_started", "job_completed"]
    assert names(flaky.pk) == ["job_started", "job_retrying", "job_started", "job_completed"]
    assert names(bad.pk) == ["job_started", "job_failed"]
    assert SignalLog.objects.values("pid").distinct().count() == 1, "all sent by the worker"


def test_graceful_pause_taking_effect_in_the_worker_sends_job_paused(run_worker) -> None:
    job = demo.slow_fail.enqueue(2.0)
    worker = run_worker(env={"DJJ_SIGNAL_LOG": "1"})
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.RUNNING)
    pause_job(job.pk, mode=PauseMode.GRACEFUL)
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.PAUSED, timeout=30)
    wait_for(lambda: "job_paused" in names(job.pk))
    worker.terminate()
    assert SignalLog.objects.get(job_id=job.pk, name="job_paused").detail == "graceful"
