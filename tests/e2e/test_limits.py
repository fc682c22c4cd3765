"""Fleet-wide concurrency limits with real workers (issue 13)."""

from __future__ import annotations

import time

import pytest
from demo import jobs as demo
from demo.models import Probe

from django_durable_jobs.models import Job, Status

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.postgres_only
def test_a_limit_of_two_holds_across_three_workers_of_eight_slots(run_worker) -> None:
    demo.limited.enqueue_many([((0.005,), {})] * 2000)
    started = time.monotonic()
    workers = [run_worker("--concurrency", "8") for _ in range(3)]
    wait_for(lambda: not Job.objects.exclude(status=Status.COMPLETED).exists(), timeout=120)
    elapsed = time.monotonic() - started
    for worker in workers:
        worker.terminate()
    probe = Probe.objects.get(key="limited")
    assert (probe.peak, probe.running) == (2, 0), f"peak {probe.peak} over 2,000 jobs in {elapsed:.1f} s"


def test_a_full_key_lets_other_keys_through(run_worker) -> None:
    slow = demo.per_customer.enqueue(1, 3.0)
    queued_behind = demo.per_customer.enqueue(1, 0.01)
    others = [demo.per_customer.enqueue(c, 0.01) for c in range(2, 12)]
    worker = run_worker("--concurrency", "4")
    wait_for(lambda: Job.objects.filter(pk__in=[j.pk for j in others], status=Status.COMPLETED).count() == 10)
    assert Job.objects.get(pk=slow.pk).status == Status.RUNNING
    assert Job.objects.get(pk=queued_behind.pk).status == Status.PENDING, "its key is full"
    wait_for(lambda: Job.objects.get(pk=queued_behind.pk).status == Status.COMPLETED, timeout=20)
    assert Probe.objects.get(key="customer:1").peak == 1
    worker.terminate()
