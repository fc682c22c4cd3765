"""Per-minute statistics: the rollups written with the outcomes, queue samples, pruning, the readers."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from demo import jobs as demo
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from django_durable_jobs import cancel_job, stats
from django_durable_jobs.models import Job, JobStat, QueueSample, Status
from django_durable_jobs.state import execution as run_state
from django_durable_jobs.state import retention
from django_durable_jobs.state import stats as stat_state
from django_durable_jobs.state.execution import Outcome
from django_durable_jobs.storage import engine
from django_durable_jobs.storage.postgres_stats import COUNT_COMPLETED_SIGNATURE

pytestmark = pytest.mark.django_db(transaction=True)


def claim_all(n: int) -> list[run_state.ClaimedJob]:
    claimed = run_state.claim(connection.alias, "w1", None, n)
    assert len(claimed) == n
    return claimed


def outcome(kind: str, job: run_state.ClaimedJob, **fields: object) -> Outcome:
    if kind in ("retry", "snooze"):
        fields.setdefault("run_after", timezone.now() + timedelta(seconds=60))
    return Outcome(kind, job.id, job.lease, **fields)  # type: ignore[arg-type]


def test_one_batch_counts_each_outcome_in_one_row_per_minute_queue_and_name() -> None:
    adds = [demo.add.enqueue(i, 1) for i in range(4)]
    emails = [demo.send_email.enqueue("a@example.com") for _ in range(2)]
    jobs = {job.id: job for job in claim_all(6)}
    a = [jobs[j.pk] for j in adds]
    e = [jobs[j.pk] for j in emails]
    statuses = run_state.record(
        connection.alias,
        [
            outcome("complete", a[0], result=1),
            outcome("complete", a[1], result=2),
            outcome("fail", a[2], error="boom"),
            outcome("snooze", a[3]),
            outcome("retry", e[0], error="later"),
            outcome("release", e[1]),  # given back unrun: counted nowhere
        ],
    )
    assert statuses == ["completed", "completed", "failed", "pending", "pending", "pending"]
    rows = {(r.queue, r.name): r for r in JobStat.objects.all()}
    assert set(rows) == {("default", "demo.add"), ("emails", "demo.email")}
    add, email = rows["default", "demo.add"], rows["emails", "demo.email"]
    assert (add.completed, add.failed, add.snoozed, add.retried) == (2, 1, 1, 0)
    assert (email.retried, email.completed, email.run_count) == (1, 0, 1)
    for row in rows.values():
        assert row.minute == stats.minute_of(row.minute)
        assert row.run_count == row.wait_count == sum(row.run_buckets) == sum(row.wait_buckets)
        assert len(row.wait_buckets) == len(stats.WAIT_BUCKETS) + 1
        assert len(row.run_buckets) == len(stats.RUN_BUCKETS) + 1
        assert 0 <= row.run_seconds_max < 60 and row.run_seconds_sum <= row.run_count * row.run_seconds_max
    assert add.run_count == 4


def test_later_batches_add_to_the_minute_row_element_wise() -> None:
    for i in range(3):
        demo.add.enqueue(i, 1)
    first, second, third = claim_all(3)
    run_state.record(connection.alias, [outcome("complete", first, result=1)])
    run_state.record(connection.alias, [outcome("complete", second, result=1)])
    run_state.record(connection.alias, [outcome("fail_now", third, error="no")])
    (row,) = JobStat.objects.all()
    assert (row.completed, row.failed, row.run_count, row.wait_count) == (2, 1, 3, 3)
    assert sum(row.wait_buckets) == sum(row.run_buckets) == 3


def test_wait_is_measured_from_run_after_and_lands_in_its_bucket() -> None:
    job = demo.add.enqueue(1, 1)
    ready = timezone.now() - timedelta(seconds=40)  # runnable for 40 s before it was claimed
    Job.objects.filter(pk=job.pk).update(created_at=ready - timedelta(hours=1), run_after=ready)
    (claimed,) = claim_all(1)
    run_state.record(connection.alias, [outcome("complete", claimed, result=2)])
    (row,) = JobStat.objects.all()
    assert 39 < row.wait_seconds_sum < 45
    assert row.wait_buckets[stats.WAIT_BUCKETS.index(60.0)] == 1
    assert 30 < stats.percentile(row.wait_buckets, 0.95) <= 60


def test_a_graceful_pause_taken_at_the_end_of_an_attempt_counts_as_paused() -> None:
    job = demo.add.enqueue(1, 1)
    (claimed,) = claim_all(1)
    Job.objects.filter(pk=job.pk).update(pause_requested="graceful")
    assert run_state.record(connection.alias, [outcome("fail", claimed, error="x")]) == ["paused"]
    (row,) = JobStat.objects.all()
    assert (row.paused, row.failed, row.run_count) == (1, 0, 1)


def test_an_outcome_of_an_execution_that_lost_its_job_counts_nowhere() -> None:
    job = demo.add.enqueue(1, 1)
    (claimed,) = claim_all(1)
    cancel_job(job.pk)
    assert run_state.record(connection.alias, [outcome("complete", claimed, result=2)]) == [None]
    (row,) = JobStat.objects.all()
    assert (row.cancelled, row.completed, row.run_count) == (1, 0, 0)


def test_a_batch_of_completions_counts_only_those_still_owned() -> None:
    """On PostgreSQL such a batch is counted in its completing statement, unless one was lost."""
    kept, lost = demo.add.enqueue(1, 1), demo.add.enqueue(2, 2)
    claimed = {job.id: job for job in claim_all(2)}
    cancel_job(lost.pk)
    batch = [outcome("complete", claimed[kept.pk], result=2), outcome("complete", claimed[lost.pk], result=4)]
    assert run_state.record(connection.alias, batch) == ["completed", None]
    (row,) = JobStat.objects.all()
    assert (row.completed, row.cancelled, row.run_count, sum(row.run_buckets)) == (1, 1, 1, 1)


def test_a_batch_of_completions_lands_in_the_buckets_python_would_count_it_in() -> None:
    """PostgreSQL counts such a batch in SQL (``durable_jobs_count_completed``); SQLite in Python.

    Waits sit exactly on bucket bounds, where "at or below the bound" and
    "below it" differ, and around them.
    """
    waits = [0.0, 0.005, 0.0050001, 0.25, 0.2499999, 1.0, 300.0, 3600.0, 3600.000001, 7200.0]
    for i in range(len(waits)):
        demo.add.enqueue(i, 1)
    claimed = claim_all(len(waits))
    for job, wait in zip(claimed, waits, strict=True):
        started = Job.objects.get(pk=job.id).started_at
        ready = started - timedelta(seconds=wait)
        Job.objects.filter(pk=job.id).update(created_at=ready - timedelta(seconds=5), run_after=ready)
    batch = [outcome("complete", job, result=1) for job in claimed]
    assert run_state.record(connection.alias, batch) == ["completed"] * len(waits)

    expected = stats.Rollup()
    for row in Job.objects.filter(pk__in=[job.id for job in claimed]):
        wait = (row.started_at - max(row.created_at, row.run_after)).total_seconds()
        expected.observe(wait, (row.finished_at - row.started_at).total_seconds())
    counted = stats.Rollup()
    for row in JobStat.objects.all():
        counted.add(stats.Rollup.of_row(row))
    assert counted.completed == counted.run_count == counted.wait_count == len(waits)
    assert counted.wait_buckets == expected.wait_buckets
    assert counted.wait_seconds_sum == pytest.approx(expected.wait_seconds_sum)
    if connection.vendor == "postgresql":  # timed by the statement that wrote finished_at
        assert counted.run_buckets == expected.run_buckets
        assert counted.run_seconds_max == pytest.approx(expected.run_seconds_max)
    else:  # timed as the batch's transaction began, a little before finished_at
        assert sum(counted.run_buckets) == len(waits)


@pytest.mark.postgres_only
def test_until_its_migration_has_run_completions_are_counted_in_python(without_function) -> None:
    """Code deployed before ``migrate`` must not fail every batch for want of the counting function."""
    with without_function(
        COUNT_COMPLETED_SIGNATURE, "count_completed_function", "counts_completions"
    ) as store:
        for i in range(2):
            demo.add.enqueue(i, 1)
        batch = [outcome("complete", job, result=1) for job in claim_all(2)]
        assert run_state.record(connection.alias, batch) == ["completed", "completed"]
        assert store.counts_completions is False
        (row,) = JobStat.objects.all()
        assert (row.completed, row.run_count, sum(row.wait_buckets)) == (2, 2, 2)


def test_each_cancelled_job_is_counted() -> None:
    pending = [demo.add.enqueue(i, 1) for i in range(2)]
    for job in pending:
        cancel_job(job.pk)
    (row,) = JobStat.objects.all()
    assert row.cancelled == 2 and row.run_count == 0
    assert row.wait_buckets == row.run_buckets == []


def test_a_job_failed_because_its_workers_kept_dying_counts_as_failed() -> None:
    job = demo.add.enqueue(1, 1)
    claim_all(1)
    gone = timezone.now() - timedelta(minutes=1)
    Job.objects.filter(pk=job.pk).update(lease_expires_at=gone, reclaims=5)
    assert run_state.reclaim_expired(connection.alias) == [job.pk]
    assert Job.objects.get(pk=job.pk).status == Status.FAILED
    (row,) = JobStat.objects.all()
    assert (row.failed, row.run_count, row.wait_count) == (1, 0, 0)


def test_with_stats_off_nothing_is_written() -> None:
    for i in range(2):
        demo.add.enqueue(i, 1)
    with override_settings(DURABLE_JOBS={"STATS": False}):
        first, second = claim_all(2)
        run_state.record(connection.alias, [outcome("complete", first, result=1)])
        cancel_job(second.id)
        assert not stat_state.sample_queues(connection.alias)
    assert Job.objects.filter(status=Status.COMPLETED).count() == 1
    assert not JobStat.objects.exists() and not QueueSample.objects.exists()


def test_one_queue_sample_per_minute_whoever_asks() -> None:
    for i in range(3):
        demo.add.enqueue(i, 1)
    demo.send_email.enqueue("a@example.com")
    claim_all(1)  # one default job running
    now = timezone.now()
    assert stat_state.sample_queues(connection.alias, now)
    assert not stat_state.sample_queues(connection.alias, now), "a second worker finds the minute sampled"
    samples = {s.queue: s for s in stats.queue_samples(now - timedelta(minutes=1))}
    assert (samples["default"].pending, samples["default"].running) == (2, 1)
    assert (samples["emails"].pending, samples["emails"].waiting, samples["emails"].paused) == (1, 0, 0)
    # The insert itself is harmless twice (two workers past the check at once).
    minute = stats.minute_of(now)
    assert engine().insert_samples(minute, {"default": {"pending": 99}}) == 0
    assert QueueSample.objects.get(minute=minute, queue="default").pending == 2


def test_pruning_removes_statistics_older_than_stats_retention() -> None:
    now = timezone.now()
    old, recent = stats.minute_of(now - timedelta(days=15)), stats.minute_of(now - timedelta(days=13))
    for minute in (old, recent):
        JobStat.objects.create(minute=minute, queue="default", name="demo.add", completed=1)
        QueueSample.objects.create(minute=minute, queue="default", pending=1)
    retention.prune_expired(connection.alias)
    assert list(JobStat.objects.values_list("minute", flat=True)) == [recent]
    assert list(QueueSample.objects.values_list("minute", flat=True)) == [recent]
    with override_settings(DURABLE_JOBS={"STATS_RETENTION": 3600}):
        assert stat_state.prune_stats(connection.alias) == (0, 1), "not in the /metrics totals yet"
        with engine().atomic():  # what the workers' next folds do, a day at a time
            engine().fold_stats(stats.minute_of(now), timedelta(days=30))
        assert stat_state.prune_stats(connection.alias) == (1, 0)


def test_readers_sum_minutes_queues_and_names() -> None:
    now = timezone.now()
    minute = stats.minute_of(now)
    earlier = minute - timedelta(minutes=2)
    buckets = [0] * (len(stats.WAIT_BUCKETS) + 1)
    buckets[3] = 10  # ten waits in (0.025, 0.05]
    JobStat.objects.create(minute=earlier, queue="default", name="a", completed=5, wait_buckets=buckets)
    JobStat.objects.create(minute=minute, queue="default", name="a", completed=2, failed=1)
    JobStat.objects.create(minute=minute, queue="default", name="b", retried=3)
    JobStat.objects.create(minute=minute, queue="emails", name="c", completed=4, cancelled=9)
    series = stats.per_minute(earlier, until=now)
    assert [r.minute for r in series] == [earlier, earlier + timedelta(minutes=1), minute]
    assert [r.finished for r in series] == [5, 0, 10]
    assert [r.completed for r in stats.per_minute(earlier, "emails", until=now)] == [0, 0, 4]
    by_queue = stats.totals(earlier)
    assert by_queue["default"].finished == 11 and by_queue["emails"].cancelled == 9
    assert stats.totals(earlier, by="name")["a"].wait_percentile(0.5) == pytest.approx(0.0375)
    rates = stats.throughput(minute + timedelta(seconds=30))
    assert rates == {"default": pytest.approx(6.0), "emails": pytest.approx(4.0)}


def test_status_shows_each_queues_throughput_and_p95_wait() -> None:
    demo.add.enqueue(1, 1)
    now = timezone.now()
    waits = [0] * (len(stats.WAIT_BUCKETS) + 1)
    waits[stats.WAIT_BUCKETS.index(1.0)] = 100  # a hundred waits in (0.5, 1]
    JobStat.objects.create(minute=stats.minute_of(now), queue="default", name="a", completed=40, failed=2)
    JobStat.objects.create(minute=stats.minute_of(now), queue="default", name="b", wait_buckets=waits)
    JobStat.objects.create(minute=stats.minute_of(now), queue="emails", name="c", cancelled=3)
    out = StringIO()
    call_command("durablejobs", "status", stdout=out)
    rows = {line.split()[0]: line.split() for line in out.getvalue().splitlines() if line.strip()}
    assert rows["QUEUE"][-2:] == ["DONE/MIN", "P95_WAIT"]
    assert rows["default"][2] == "1", "pending"
    assert rows["default"][-2:] == ["42", "975ms"]  # p95 of waits spread over 0.5..1 s
    assert rows["emails"][-2:] == ["0", "-"], "cancellations are no throughput; no waits, no p95"
