"""Bulk actions that ask first (pause, resume, cancel; workers' pause and resume), and what the
admin shows of progress reports and of a worker's pool."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_durable_jobs.admin.common import MAX_ROWS_CONFIRMED
from django_durable_jobs.models import Job, Status, Worker

from ..factories import JobFactory, WorkerFactory
from .test_admin import JOBS, WORKERS, messages_of, post, redirected_to, reloaded

pytestmark = pytest.mark.django_db

CONFIRM_TEMPLATE = "admin/durable_jobs/confirm_action.html"


def ask(client: Client, action: str, ids: list[Any], url: str = JOBS) -> HttpResponse:
    """What the list's action form posts: the action and the ticked rows."""
    return client.post(
        reverse(url), {"action": action, "index": "0", "_selected_action": [str(i) for i in ids]}
    )


def confirm(
    client: Client, page: HttpResponse, reason: str = "", url: str = JOBS, query: str = ""
) -> HttpResponse:
    """Submit the confirmation page's form as the browser would: its hidden fields and the reason."""
    context = page.context
    data = {
        "action": context["action"],
        "_selected_action": context["selected"],
        "select_across": context["select_across"],
        "post": "yes",
        "reason": reason,
    }
    return post(client, reverse(url) + query, data)


def history(obj: Any) -> list[str]:
    entries = LogEntry.objects.filter(object_id=str(obj.pk)).order_by("id")
    return [entry.get_change_message() for entry in entries]


def test_pausing_jobs_asks_first_then_pauses_them_with_the_reason(admin_client: Client) -> None:
    a, b = JobFactory(name="demo.add"), JobFactory(running=True)
    already = JobFactory(paused=True)
    page = ask(admin_client, "pause_graceful", [a.pk, b.pk, already.pk])
    assert page.status_code == 200 and CONFIRM_TEMPLATE in [t.name for t in page.templates]
    html = page.content.decode()
    assert f"Job {a.pk}: demo.add (pending)" in html
    assert f"skipped: job {already.pk} is already paused" in html
    assert 'name="reason"' in html and 'name="post" value="yes"' in html
    assert [reloaded(j).status for j in (a, b)] == [Status.PENDING, Status.RUNNING]  # nothing yet

    done = confirm(admin_client, page, reason="  bad deploy  ")
    assert redirected_to(done) == reverse(JOBS)
    assert messages_of(done) == [("warning", f"2 jobs paused; 1 skipped: job {already.pk} is already paused")]
    a, b = reloaded(a), reloaded(b)
    assert (a.status, a.pause_reason, a.paused_by) == (Status.PAUSED, "bad deploy", "admin")
    assert (b.status, b.pause_requested, b.pause_reason) == (Status.RUNNING, "graceful", "bad deploy")
    assert history(a) == ["Paused (graceful) from the jobs list: bad deploy"]
    assert history(already) == []


def test_resume_and_cancel_ask_too_and_keep_the_reason_in_the_history(admin_client: Client) -> None:
    paused, pending = JobFactory(paused=True), JobFactory()
    page = ask(admin_client, "resume", [paused.pk, pending.pk])
    assert "will be resumed" in page.content.decode()
    done = confirm(admin_client, page, reason="deploy fixed")
    assert messages_of(done) == [
        ("warning", f"1 job resumed; 1 skipped: job {pending.pk} is not paused (it is pending)")
    ]
    assert history(paused) == ["Resumed from the jobs list: deploy fixed"]

    page = ask(admin_client, "cancel", [pending.pk])
    assert reloaded(pending).status == Status.PENDING
    done = confirm(admin_client, page, reason="duplicate order")
    assert messages_of(done) == [("success", "1 job cancelled")]
    assert reloaded(pending).status == Status.CANCELLED
    assert reloaded(pending).last_error.endswith(": duplicate order")  # the job keeps why
    assert history(pending) == ["Cancelled from the jobs list: duplicate order"]

    retried = ask(admin_client, "retry", [pending.pk])  # retry does not ask
    assert retried.status_code == 302
    assert reloaded(pending).status == Status.PENDING


def test_a_reason_the_database_cannot_store_is_asked_again(admin_client: Client) -> None:
    job = JobFactory()
    page = ask(admin_client, "cancel", [job.pk])
    again = admin_client.post(
        reverse(JOBS),
        {"action": "cancel", "_selected_action": [str(job.pk)], "post": "yes", "reason": "a\x00b"},
    )
    assert again.status_code == 200 and CONFIRM_TEMPLATE in [t.name for t in again.templates]
    assert "reason: &#x27;a\\x00b&#x27; contains a NUL character" in again.content.decode()
    assert page.context["selected"] == again.context["selected"]
    assert reloaded(job).status == Status.PENDING


def test_selecting_every_row_of_a_filtered_list_confirms_and_acts_on_those_rows(admin_client: Client) -> None:
    pending = JobFactory.create_batch(3)
    completed = JobFactory(completed=True)
    query = "?status__exact=pending"
    data = {
        "action": "pause_aggressive",
        "index": "0",
        "select_across": "1",
        "_selected_action": [pending[0].pk],
    }
    page = admin_client.post(reverse(JOBS) + query, data)
    assert page.context["select_across"] == "1"
    assert [row.label.split(":")[0] for row in page.context["rows"]] == [f"Job {j.pk}" for j in pending]
    assert page.context["back_url"] == reverse(JOBS) + query
    done = confirm(admin_client, page, query=query)
    assert messages_of(done) == [("success", "3 jobs paused")]
    assert {reloaded(j).status for j in pending} == {Status.PAUSED}
    assert reloaded(completed).status == Status.COMPLETED


def test_a_confirmation_where_nothing_applies_offers_only_the_way_back(admin_client: Client) -> None:
    done = JobFactory(completed=True)
    html = ask(admin_client, "cancel", [done.pk]).content.decode()
    assert "Nothing to do" in html and 'name="post"' not in html
    assert f"cannot cancel job {done.pk}: it is completed" in html


def test_without_the_change_permission_no_action_runs_even_confirmed(client: Client) -> None:
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_job"]))
    client.force_login(user)
    job = JobFactory()
    response = post(client, reverse(JOBS), {"action": "cancel", "_selected_action": [job.pk], "post": "yes"})
    assert response.context["action_form"] is None  # the list offers it no action...
    assert reloaded(job).status == Status.PENDING  # ...and runs none it posts


# --------------------------------------------------------------------------- workers


def test_workers_are_paused_and_resumed_in_bulk_after_confirming(admin_client: Client) -> None:
    first, second = WorkerFactory(alive=True), WorkerFactory(alive=True)
    dead = WorkerFactory(dead=True)
    running = JobFactory(running=True, worker_id=first.pk)
    page = ask(admin_client, "pause_aggressive", [first.pk, second.pk, dead.pk], url=WORKERS)
    html = page.content.decode()
    assert f"skipped: worker &#x27;{dead.pk}&#x27; is not alive" in html
    assert not Worker.objects.filter(paused=True).exists()

    done = confirm(admin_client, page, reason="kernel upgrade", url=WORKERS)
    assert redirected_to(done) == reverse(WORKERS)
    assert messages_of(done) == [
        ("warning", f"2 workers paused (aggressive); 1 skipped: worker '{dead.pk}' is not alive")
    ]
    paused = Worker.objects.filter(paused=True).order_by("id")
    assert [(w.pk, w.reason, w.paused_by) for w in paused] == [
        (first.pk, "kernel upgrade", "admin"),
        (second.pk, "kernel upgrade", "admin"),
    ]
    assert reloaded(running).status == Status.PENDING
    assert history(first) == ["Paused (aggressive) from the workers list: kernel upgrade"]

    page = ask(admin_client, "resume", [first.pk, second.pk], url=WORKERS)
    done = confirm(admin_client, page, url=WORKERS)
    assert messages_of(done) == [("success", "2 workers resumed")]
    assert not Worker.objects.filter(paused=True).exists()
    actions = admin_client.get(reverse(WORKERS)).context["action_form"].fields["action"].choices
    assert [name for name, _ in actions if name] == ["pause_graceful", "pause_aggressive", "resume"]


def test_the_worker_page_shows_its_pool_children_and_abandoned_threads(admin_client: Client) -> None:
    job = JobFactory(running=True)
    children = [{"pid": 4101, "job": job.pk, "jobs": 17}, {"pid": 4102, "job": None, "jobs": 3}]
    worker = WorkerFactory(alive=True, pool="process", children=children, abandoned_threads=2)
    page = admin_client.get(reverse("admin:durable_jobs_worker_change", args=[worker.pk])).content.decode()
    assert "process" in page
    change = reverse("admin:durable_jobs_job_change", args=[job.pk])
    assert f'<td>4101</td><td><a href="{change}">job {job.pk}</a></td><td>17</td>' in page
    assert "<td>4102</td><td>idle</td><td>3</td>" in page
    assert '<div class="readonly">2</div>' in page
    threads = WorkerFactory(alive=True)
    page = admin_client.get(reverse("admin:durable_jobs_worker_change", args=[threads.pk])).content.decode()
    assert '<div class="readonly">thread</div>' in page


# --------------------------------------------------------------------------- progress


def with_progress(done: int, total: int | None, message: str, seconds: float, **fields: Any) -> Job:
    started = timezone.now() - timedelta(seconds=seconds)
    return JobFactory(
        started_at=started,
        progress_done=done,
        progress_total=total,
        progress_message=message,
        progress_at=started + timedelta(seconds=seconds),
        **fields,
    )


def test_the_jobs_list_shows_a_bar_for_running_jobs(admin_client: Client) -> None:
    running = with_progress(30, 120, "copying rows", 10, running=True)
    counting = with_progress(7, None, "", 10, running=True)
    finished = with_progress(120, 120, "done", 10, completed=True)
    response = admin_client.get(reverse(JOBS))
    html = response.content.decode()
    assert (
        'aria-valuenow="30" title="copying rows"><span class="djj-progress-fill" style="width: 25%">' in html
    )
    assert "30/120 (25%)" in html
    assert "7 done" in html
    row = {j.pk: j for j in response.context["cl"].result_list}
    admin = response.context["cl"].model_admin
    assert admin.progress_bar(row[finished.pk]) == ""
    assert running.pk in row and counting.pk in row


def test_the_job_page_shows_done_total_message_and_rate(admin_client: Client) -> None:
    job = with_progress(30, 120, "copying rows", 10, running=True)
    html = admin_client.get(reverse("admin:durable_jobs_job_change", args=[job.pk])).content.decode()
    assert "30 done of 120" in html
    assert "copying rows" in html
    assert "3/s since it started, about 30 s to go" in html

    slow = with_progress(3, None, "", 120, completed=True)
    html = admin_client.get(reverse("admin:durable_jobs_job_change", args=[slow.pk])).content.decode()
    assert "3 done</div>" in html and "1.5/min since it started" in html and "to go" not in html

    earlier = with_progress(5, 10, "", 10, running=True)
    Job.objects.filter(pk=earlier.pk).update(started_at=timezone.now() + timedelta(seconds=1))
    html = admin_client.get(reverse("admin:durable_jobs_job_change", args=[earlier.pk])).content.decode()
    assert "5/10 reported by an earlier attempt" in html
    assert 'class="djj-progress-fill"' not in html
    none = JobFactory(running=True)
    html = admin_client.get(reverse("admin:durable_jobs_job_change", args=[none.pk])).content.decode()
    assert "field-progress_pretty" not in html


def test_a_long_selection_lists_its_first_rows_and_says_there_are_more(admin_client: Client) -> None:
    jobs = JobFactory.create_batch(MAX_ROWS_CONFIRMED + 2)
    data = {"action": "cancel", "index": "0", "select_across": "1", "_selected_action": [jobs[0].pk]}
    page = admin_client.post(reverse(JOBS), data)
    assert len(page.context["rows"]) == MAX_ROWS_CONFIRMED and page.context["more"]
    assert f"only the first {MAX_ROWS_CONFIRMED} are listed" in page.content.decode()
    done = confirm(admin_client, page)
    assert messages_of(done) == [("success", f"{MAX_ROWS_CONFIRMED + 2} jobs cancelled")]
