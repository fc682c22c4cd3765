"""Fleet-wide rate limits with real workers (issue 13)."""

from __future__ import annotations

import time

import pytest
from demo import jobs as demo

from django_durable_jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)

SECONDS = 30  # long enough that a stall of the loaded machine costs a small share


@pytest.mark.postgres_only
def test_a_rate_of_20_a_second_is_never_exceeded_and_nearly_all_used(run_worker) -> None:
    demo.rated.enqueue_many([((i,), {}) for i in range(20 * SECONDS + 100)])  # a backlog throughout
    workers = [run_worker("--concurrency", "8") for _ in range(2)]
    time.sleep(SECONDS + 3)
    for worker in workers:
        worker.terminate()
    starts = sorted(Job.objects.filter(started_at__isnull=False).values_list("started_at", flat=True))
    assert Job.objects.filter(started_at__isnull=True).exists(), "the backlog lasted the whole run"
    first = starts[0]
    window = [t for t in starts if (t - first).total_seconds() < SECONDS]
    busiest = max(sum(1 for u in window[i:] if (u - t).total_seconds() < 1.0) for i, t in enumerate(window))
    print(f"rate test: {len(window)} starts in {SECONDS} s, busiest second {busiest}")
    assert busiest <= 20, f"{busiest} starts within one second"
    assert len(window) >= 0.95 * 20 * SECONDS, f"{len(window)} starts in {SECONDS} s"
