"""Per-minute statistics and job logs with a real ``runjobs``: what it writes matches what it ran."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from demo import jobs as demo
from django.utils import timezone

from django_durable_jobs import stats
from django_durable_jobs.models import Job, JobStat, QueueSample, Status

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def settings(**values: object) -> dict[str, str]:
    return {"DJJ_EXTRA_SETTINGS": json.dumps(values), "DJJ_LOG_LEVEL": "INFO"}


def enqueue_mix() -> list[int]:
    """20 jobs that complete, 3 that fail, 2 that fail once then complete; 2 in a queue nobody serves."""
    ids = [demo.add.enqueue(i, 1).pk for i in range(20)]
    ids += [demo.maybe_fail.enqueue(i, fail=True).pk for i in range(3)]
    ids += [demo.flaky.using(retries=1).enqueue(1, f"stats-{i}").pk for i in range(2)]
    for i in range(2):
        demo.add.using(queue="other").enqueue(i, 1)
    return ids


def all_finished(ids: list[int]) -> bool:
    return Job.objects.filter(pk__in=ids, status__in=[Status.COMPLETED, Status.FAILED]).count() == len(ids)


def test_the_rollups_match_the_jobs_a_worker_ran(run_worker) -> None:
    ids = enqueue_mix()
    worker = run_worker("--queue", "default", "--concurrency", "4", env=settings())
    wait_for(lambda: all_finished(ids), timeout=60)
    # Outcomes are committed before the jobs read as finished; so are their rollups.
    assert worker.terminate() == 0
    rows = list(JobStat.objects.all())
    total = stats.Rollup()
    for row in rows:
        total.add(stats.Rollup.of_row(row))
        assert row.queue == "default"
        assert sum(row.wait_buckets) == row.wait_count and sum(row.run_buckets) == row.run_count
    by_name = stats.totals(timezone.now() - timedelta(hours=1), by="name")
    assert (by_name["demo.add"].completed, by_name["demo.add"].run_count) == (20, 20)
    assert (by_name["demo.maybe_fail"].failed, by_name["demo.maybe_fail"].completed) == (3, 0)
    assert (by_name["demo.flaky"].retried, by_name["demo.flaky"].completed) == (2, 2)
    assert stats.outcome_counts([total]) == {
        "completed": 22, "failed": 3, "retried": 2, "cancelled": 0, "paused": 0, "snoozed": 0,
    }  # fmt: skip
    assert total.run_count == total.wait_count == 27
    # The worker sampled the queues at its first housekeeping pass (and again if a minute began).
    other = QueueSample.objects.filter(queue="other").order_by("minute").first()
    assert (other.pending, other.running) == (2, 0)
    # And it logged each start and finish, job by job.
    out = worker.output()
    assert len(re.findall(r"job \d+ \(demo\.\w+\) started, attempt \d", out)) == 27
    assert len(re.findall(r"job \d+ \(demo\.add\) completed after [\d.]+ ms", out)) == 20
    assert len(re.findall(r"job \d+ \(demo\.flaky\) retried after [\d.]+ ms", out)) == 2


def test_with_stats_off_a_worker_writes_no_statistics(run_worker) -> None:
    ids = enqueue_mix()
    worker = run_worker("--queue", "default", env=settings(STATS=False))
    wait_for(lambda: all_finished(ids), timeout=60)
    assert worker.terminate() == 0
    assert not JobStat.objects.exists() and not QueueSample.objects.exists()


def test_a_worker_prunes_statistics_older_than_stats_retention(run_worker) -> None:
    now = timezone.now()
    minutes = [stats.minute_of(now - timedelta(hours=h)) for h in (3, 2, 0)]
    for minute in minutes:
        JobStat.objects.create(minute=minute, queue="default", name="demo.add", completed=1)
        QueueSample.objects.create(minute=minute, queue="default", pending=1)
    worker = run_worker("--queue", "none", env=settings(STATS_RETENTION=90 * 60))
    wait_for(lambda: JobStat.objects.count() == 1, timeout=30)
    wait_for(lambda: QueueSample.objects.filter(minute__lt=minutes[-1]).count() == 0, timeout=30)
    assert list(JobStat.objects.values_list("minute", flat=True)) == [minutes[-1]]
    assert worker.terminate() == 0
