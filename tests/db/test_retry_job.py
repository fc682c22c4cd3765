"""``retry_job``: a retried job starts over, on both databases."""

from __future__ import annotations

import pytest

from django_durable_jobs import retry_job
from django_durable_jobs.conf import jobs_settings
from django_durable_jobs.models import Job, Status

from ..factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_retry_job_resets_the_reclaim_count() -> None:
    """A job failed because its workers kept dying gets its full reclaim budget back."""
    job = JobFactory(
        failed=True,
        attempt=1,
        reclaims=jobs_settings.MAX_RECLAIMS + 1,
        last_error="worker lost too many times",
    )
    retried = retry_job(job.pk)
    job.refresh_from_db()
    assert (retried.status, retried.attempt, retried.reclaims) == (Status.PENDING, 0, 0)
    assert (job.status, job.attempt, job.reclaims) == (Status.PENDING, 0, 0)
    assert job.finished_at is None
    assert Job.objects.filter(status=Status.PENDING).count() == 1
