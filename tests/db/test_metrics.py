"""``/jobs/metrics``: the Prometheus text matches the database; who may read it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core import checks
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from django_durable_jobs import metrics as fleet
from django_durable_jobs import pause_queue
from django_durable_jobs.models import JobStat
from django_durable_jobs.stats import RUN_BUCKETS, WAIT_BUCKETS

from ..factories import JobFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/jobs/metrics"
TOKEN = "s3cret-token-for-the-scraper"


def parse(text: str) -> dict[str, dict[tuple, float]]:
    """``{sample name: {sorted labels: value}}`` of a scrape."""
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _stat(ago: int, queue: str, name: str, wait: dict[int, int], run: dict[int, int], **counts) -> None:
    buckets = len(WAIT_BUCKETS) + 1
    JobStat.objects.create(
        minute=(timezone.now() - timedelta(minutes=ago)).replace(second=0, microsecond=0),
        queue=queue,
        name=name,
        wait_buckets=[wait.get(i, 0) for i in range(buckets)],
        run_buckets=[run.get(i, 0) for i in range(len(RUN_BUCKETS) + 1)],
        wait_count=sum(wait.values()),
        run_count=sum(run.values()),
        wait_seconds_sum=0.5 * sum(wait.values()),
        run_seconds_sum=2.0 * sum(run.values()),
        **counts,
    )


@pytest.fixture
def fleet_rows():
    """Two queues with jobs in every status, finished ones, workers, a pause and rollups."""
    for status, n in (("pending", 3), ("running", 2), ("waiting", 1), ("paused", 1), ("completed", 5)):
        JobFactory.create_batch(n, status=status, queue="emails")
    JobFactory.create_batch(4, status="failed", queue="reports")
    JobFactory(status="pending", queue="reports", run_after=timezone.now() + timedelta(hours=1))
    JobFactory(status="pending", queue="emails", run_after=timezone.now() - timedelta(seconds=600))
    busy = WorkerFactory(id="busy-worker")
    JobFactory.create_batch(2, status="running", queue="reports", worker_id=busy.id)
    WorkerFactory(id="idle-worker", paused=True)
    WorkerFactory(dead=True)
    WorkerFactory(stopped=True)
    pause_queue("reports", by="test")
    _stat(3, "emails", "demo.email", {0: 2, 3: 1}, {5: 3}, completed=2, retried=1)
    _stat(1, "emails", "demo.email", {16: 1}, {16: 1}, completed=1, failed=1)
    _stat(1, "emails", "demo.add", {1: 4}, {0: 4}, completed=4)
    _stat(2, "reports", "demo.report", {2: 1}, {7: 1}, failed=1, cancelled=2)


def test_the_scrape_matches_the_database(fleet_rows) -> None:
    body, content_type = fleet.render()
    assert content_type.startswith("text/plain; version=")
    samples = parse(body.decode())

    jobs = samples["durable_jobs_jobs"]
    expected_jobs = {"emails": (4, 2, 1, 1), "reports": (1, 2, 0, 0)}
    for queue, counts in expected_jobs.items():
        for status, n in zip(("pending", "running", "waiting", "paused"), counts, strict=True):
            assert jobs[(("queue", queue), ("status", status))] == n, (queue, status)
    assert len(jobs) == 8, "unfinished statuses only, every queue"

    oldest = samples["durable_jobs_oldest_pending_seconds"]
    assert 600 <= oldest[(("queue", "emails"),)] < 660
    assert oldest[(("queue", "reports"),)] == 0, "its only pending job is not due"

    finished = samples["durable_jobs_finished_total"]
    assert finished[(("name", "demo.email"), ("outcome", "completed"), ("queue", "emails"))] == 3
    assert finished[(("name", "demo.email"), ("outcome", "retried"), ("queue", "emails"))] == 1
    assert finished[(("name", "demo.email"), ("outcome", "failed"), ("queue", "emails"))] == 1
    assert finished[(("name", "demo.report"), ("outcome", "cancelled"), ("queue", "reports"))] == 2
    assert sum(finished.values()) == 3 + 1 + 1 + 4 + 1 + 2

    wait = samples["durable_jobs_wait_seconds_bucket"]
    emails = {dict(k)["le"]: v for k, v in wait.items() if dict(k)["queue"] == "emails"}
    assert emails[str(WAIT_BUCKETS[0])] == 2
    assert emails[str(WAIT_BUCKETS[1])] == 2 + 4
    assert emails[str(WAIT_BUCKETS[3])] == 2 + 4 + 1
    assert emails[str(WAIT_BUCKETS[-1])] == 7 and emails["+Inf"] == 8, "one above the last bound"
    assert samples["durable_jobs_wait_seconds_count"][(("queue", "emails"),)] == 8
    assert samples["durable_jobs_wait_seconds_sum"][(("queue", "emails"),)] == pytest.approx(4.0)

    run = samples["durable_jobs_run_seconds_bucket"]
    email_run = {dict(k)["le"]: v for k, v in run.items() if dict(k)["name"] == "demo.email"}
    assert email_run[str(RUN_BUCKETS[4])] == 0 and email_run[str(RUN_BUCKETS[5])] == 3
    assert email_run["+Inf"] == 4
    assert samples["durable_jobs_run_seconds_sum"][(("name", "demo.email"), ("queue", "emails"))] == 8.0

    workers = samples["durable_jobs_workers"]
    assert workers == {(("state", "alive"),): 1, (("state", "paused"),): 1, (("state", "dead"),): 2}
    busy = samples["durable_jobs_worker_busy_slots"]
    assert busy[(("worker", "busy-worker"),)] == 2
    assert busy[(("worker", "idle-worker"),)] == 0
    assert samples["durable_jobs_queue_paused"] == {(("queue", "emails"),): 0, (("queue", "reports"),): 1}


def test_an_empty_database_scrapes(db) -> None:
    samples = parse(fleet.render()[0].decode())
    assert samples["durable_jobs_workers"] == {
        (("state", "alive"),): 0,
        (("state", "paused"),): 0,
        (("state", "dead"),): 0,
    }
    assert "durable_jobs_jobs" not in samples


@pytest.fixture
def token(settings) -> str:
    settings.DURABLE_JOBS = {**settings.DURABLE_JOBS, "METRICS_TOKEN": TOKEN}
    return TOKEN


def test_anonymous_and_wrong_tokens_get_401(client, token) -> None:
    response = client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.get(URL, headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert client.get(URL, headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401


def test_the_token_reads_the_metrics(client, token) -> None:
    JobFactory(status="pending", queue="emails")
    response = client.get(URL, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-cache" in response["Cache-Control"]
    jobs = parse(response.content.decode())["durable_jobs_jobs"]
    assert jobs[(("queue", "emails"), ("status", "pending"))] == 1


def test_no_token_is_accepted_when_none_is_set(client) -> None:
    assert client.get(URL, headers={"Authorization": "Bearer "}).status_code == 401
    assert client.get(URL, headers={"Authorization": "Bearer anything-at-all-1234"}).status_code == 401


def test_logged_in_users_need_the_view_job_permission(client) -> None:
    user = User.objects.create_user("viewer", password="pw")
    client.force_login(user)
    assert client.get(URL).status_code == 403
    user.user_permissions.add(
        Permission.objects.get(codename="view_job", content_type__app_label="durable_jobs")
    )
    assert client.get(URL).status_code == 200
    client.force_login(User.objects.create_superuser("admin", password="pw"))
    assert client.get(URL).status_code == 200


def test_without_prometheus_client_the_view_says_so(client, token, monkeypatch) -> None:
    monkeypatch.setattr(fleet, "CollectorRegistry", None)
    response = client.get(URL, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 501
    assert "pip install 'django-durable-jobs[metrics]'" in response.content.decode()
    assert client.get(URL).status_code == 401, "nothing said before the guard"
    warnings = [m for m in fleet.check_metrics_library() if isinstance(m, checks.Warning)]
    assert [w.id for w in warnings] == ["durable_jobs.W001"]


def test_the_library_check_is_quiet_when_installed(db) -> None:
    assert fleet.check_metrics_library() == []


@pytest.mark.parametrize("value", ["short", 12345, b"bytes-token-long-enough"])
def test_a_bad_token_setting_is_a_system_check_error(settings, value) -> None:
    from django_durable_jobs.conf import problems

    found = problems({"METRICS_TOKEN": value})
    assert [p.id for p in found] == ["durable_jobs.E015"]
    assert "short" not in str(found[0]), "the secret is not echoed"
    assert problems({"METRICS_TOKEN": TOKEN}) == [] and problems({"METRICS_TOKEN": None}) == []
