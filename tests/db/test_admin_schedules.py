"""The admin's Schedules page (issue 13, item 4), ``run_schedule_now``, and rate limits on the Job types page.

Driven with Django's test client on SQLite and PostgreSQL. Rows come from the
code (``schedule()`` + ``sync_schedules()``, fired by ``run_due``) or are
created directly. Buttons are CSRF-protected POSTs behind the ``Schedule``
change permission; every refusal is a message with nothing written.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from demo import jobs as demo
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from django_durable_jobs import (
    InvalidValue,
    ScheduleNotFound,
    UnknownJob,
    pause_job_type,
    pause_queue,
    pause_schedule,
)
from django_durable_jobs.admin.schedules import MAX_ARGS_CHARS_SHOWN, ScheduleRow, duration
from django_durable_jobs.models import Job, Schedule
from django_durable_jobs.scheduling.firing import run_due, schedule, sync_schedules
from django_durable_jobs.scheduling.manual import run_schedule_now
from django_durable_jobs.scheduling.specs import daily, every

from .test_admin import JOBS, messages_of, post, redirected_to
from .test_admin_input import HOSTILE_IDS, HOSTILE_QUERIES, no_500

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_schedules")]

SCHEDULES = "admin:durable_jobs_schedule_changelist"
JOB_TYPES = "admin:durable_jobs_jobtypestate_changelist"
#: A schedule name with the characters a URL path would mangle.
ODD_NAME = "legacy:billing.v2|invoice/send %41"


def operate(action: str) -> str:
    return reverse("admin:durable_jobs_schedule_operate", args=[action])


def rows_of(client: Client) -> dict[str, ScheduleRow]:
    response = client.get(reverse(SCHEDULES))
    assert response.status_code == 200
    return {row.name: row for row in response.context["schedules"]}


def row_html(client: Client, name: str, page: str = SCHEDULES) -> str:
    """The ``<tr>`` of ``name`` on the page."""
    html = client.get(reverse(page)).content.decode()
    start = html.index(f'<tr data-name="{name}">')
    return html[start : html.index("</tr>", start)]


def snapshot() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every schedule row and job, to compare before and after a refused request."""
    return (
        list(Schedule.objects.order_by("name").values_list()),
        list(Job.objects.order_by("id").values_list("id", "status")),
    )


@pytest.fixture
def adder() -> Schedule:
    """Schedule "adder" of demo.add(1, 2) every 5 minutes with every policy set, fired once,
    and "demo.noop", daily, synchronised but never fired."""
    schedule(
        demo.add,
        every(minutes=5),
        name="adder",
        args=[1, 2],
        catch_up="all",
        catch_up_window=timedelta(hours=1),
        overlap="skip",
        while_paused="queue",
    )
    assert [job.schedule for job in run_due()] == ["adder"]
    schedule("demo.noop", daily(9, 0))
    sync_schedules()
    return Schedule.objects.get(name="adder")


@pytest.fixture
def viewer(client: Client) -> Client:
    """A staff user who may view schedules (and jobs) but change nothing."""
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_job", "view_schedule"]))
    client.force_login(user)
    return client


@pytest.fixture
def csrf_client(admin_user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    return client


# --------------------------------------------------------------------------- the page


def test_the_page_lists_every_synced_row_with_its_job_spec_arguments_policies_and_fires(
    admin_client: Client, adder: Schedule
) -> None:
    Schedule.objects.create(name="gone", job_name="legacy.job", spec="every hour", orphaned=True)
    rows = rows_of(admin_client)
    assert list(rows) == ["adder", "demo.noop", "gone"]

    fired = Job.objects.get(schedule="adder")
    assert adder.last_job_id == fired.pk and adder.next_fire_at is not None
    html = row_html(admin_client, "adder")
    assert f'<a href="{reverse(JOBS)}?name=demo.add">demo.add</a>' in html
    assert f'<a href="{reverse(JOBS)}?schedule=adder">its fires</a>' in html
    assert '<td class="djj-spec">every 5 minutes</td>' in html
    assert '<code title="[1, 2]">[1, 2]</code>' in html
    assert "catch up: <strong>all, within 1 h</strong>" in html
    assert "overlap: <strong>skip</strong>" in html and "while paused: <strong>queue</strong>" in html
    assert 'title="keep one fire until the previous one ends"' not in html  # overlap is skip
    assert 'title="skip the fire">overlap' in html
    assert f'<a href="{reverse("admin:durable_jobs_job_change", args=[fired.pk])}">job {fired.pk}</a>' in html
    assert '<span class="djj-badge djj-pending">pending</span>' in html
    assert '<span class="djj-badge djj-active">active</span>' in html
    assert re.search(r'<td class="djj-next">\s*<span title="[^"]+">', html) and "in " in html
    assert "not registered in this process" not in html

    noop = row_html(admin_client, "demo.noop")
    assert re.search(r'<td class="djj-args"><span class="djj-zero">—</span></td>', noop)
    assert "catch up: <strong>latest</strong>" in noop and "while paused: <strong>coalesce</strong>" in noop

    gone = row_html(admin_client, "gone")
    assert "djj-orphaned" in gone and "not registered in this process" in gone
    assert "— (orphaned)" in gone and "never" in gone and "djj-active" not in gone

    page = admin_client.get(reverse(SCHEDULES)).content.decode()
    assert "<title>Schedules" in page and page.count(">Run now</button>") == 3
    index = admin_client.get(reverse("admin:app_list", args=["durable_jobs"])).content.decode()
    assert "Schedules" in index and reverse(SCHEDULES) in index


def test_the_fires_link_lists_the_schedules_fired_jobs_only(admin_client: Client, adder: Schedule) -> None:
    manual = run_schedule_now("adder")
    demo.add.enqueue(1, 2)  # the same job, not from this schedule
    listed = admin_client.get(rows_of(admin_client)["adder"].fires_url)
    assert listed.status_code == 200
    assert [job.pk for job in listed.context["cl"].result_list] == [adder.last_job_id]
    by_name = admin_client.get(rows_of(admin_client)["adder"].jobs_url)
    assert manual.pk in [job.pk for job in by_name.context["cl"].result_list]


def test_long_arguments_are_shortened_and_a_deleted_last_job_says_so(admin_client: Client) -> None:
    Schedule.objects.create(
        name="big",
        job_name="demo.echo",
        spec="every 1 hour",
        args=["x" * 5000],
        kwargs={"k": 1},
        last_job_id=99,
    )
    row = rows_of(admin_client)["big"]
    assert row.arguments.endswith('x… {"k": 1}') and len(row.arguments) < 1100  # read as text, cut
    assert row.arguments_short == row.arguments[:MAX_ARGS_CHARS_SHOWN] + "…"
    html = row_html(admin_client, "big")
    assert "job 99 (deleted)" in html and "/job/99/" not in html
    assert duration(3600.0) == "1 h" and duration(90) == "90 s" and duration(0.5) == "0.5 s"
    assert duration(86400 * 2) == "2 d" and duration(300) == "5 min"


def test_a_schedule_without_rows_yet_says_how_they_come(admin_client: Client) -> None:
    page = admin_client.get(reverse(SCHEDULES)).content.decode()
    assert "No schedules yet" in page


# --------------------------------------------------------------------------- pause, resume, run now


def test_pause_with_a_reason_then_resume(admin_client: Client, adder: Schedule) -> None:
    response = post(admin_client, operate("pause"), {"name": "adder", "reason": "month end"})
    assert redirected_to(response) == reverse(SCHEDULES)
    assert messages_of(response) == [("success", "Schedule 'adder' paused.")]
    row = Schedule.objects.get(name="adder")
    assert (row.paused, row.paused_by, row.reason) == (True, "admin", "month end")
    html = row_html(admin_client, "adder")
    assert "djj-badge djj-paused" in html and "by admin" in html and "month end" in html
    assert "— (paused)" in html and ">Resume</button>" in html and ">Pause</button>" not in html

    resumed = post(admin_client, operate("resume"), {"name": "adder"})
    assert messages_of(resumed) == [("success", "Schedule 'adder' resumed.")]
    assert not Schedule.objects.get(name="adder").paused
    assert "djj-active" in row_html(admin_client, "adder")


def test_run_now_enqueues_the_job_with_the_schedules_arguments_and_no_fire(
    admin_client: Client, adder: Schedule
) -> None:
    pause_schedule("adder", by="bob")
    before = Schedule.objects.values_list("last_fire_at", "last_job_id", "next_fire_at").get(name="adder")
    jobs = []
    for _ in range(2):  # twice: a run now is no fire, so there is no fire uniqueness to collide with
        response = post(admin_client, operate("run"), {"name": "adder"})
        job = Job.objects.exclude(pk__in=[adder.last_job_id, *[j.pk for j in jobs]]).get()
        jobs.append(job)
        link = reverse("admin:durable_jobs_job_change", args=[job.pk])
        assert messages_of(response) == [
            (
                "success",
                f'<a href="{link}">Job {job.pk}</a> enqueued: '
                "demo.add run now for schedule &#x27;adder&#x27;.",
            )
        ]
        assert f'<a href="{link}">Job {job.pk}</a> enqueued' in response.content.decode()
        assert (job.name, job.args, job.kwargs, job.status) == ("demo.add", [1, 2], {}, "pending")
        assert (job.schedule, job.scheduled_for) == (None, None)
    after = Schedule.objects.values_list("last_fire_at", "last_job_id", "next_fire_at").get(name="adder")
    assert after == before and Schedule.objects.get(name="adder").paused


def test_run_now_says_when_the_job_waits_for_a_paused_queue_or_job_type(admin_client: Client) -> None:
    schedule(demo.send_email, every(hours=1), args=["a@example.com"], kwargs={"subject": "Hi"})
    schedule(demo.square, every(hours=1), args=[3])
    sync_schedules()
    pause_queue("emails")
    pause_job_type("demo.square")
    emailed = messages_of(post(admin_client, operate("run"), {"name": "demo.email"}))[0][1]
    assert unescape(emailed).endswith("for schedule 'demo.email'. It waits: queue 'emails' is paused.")
    squared = messages_of(post(admin_client, operate("run"), {"name": "demo.square"}))[0][1]
    assert unescape(squared).endswith("It waits: job type 'demo.square' is paused.")
    email = Job.objects.get(name="demo.email")
    assert (email.queue, email.args, email.kwargs) == ("emails", ["a@example.com"], {"subject": "Hi"})


def test_a_name_of_any_characters_travels_as_post_data(admin_client: Client) -> None:
    schedule(demo.noop, every(hours=1), name=ODD_NAME)
    sync_schedules()
    response = post(admin_client, operate("pause"), {"name": ODD_NAME, "reason": "legacy"})
    assert messages_of(response) == [("success", f"Schedule {ODD_NAME!r} paused.")]
    html = row_html(admin_client, ODD_NAME)
    assert f'<input type="hidden" name="name" value="{ODD_NAME}">' in html
    assert "?schedule=legacy%3Abilling.v2%7Cinvoice%2Fsend+%2541" in html
    assert post(admin_client, operate("run"), {"name": ODD_NAME}).status_code == 200
    assert Job.objects.filter(name="demo.noop").count() == 1
    assert post(admin_client, operate("resume"), {"name": ODD_NAME}).status_code == 200
    assert not Schedule.objects.get(name=ODD_NAME).paused


def test_run_schedule_now_from_python() -> None:
    Schedule.objects.create(name="s", job_name="demo.add", spec="every 1 hour", kwargs={"a": 2, "b": 3})
    job = run_schedule_now("s", by="cron-ops")
    assert (job.name, job.args, job.kwargs, job.schedule) == ("demo.add", [], {"a": 2, "b": 3}, None)
    with pytest.raises(ScheduleNotFound):
        run_schedule_now("nope")
    with pytest.raises(InvalidValue, match="by: "):
        run_schedule_now("s", by="x\x00")
    assert Job.objects.count() == 1


# --------------------------------------------------------------------------- refusals


def test_refusals_are_messages_with_nothing_written(admin_client: Client, adder: Schedule) -> None:
    Schedule.objects.create(name="gone", job_name="legacy.job", spec="every hour", orphaned=True)
    Schedule.objects.create(name="stale", job_name="demo.add", spec="every hour", args=[1, 2, 3])
    Schedule.objects.create(name="mangled", job_name="demo.add", spec="every hour", args={"a": 1})
    pause_schedule("adder", reason="first")
    before = snapshot()
    cases = [
        ("pause", {"name": "adder"}, "schedule 'adder' is already paused"),
        ("resume", {"name": "demo.noop"}, "schedule 'demo.noop' is not paused"),
        ("pause", {"name": "nope"}, "schedule 'nope' does not exist (has a runjobs --scheduler started"),
        ("resume", {"name": "nope"}, "schedule 'nope' does not exist"),
        ("run", {"name": "nope"}, "schedule 'nope' does not exist"),
        ("run", {"name": "gone"}, "no job is registered under the name 'legacy.job'"),
        (
            "run",
            {"name": "stale"},
            "arguments: job 'demo.add' does not take the arguments of schedule 'stale'",
        ),
        ("run", {"name": "mangled"}, "arguments: schedule 'mangled' stores no list of args"),
        ("pause", {"name": "demo.noop", "reason": "bad\x00reason"}, "reason: 'bad\\x00reason'"),
        ("pause", {"name": "demo.noop", "reason": "r" * 10_001}, "reason: "),
        ("pause", {"name": ""}, "name: must not be empty"),
        ("pause", {}, "name: must not be empty"),
        ("resume", {"name": "demo\x00add"}, "name: 'demo\\x00add'"),
        ("run", {"name": ""}, "name: must not be empty"),
        ("run", {"name": "n" * 300}, "name: 'nnnn"),
    ]
    for action, data, message in cases:
        response = post(admin_client, operate(action), data)
        assert redirected_to(response) == reverse(SCHEDULES)
        [(level, text)] = messages_of(response)
        assert level == "error" and text.startswith(message), (action, data, text)
        assert snapshot() == before, (action, data)
    with pytest.raises(UnknownJob):
        run_schedule_now("gone")


def test_an_unknown_action_is_a_404_and_a_get_changes_nothing(admin_client: Client, adder: Schedule) -> None:
    before = snapshot()
    assert admin_client.post(operate("explode"), {"name": "adder"}).status_code == 404
    for action in ("pause", "resume", "run"):
        assert admin_client.get(operate(action) + "?name=adder").status_code == 405
    assert snapshot() == before


@pytest.mark.parametrize("name", ["adder", ODD_NAME, "\x00", "n" * 300])
def test_rows_have_no_page_of_their_own(admin_client: Client, adder: Schedule, name: str) -> None:
    for tail in ("", "change/", "history/", "delete/"):
        url = reverse(SCHEDULES) + quote(name) + "/" + tail
        assert admin_client.get(url)["Location"] == reverse(SCHEDULES), url
    change = reverse(SCHEDULES) + quote(name) + "/change/"
    assert admin_client.post(change, {"paused": "on"})["Location"] == reverse(SCHEDULES)
    assert admin_client.get(reverse(SCHEDULES) + "add/")["Location"] == reverse(SCHEDULES)
    assert not Schedule.objects.filter(paused=True).exists()


def test_no_hostile_request_is_a_500(admin_client: Client, adder: Schedule) -> None:
    base = reverse(SCHEDULES)
    failures = [no_500(admin_client, "get", f"{base}?{query}") for query in HOSTILE_QUERIES]
    for query in ("schedule=%00", "schedule=" + "s" * 5000, "schedule__regex=["):
        failures.append(no_500(admin_client, "get", f"{reverse(JOBS)}?{query}"))
    for value in HOSTILE_IDS + ["1e300", "-inf", "١", ODD_NAME]:
        failures.append(no_500(admin_client, "get", f"{base}{quote(value)}/change/"))
        for action in ("pause", "resume", "run", "zzz"):
            for data in ({"name": value}, {"name": "adder", "reason": value}):
                failures.append(no_500(admin_client, "post", operate(action), data))
    assert [f for f in failures if f] == []
    # Each pause of "adder" the form accepted was resumed by the next request.
    assert not Schedule.objects.filter(paused=True).exists()


# --------------------------------------------------------------------------- permissions and CSRF


def test_staff_without_change_permission_sees_no_buttons_and_cannot_post(
    viewer: Client, adder: Schedule
) -> None:
    pause_schedule("demo.noop", by="bob")
    before = snapshot()
    page = viewer.get(reverse(SCHEDULES))
    assert page.status_code == 200 and not page.context["can_operate"]
    html = page.content.decode()
    assert 'data-name="adder"' in html and "by bob" in html
    assert "/operate/" not in html and "<form" not in html.split('id="changelist"')[1]
    for action, name in (("pause", "adder"), ("resume", "demo.noop"), ("run", "adder")):
        assert viewer.post(operate(action), {"name": name}).status_code == 403
    assert snapshot() == before


def test_staff_without_view_permission_is_refused(client: Client, adder: Schedule) -> None:
    client.force_login(User.objects.create_user("nobody", password="pw", is_staff=True))
    before = snapshot()
    assert client.get(reverse(SCHEDULES)).status_code == 403
    assert client.post(operate("run"), {"name": "adder"}).status_code == 403
    assert snapshot() == before


def test_change_permission_alone_is_enough_to_operate(client: Client, adder: Schedule) -> None:
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="change_schedule"))
    client.force_login(user)
    assert "adder" in rows_of(client)
    assert messages_of(post(client, operate("pause"), {"name": "adder"})) == [
        ("success", "Schedule 'adder' paused.")
    ]
    assert Schedule.objects.get(name="adder").paused_by == "operator"
    [(level, _)] = messages_of(post(client, operate("run"), {"name": "adder"}))
    assert level == "success" and Job.objects.count() == 2


def test_a_post_without_csrf_token_is_refused_and_the_page_token_works(
    csrf_client: Client, adder: Schedule
) -> None:
    before = snapshot()
    for action in ("pause", "run"):
        assert csrf_client.post(operate(action), {"name": "adder"}).status_code == 403
    assert snapshot() == before
    page = csrf_client.get(reverse(SCHEDULES)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    data = {"csrfmiddlewaretoken": token.group(1), "name": "adder"}
    assert csrf_client.post(operate("run"), data).status_code == 302
    assert Job.objects.count() == 2


# --------------------------------------------------------------------------- rate limits, Job types page


def test_the_job_types_page_shows_rate_limits_next_to_concurrency_limits(
    admin_client: Client, settings: Any
) -> None:
    settings.DURABLE_JOBS = {**settings.DURABLE_JOBS, "QUEUES": {"emails": {"rate_limit": "50/s"}}}
    page = admin_client.get(reverse(JOB_TYPES)).content.decode()
    assert "<span>Rate limit</span>" in page
    rated = row_html(admin_client, "demo.rated", JOB_TYPES)
    assert re.search(r'<td class="djj-rate">\s*20/s\s*</td>', rated)
    per_tenant = row_html(admin_client, "demo.rated_per_tenant", JOB_TYPES)
    assert re.search(r'<td class="djj-rate">\s*2/10s per <code>tenant:\{tenant\}</code>\s*</td>', per_tenant)
    email = row_html(admin_client, "demo.email", JOB_TYPES)
    assert '50/s <span class="djj-quiet">(queue emails)</span>' in email
    plain = row_html(admin_client, "demo.add", JOB_TYPES)
    assert re.search(r'<td class="djj-rate">\s*<span class="djj-zero">—</span>', plain)
    limited = row_html(admin_client, "demo.limited", JOB_TYPES)
    assert "2 at once" in limited and re.search(r'<td class="djj-rate">\s*<span class="djj-zero">', limited)
