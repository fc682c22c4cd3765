"""``/jobs/metrics`` after a real ``runjobs`` worker ran jobs: the numbers its outcomes wrote."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from demo import jobs as demo
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from django_durable_jobs import pause_queue
from django_durable_jobs.models import Job, JobStat, JobStatTotal, Status, Worker
from django_durable_jobs.stats import minute_of

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "e2e-metrics-token-0123456789"


def scrape(client) -> dict[str, dict[frozenset, float]]:
    response = client.get("/jobs/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    samples: dict[str, dict[frozenset, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples


def labels(**pairs: str) -> frozenset:
    return frozenset(pairs.items())


def test_metrics_count_what_a_real_worker_did(client, settings, run_worker) -> None:
    settings.DURABLE_JOBS = {**settings.DURABLE_JOBS, "METRICS_TOKEN": TOKEN}
    pause_queue("emails", by="test")
    held = [demo.send_email.enqueue(f"user{i}@example.com") for i in range(2)]
    done = [demo.add.enqueue(i, i) for i in range(5)]
    failed = [demo.maybe_fail.using(retries=0).enqueue(i, fail=True) for i in range(2)]
    worker = run_worker("--concurrency", "4")
    ids = [j.pk for j in done + failed]
    ended = Job.objects.filter(pk__in=ids, status__in=(Status.COMPLETED, Status.FAILED))
    wait_for(lambda: ended.count() == 7)
    slow = demo.sleep.enqueue(3.0)
    wait_for(lambda: Job.objects.get(pk=slow.pk).status == Status.RUNNING)

    samples = scrape(client)
    finished_total = samples["durable_jobs_finished_total"]
    assert finished_total[labels(queue="default", name="demo.add", outcome="completed")] == 5
    assert finished_total[labels(queue="default", name="demo.maybe_fail", outcome="failed")] == 2
    assert samples["durable_jobs_run_seconds_count"][labels(queue="default", name="demo.add")] == 5
    assert samples["durable_jobs_wait_seconds_count"][labels(queue="default")] == 7
    assert samples["durable_jobs_jobs"][labels(queue="emails", status="pending")] == len(held)
    assert samples["durable_jobs_jobs"][labels(queue="slow", status="running")] == 1
    assert samples["durable_jobs_jobs"][labels(queue="default", status="pending")] == 0
    assert samples["durable_jobs_oldest_pending_seconds"][labels(queue="emails")] > 0
    assert samples["durable_jobs_queue_paused"][labels(queue="emails")] == 1
    assert samples["durable_jobs_queue_paused"][labels(queue="default")] == 0
    assert samples["durable_jobs_workers"][labels(state="alive")] == 1
    (worker_id,) = Worker.objects.values_list("id", flat=True)
    assert samples["durable_jobs_worker_busy_slots"] == {labels(worker=worker_id): 1}
    worker.terminate()
    assert scrape(client)["durable_jobs_workers"][labels(state="dead")] == 1, "stopped: not alive"


def test_workers_fold_the_minutes_and_pruning_leaves_the_counters_alone(client, settings, run_worker) -> None:
    settings.DURABLE_JOBS = {**settings.DURABLE_JOBS, "METRICS_TOKEN": TOKEN}
    now = minute_of(timezone.now())
    for ago, completed in ((timedelta(hours=3), 2), (timedelta(minutes=10), 3), (timedelta(0), 5)):
        JobStat.objects.create(minute=now - ago, queue="default", name="demo.add", completed=completed)
    series = labels(queue="default", name="demo.add", outcome="completed")
    assert scrape(client)["durable_jobs_finished_total"][series] == 10

    keep = {"DJJ_EXTRA_SETTINGS": json.dumps({"STATS_RETENTION": None})}  # no pruning: only the fold
    folding = run_worker("--queue", "none", env=keep)
    wait_for(lambda: JobStatTotal.objects.filter(completed=5).exists(), timeout=30)
    assert folding.terminate() == 0
    assert JobStatTotal.objects.get().through >= now - timedelta(minutes=3), "folded up to two minutes ago"
    assert scrape(client)["durable_jobs_finished_total"][series] == 10, (
        "the totals plus the minutes after them"
    )

    prune = {"DJJ_EXTRA_SETTINGS": json.dumps({"STATS_RETENTION": 90 * 60})}
    pruning = run_worker("--queue", "none", env=prune)
    wait_for(lambda: not JobStat.objects.filter(minute__lt=now - timedelta(hours=1)).exists(), timeout=30)
    assert pruning.terminate() == 0
    assert scrape(client)["durable_jobs_finished_total"][series] == 10, "no counter reset"
