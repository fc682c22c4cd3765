"""Timeouts (issue 14): an execution past its timeout is interrupted and counts as a failed attempt."""

from __future__ import annotations

import json

import pytest
from demo import jobs as demo

from django_durable_jobs.models import Job, Status

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_handler_past_its_timeout_fails_its_attempt_and_retries(run_worker) -> None:
    job = demo.spin.using(timeout=1, retries=1).enqueue(60.0)
    quick = demo.spin.using(timeout=5).enqueue(0.1)
    worker = run_worker("--concurrency", "2", env={"DJJ_EXTRA_SETTINGS": json.dumps({"BACKOFF_BASE": 0.1})})
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.FAILED, timeout=30)
    row = Job.objects.get(pk=job.pk)
    assert row.attempt == 2, "the retry policy applied: two attempts, both timed out"
    assert row.last_error.startswith("TimeoutError: exceeded 1 s"), row.last_error[:200]
    assert Job.objects.get(pk=quick.pk).status == Status.COMPLETED
    worker.terminate()


def test_a_handler_stuck_in_c_past_its_timeout_fails_and_frees_its_slot(run_worker) -> None:
    stuck = demo.block.using(timeout=0.5).enqueue(600.0)
    settings = {"INTERRUPT_GRACE_SECONDS": 0.5}
    worker = run_worker("--concurrency", "1", env={"DJJ_EXTRA_SETTINGS": json.dumps(settings)})
    wait_for(lambda: Job.objects.get(pk=stuck.pk).status == Status.FAILED, timeout=30)
    assert Job.objects.get(pk=stuck.pk).last_error.startswith("TimeoutError: exceeded 0.5 s")
    after = demo.add.enqueue(1, 2)
    wait_for(lambda: Job.objects.get(pk=after.pk).status == Status.COMPLETED, timeout=20)
    worker.terminate()


def test_default_timeout_and_bad_timeouts(settings) -> None:
    settings.DURABLE_JOBS = {"DEFAULT_TIMEOUT": 30}
    assert demo.add.enqueue(1, 2).timeout == 30.0
    assert demo.add.using(timeout=5).enqueue(1, 2).timeout == 5.0
    with pytest.raises(ValueError, match=r"^timeout: -1 s is outside 0.01..31622400 s$"):
        demo.add.using(timeout=-1)
