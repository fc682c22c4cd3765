"""Snooze: "not now" without spending an attempt (issue 14), with a real worker."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from demo import jobs as demo

from django_durable_jobs import Snooze
from django_durable_jobs.models import Job, Status

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_snoozed_job_waits_then_completes_without_spending_attempts(run_worker) -> None:
    job = demo.snoozy.using(retries=0).enqueue(3, 0.2)
    worker = run_worker("--concurrency", "2")
    wait_for(lambda: Job.objects.get(pk=job.pk).snoozes == 1, timeout=20)
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.attempt) in {(Status.PENDING, 0), (Status.RUNNING, 1)}
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.COMPLETED, timeout=20)
    row = Job.objects.get(pk=job.pk)
    assert (row.result, row.snoozes, row.attempt) == (3, 3, 1), "only the run that completed counts"
    worker.terminate()


def test_max_snoozes_fails_a_job_that_would_snooze_forever(run_worker) -> None:
    job = demo.snoozy.enqueue(10, 0.01)
    worker = run_worker("--burst", env={"DJJ_EXTRA_SETTINGS": json.dumps({"MAX_SNOOZES": 2})})
    assert worker.wait(timeout=60) == 0, worker.output()
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.snoozes) == (Status.FAILED, 2)
    assert "snoozed 2 times already (MAX_SNOOZES)" in row.last_error


@pytest.mark.parametrize("value", [-1, float("nan"), "5", True, timedelta(days=400)])
def test_snooze_refuses_what_is_not_a_delay(value: object) -> None:
    with pytest.raises(ValueError, match="Snooze needs 0 to 366 days"):
        Snooze(value)  # type: ignore[arg-type]
    assert Snooze(timedelta(minutes=2)).seconds == 120.0
