"""The admin (SPEC §10): bulk actions, job page, Queues and Workers pages.

Every state change is a CSRF-protected POST behind the model's change
permission; a GET changes nothing; outcomes are reported as admin messages.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_durable_jobs.admin import summary
from django_durable_jobs.models import Job, PauseMode, QueueState, Status, Worker

from ..factories import (
    CheckpointFactory,
    FanOutFactory,
    JobFactory,
    QueueStateFactory,
    WorkerFactory,
    make_children,
)

pytestmark = pytest.mark.django_db

JOBS = "admin:durable_jobs_job_changelist"
QUEUES = "admin:durable_jobs_queuestate_changelist"
WORKERS = "admin:durable_jobs_worker_changelist"


#: The live worker of these tests, and its running jobs' lease.
WORKER = "web-1:4242:abcd"
LEASE = "lease-token"


def web_1(**fields: Any) -> Worker:
    return WorkerFactory(id=WORKER, host="web-1", pid=4242, queues=["default", "emails"], **fields)


def job_url(job: Job, action: str) -> str:
    return reverse("admin:durable_jobs_job_operate", args=[job.pk, action])


def queue_url(action: str) -> str:
    return reverse("admin:durable_jobs_queuestate_operate", args=[action])


def worker_url(worker_id: str, action: str) -> str:
    return reverse("admin:durable_jobs_worker_operate", args=[quote(worker_id), action])


def post(client: Client, url: str, data: dict[str, Any] | None = None) -> HttpResponse:
    """POST and follow the redirect, so that the page shows (and consumes) the messages."""
    return client.post(url, data or {}, follow=True)


def messages_of(response: HttpResponse) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def redirected_to(response: HttpResponse) -> str:
    return response.redirect_chain[0][0]


def bulk(client: Client, action: str, jobs: list[Job]) -> HttpResponse:
    """Run a bulk action as its confirmation page posts it (see test_admin_confirm.py for the page)."""
    data = {"action": action, "_selected_action": [str(j.pk) for j in jobs], "post": "yes"}
    return post(client, reverse(JOBS), data)


def reloaded(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


@pytest.fixture
def viewer(client: Client) -> Client:
    """A staff user who may view jobs, queues and workers but change nothing."""
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    codenames = ["view_job", "view_queuestate", "view_worker"]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


@pytest.fixture
def csrf_client(admin_user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    return client


# --------------------------------------------------------------------------- job list


def test_summary_names_what_changed_and_why_the_rest_did_not() -> None:
    assert summary(2, "job", "paused", ["job 7 is already paused"]) == (
        "2 jobs paused; 1 skipped: job 7 is already paused"
    )
    assert summary(1, "job", "resumed", []) == "1 job resumed"
    many = summary(0, "job", "paused", [f"job {i} is already paused" for i in range(8)])
    assert many.endswith("job 4 is already paused; and 3 more")


def test_job_list_shows_status_attempts_and_pause(admin_client: Client) -> None:
    JobFactory(name="demo.email", queue="emails", attempt=2, max_retries=3)
    JobFactory(paused=True, paused_by="alice", pause_reason="bad deploy", pause_mode="graceful")
    page = admin_client.get(reverse(JOBS)).content.decode()
    assert '<span class="djj-badge djj-paused">paused</span>' in page
    assert "2/4" in page
    assert "graceful by alice: bad deploy" in page
    for filter_title in ("By status", "By queue", "By name"):
        assert filter_title in page


def test_job_list_filters_and_searches_by_id_and_name(admin_client: Client) -> None:
    email = JobFactory(name="demo.email", queue="emails")
    other = JobFactory(name="demo.add")
    paused = JobFactory(paused=True, name="demo.add")

    def ids(query: str) -> set[int]:
        response = admin_client.get(reverse(JOBS) + query)
        return {job.pk for job in response.context["cl"].result_list}

    assert ids("?status__exact=paused") == {paused.pk}
    assert ids("?queue=emails") == {email.pk}
    assert ids("?name=demo.add") == {other.pk, paused.pk}
    assert ids(f"?q={other.pk}") == {other.pk}
    assert ids("?q=email") == {email.pk}


def test_pages_link_to_job_lists_the_admin_accepts(admin_client: Client) -> None:
    fanout = FanOutFactory()
    [child] = make_children(fanout, 1, status=Status.RUNNING, worker_id="w1")

    def ids(query: str) -> set[int]:
        response = admin_client.get(reverse(JOBS) + query)
        assert response.status_code == 200, query  # an unknown lookup redirects with ?e=1
        return {job.pk for job in response.context["cl"].result_list}

    assert ids(f"?fanout__id__exact={fanout.pk}") == {child.pk}
    assert ids("?worker_id=w1") == {child.pk}


def test_bulk_graceful_pause_pauses_eligible_rows_and_reports_the_rest(
    admin_client: Client,
) -> None:
    a, b = JobFactory(), JobFactory(waiting=True)
    already = JobFactory(paused=True)
    done = JobFactory(completed=True)
    response = bulk(admin_client, "pause_graceful", [a, b, already, done])
    assert redirected_to(response) == reverse(JOBS)
    assert messages_of(response) == [
        (
            "warning",
            f"2 jobs paused; 2 skipped: job {already.pk} is already paused; "
            f"cannot pause job {done.pk}: it is completed",
        )
    ]
    for job in (a, b):
        job = reloaded(job)
        assert (job.status, job.pause_mode, job.paused_by) == (Status.PAUSED, "graceful", "admin")
    assert reloaded(done).status == Status.COMPLETED


def test_bulk_graceful_pause_of_a_running_job_requests_the_pause(admin_client: Client) -> None:
    running = JobFactory(running=True, lease=LEASE)
    response = bulk(admin_client, "pause_graceful", [running])
    assert messages_of(response) == [("success", "1 job paused")]
    job = reloaded(running)
    assert (job.status, job.pause_requested, job.lease) == (
        Status.RUNNING,
        "graceful",
        LEASE,
    )
    again = bulk(admin_client, "pause_graceful", [running])
    assert messages_of(again) == [
        ("warning", f"0 jobs paused; 1 skipped: job {running.pk} is already paused")
    ]


def test_bulk_aggressive_pause_takes_a_running_job_from_its_worker(admin_client: Client) -> None:
    running = JobFactory(running=True)
    response = bulk(admin_client, "pause_aggressive", [running])
    assert messages_of(response) == [("success", "1 job paused")]
    job = reloaded(running)
    assert (job.status, job.pause_mode, job.lease, job.attempt) == (
        Status.PAUSED,
        "aggressive",
        None,
        0,
    )


def test_bulk_resume_cancel_and_retry(admin_client: Client) -> None:
    paused, pending = JobFactory(paused=True), JobFactory()
    response = bulk(admin_client, "resume", [paused, pending])
    assert messages_of(response) == [
        ("warning", f"1 job resumed; 1 skipped: job {pending.pk} is not paused (it is pending)")
    ]
    assert reloaded(paused).status == Status.PENDING

    completed = JobFactory(completed=True)
    response = bulk(admin_client, "cancel", [pending, completed])
    assert messages_of(response) == [
        (
            "warning",
            f"1 job cancelled; 1 skipped: cannot cancel job {completed.pk}: it is completed",
        )
    ]
    assert reloaded(pending).status == Status.CANCELLED

    failed = JobFactory(failed=True, attempt=3, max_retries=2)
    response = bulk(admin_client, "retry", [failed, pending, completed])
    assert messages_of(response)[0][1].startswith("2 jobs queued again; 1 skipped: ")
    assert (reloaded(failed).status, reloaded(failed).attempt) == (Status.PENDING, 0)
    assert reloaded(pending).status == Status.PENDING
    assert reloaded(completed).status == Status.COMPLETED


def test_jobs_cannot_be_added_or_bulk_deleted(admin_client: Client) -> None:
    assert admin_client.get(reverse("admin:durable_jobs_job_add")).status_code == 403
    actions = admin_client.get(reverse(JOBS)).context["action_form"].fields["action"].choices
    assert [name for name, _ in actions if name] == [
        "pause_graceful",
        "pause_aggressive",
        "resume",
        "cancel",
        "retry",
    ]


# --------------------------------------------------------------------------- job page


def test_job_page_is_read_only_and_shows_data(admin_client: Client) -> None:
    job = JobFactory(
        failed=True,
        name="demo.process_order",
        args=[{"amount": 5, "items": ["book"]}],
        kwargs={"note": "<b>gift</b>"},
        last_error='Traceback (most recent call last):\n  File "x.py"\nRuntimeError: boom',
    )
    CheckpointFactory(job=job, target="demo.charge", value="receipt-5")
    response = admin_client.get(reverse("admin:durable_jobs_job_change", args=[job.pk]))
    page = response.content.decode()
    assert response.context["title"] == f"Job {job.pk}: demo.process_order"
    assert 'name="_save"' not in page
    assert "&quot;amount&quot;: 5" in page  # indented JSON, escaped
    assert "&lt;b&gt;gift&lt;/b&gt;" in page
    assert '<pre class="djj-pre">Traceback (most recent call last):' in page
    assert "demo.charge" in page and "&quot;receipt-5&quot;" in page
    assert ">Retry</button>" in page
    assert "Pause (graceful)" not in page and ">Resume</button>" not in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_job_page_links_fan_out_children_and_parent(admin_client: Client) -> None:
    fanout = FanOutFactory(parent__name="demo.sum_squares")
    parent = fanout.parent
    children = [
        *make_children(fanout, 1, status=Status.COMPLETED, name="demo.square"),
        *make_children(fanout, 1, name="demo.square"),
    ]
    page = admin_client.get(reverse("admin:durable_jobs_job_change", args=[parent.pk]))
    text = page.content.decode()
    assert "Fan-out 0: running" in text
    for child in children:
        assert reverse("admin:durable_jobs_job_change", args=[child.pk]) in text
    child_page = admin_client.get(reverse("admin:durable_jobs_job_change", args=[children[1].pk]))
    assert reverse("admin:durable_jobs_job_change", args=[parent.pk]) in child_page.content.decode()
    assert "child 1 of fan-out 0" in child_page.content.decode()


def test_job_page_buttons_pause_with_reason_and_report_errors(admin_client: Client) -> None:
    job = JobFactory()
    page = admin_client.get(reverse("admin:durable_jobs_job_change", args=[job.pk]))
    assert job_url(job, "pause") in page.content.decode()

    response = post(admin_client, job_url(job, "pause"), {"mode": "aggressive", "reason": "bad data"})
    assert redirected_to(response) == reverse("admin:durable_jobs_job_change", args=[job.pk])
    assert messages_of(response) == [("success", f"Job {job.pk} paused (aggressive).")]
    job = reloaded(job)
    assert (job.status, job.pause_mode, job.paused_by, job.pause_reason) == (
        Status.PAUSED,
        PauseMode.AGGRESSIVE,
        "admin",
        "bad data",
    )

    again = post(admin_client, job_url(job, "pause"), {"mode": "graceful"})
    assert messages_of(again) == [("error", f"job {job.pk} is already paused")]

    resumed = post(admin_client, job_url(job, "resume"))
    assert messages_of(resumed) == [("success", f"Job {job.pk} resumed.")]
    assert reloaded(job).status == Status.PENDING

    missing = post(admin_client, reverse("admin:durable_jobs_job_operate", args=[999, "cancel"]))
    assert redirected_to(missing) == reverse(JOBS)
    assert messages_of(missing) == [("error", "job 999 does not exist")]
    bad_mode = post(admin_client, job_url(job, "pause"), {"mode": "gentle"})
    assert "is not 'graceful' or 'aggressive'" in messages_of(bad_mode)[0][1]
    assert post(admin_client, job_url(job, "explode")).status_code == 404


def test_editing_a_job_by_hand_is_refused(admin_client: Client) -> None:
    job = JobFactory()
    url = reverse("admin:durable_jobs_job_change", args=[job.pk])
    response = admin_client.post(url, {"status": "completed", "name": "x", "queue": "x"})
    assert response.status_code == 403
    assert reloaded(job).status == Status.PENDING


# --------------------------------------------------------------------------- safety


def test_get_on_an_action_url_changes_nothing(admin_client: Client) -> None:
    job = JobFactory()
    QueueStateFactory(queue="emails")
    web_1()
    for url in (
        job_url(job, "pause"),
        job_url(job, "cancel"),
        queue_url("pause") + "?queue=emails",
        worker_url(WORKER, "pause"),
    ):
        assert admin_client.get(url).status_code == 405, url
    assert reloaded(job).status == Status.PENDING
    assert not QueueState.objects.get(queue="emails").paused
    assert not Worker.objects.get().paused


def test_staff_without_change_permission_sees_no_buttons_and_gets_403(viewer: Client) -> None:
    job = JobFactory()
    JobFactory(queue="emails")
    web_1(alive=True)

    page = viewer.get(reverse("admin:durable_jobs_job_change", args=[job.pk]))
    assert page.status_code == 200
    assert "Pause (graceful)" not in page.content.decode()
    assert "/operate/" not in page.content.decode()
    job_list = viewer.get(reverse(JOBS))
    assert job_list.context["action_form"] is None
    queues = viewer.get(reverse(QUEUES)).content.decode()
    assert "emails" in queues and "/operate/" not in queues
    workers = viewer.get(reverse(WORKERS)).content.decode()
    assert "web-1" in workers and "/operate/" not in workers

    assert viewer.post(job_url(job, "pause")).status_code == 403
    assert viewer.post(queue_url("pause"), {"queue": "emails"}).status_code == 403
    assert viewer.post(worker_url(WORKER, "pause")).status_code == 403
    bulk(viewer, "pause_graceful", [job])
    assert reloaded(job).status == Status.PENDING
    assert not QueueState.objects.filter(paused=True).exists()
    assert not Worker.objects.get().paused


def test_staff_without_view_permission_is_refused(client: Client) -> None:
    user = User.objects.create_user("nobody", password="pw", is_staff=True)
    client.force_login(user)
    job = JobFactory()
    assert client.get(reverse(QUEUES)).status_code == 403
    assert client.get(reverse("admin:durable_jobs_job_change", args=[job.pk])).status_code == 403


def test_post_without_csrf_token_is_refused(csrf_client: Client) -> None:
    job = JobFactory()
    JobFactory(queue="emails")
    web_1()
    assert csrf_client.post(job_url(job, "pause")).status_code == 403
    assert bulk(csrf_client, "pause_aggressive", [job]).status_code == 403
    assert csrf_client.post(queue_url("pause"), {"queue": "emails"}).status_code == 403
    assert csrf_client.post(worker_url(WORKER, "pause")).status_code == 403
    assert reloaded(job).status == Status.PENDING
    assert not QueueState.objects.filter(paused=True).exists()
    assert not Worker.objects.get().paused


def test_the_page_form_carries_a_working_csrf_token(csrf_client: Client) -> None:
    job = JobFactory()
    page = csrf_client.get(reverse("admin:durable_jobs_job_change", args=[job.pk]))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token is not None
    data = {"csrfmiddlewaretoken": token.group(1), "mode": "graceful"}
    response = csrf_client.post(job_url(job, "pause"), data)
    assert response.status_code == 302
    assert reloaded(job).status == Status.PAUSED


# --------------------------------------------------------------------------- queues


def test_queues_page_lists_every_known_queue_with_counts(admin_client: Client) -> None:
    JobFactory.create_batch(2, queue="emails")
    JobFactory(running=True, queue="emails")
    JobFactory(failed=True, queue="default")
    QueueStateFactory(queue="idle", paused=True, pause_mode="graceful", paused_by="bob")
    response = admin_client.get(reverse(QUEUES))
    rows = {row.name: row for row in response.context["queues"]}
    assert list(rows) == ["default", "emails", "idle"]
    assert rows["emails"].counts == {"pending": 2, "running": 1}
    assert rows["idle"].drain == "paused — drained"
    page = response.content.decode()
    assert 'data-queue="emails"' in page
    assert "?queue=emails&amp;status__exact=pending" in page
    assert "Queues" in page and 'name="mode"' in page and 'name="until"' in page


def test_pause_queue_aggressively_with_reason_and_until(admin_client: Client) -> None:
    running = JobFactory(running=True, queue="emails")
    data = {"queue": "emails", "mode": "aggressive", "reason": "SMTP down", "until": "30"}
    response = post(admin_client, queue_url("pause"), data)
    assert redirected_to(response) == reverse(QUEUES)
    assert messages_of(response) == [("success", "Queue 'emails' paused (aggressive).")]
    state = QueueState.objects.get(queue="emails")
    assert (state.paused, state.pause_mode, state.reason, state.paused_by) == (
        True,
        "aggressive",
        "SMTP down",
        "admin",
    )
    assert abs((state.paused_until - timezone.now()) - timedelta(minutes=30)) < timedelta(minutes=1)
    assert reloaded(running).status == Status.PENDING
    page = admin_client.get(reverse(QUEUES)).content.decode()
    assert "paused — drained" in page and "SMTP down" in page and "auto-resumes in" in page

    again = post(admin_client, queue_url("pause"), {"queue": "emails"})
    assert messages_of(again) == [("error", "queue 'emails' is already paused")]
    resumed = post(admin_client, queue_url("resume"), {"queue": "emails"})
    assert messages_of(resumed) == [("success", "Queue 'emails' resumed.")]
    assert not QueueState.objects.get(queue="emails").paused


def test_graceful_queue_pause_shows_jobs_still_running(admin_client: Client) -> None:
    running = JobFactory(running=True, queue="emails")
    post(admin_client, queue_url("pause"), {"queue": "emails", "mode": "graceful"})
    assert reloaded(running).status == Status.RUNNING
    page = admin_client.get(reverse(QUEUES)).content.decode()
    assert "paused — 1 still running" in page


def test_queue_errors_are_reported(admin_client: Client) -> None:
    JobFactory(queue="emails")
    not_paused = post(admin_client, queue_url("resume"), {"queue": "emails"})
    assert messages_of(not_paused) == [("error", "queue 'emails' is not paused")]
    bad_until = post(admin_client, queue_url("pause"), {"queue": "emails", "until": "soon"})
    assert messages_of(bad_until) == [("error", "until: 'soon' is not a number of minutes")]
    bad_name = post(admin_client, queue_url("pause"), {"queue": ""})
    assert messages_of(bad_name) == [("error", "queue: must not be empty")]
    assert not QueueState.objects.filter(paused=True).exists()
    assert post(admin_client, queue_url("explode"), {"queue": "emails"}).status_code == 404


def test_queue_rows_have_no_edit_page(admin_client: Client) -> None:
    QueueStateFactory(queue="emails")
    url = reverse("admin:durable_jobs_queuestate_change", args=["emails"])
    assert admin_client.get(url)["Location"] == reverse(QUEUES)
    assert admin_client.post(url, {"paused": "on"})["Location"] == reverse(QUEUES)
    assert not QueueState.objects.get().paused


# --------------------------------------------------------------------------- workers


def test_workers_page_shows_heartbeat_running_jobs_and_buttons(admin_client: Client) -> None:
    alive = web_1(alive=True)
    WorkerFactory(id="web-2:7:dead", host="web-2", heartbeat_at=timezone.now() - timedelta(minutes=10))
    JobFactory.create_batch(2, running=True, worker_id=alive.pk)
    response = admin_client.get(reverse(WORKERS))
    page = response.content.decode()
    running = {w.pk: w.running_count for w in response.context["cl"].result_list}
    assert running == {WORKER: 2, "web-2:7:dead": 0}
    assert 'class="djj-badge djj-alive"' in page and 'class="djj-badge djj-dead"' in page
    assert worker_url(WORKER, "pause") in page.replace("&amp;", "&")
    assert worker_url("web-2:7:dead", "pause") not in page
    alive_only = admin_client.get(reverse(WORKERS) + "?alive=yes")
    assert [w.pk for w in alive_only.context["cl"].result_list] == [alive.pk]


def test_pause_and_resume_a_worker(admin_client: Client) -> None:
    web_1(alive=True)
    running = JobFactory(running=True, worker_id=WORKER)
    response = post(admin_client, worker_url(WORKER, "pause"), {"mode": "aggressive"})
    assert redirected_to(response) == reverse(WORKERS)
    assert messages_of(response) == [("success", "Worker 'web-1:4242:abcd' paused (aggressive).")]
    worker = Worker.objects.get()
    assert (worker.paused, worker.pause_mode, worker.paused_by) == (True, "aggressive", "admin")
    assert reloaded(running).status == Status.PENDING
    page = admin_client.get(reverse(WORKERS)).content.decode()
    assert ">Resume</button>" in page and "aggressive by admin" in page

    again = post(admin_client, worker_url(WORKER, "pause"))
    assert messages_of(again) == [("error", "worker 'web-1:4242:abcd' is already paused")]
    resumed = post(admin_client, worker_url(WORKER, "resume"))
    assert messages_of(resumed) == [("success", "Worker 'web-1:4242:abcd' resumed.")]
    assert not Worker.objects.get().paused
    missing = post(admin_client, worker_url("nope", "resume"))
    assert messages_of(missing) == [("error", "worker 'nope' is not registered")]
