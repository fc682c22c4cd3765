"""Progress reports from a real ``runjobs`` worker, thread and process pools: the last report lands.

A handler that reports many times within a second gets one write through
the throttle; the rest are held back, and the last one is written when the
handler returns, before its outcome (see the admin's browser test for how
it shows).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from demo import jobs as demo

from django_durable_jobs.models import Job, Status

from ..conftest import WorkerProcess, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def finished(job: Job) -> Job | None:
    row = Job.objects.get(pk=job.pk)
    return row if row.status in (Status.COMPLETED, Status.FAILED) else None


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_the_last_of_many_quick_reports_lands(run_worker: Callable[..., WorkerProcess], pool: str) -> None:
    run_worker("--queue", "default", "--concurrency", "2", "--pool", pool)
    sync_job = demo.progress.enqueue(200, 0.0)  # 200 reports in well under a second
    async_job = demo.async_progress.enqueue(200)
    for job in (sync_job, async_job):
        row = wait_for(lambda job=job: finished(job))
        assert (row.status, row.last_error) == (Status.COMPLETED, "")
        assert (row.progress_done, row.progress_total, row.progress_message) == (200, 200, "item 200 of 200")
        assert row.started_at <= row.progress_at <= row.finished_at
