"""The admin's Job types page (issue 13): every job name, its counts, limit, last error, pause/resume.

Driven with Django's test client on SQLite and PostgreSQL. Buttons are
CSRF-protected POSTs behind the ``JobTypeState`` change permission, and every
refusal is a message with nothing written.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_durable_jobs import pause_job_type
from django_durable_jobs.admin.job_types import MAX_ERROR_CHARS_SHOWN, JobTypeRow, first_line
from django_durable_jobs.models import Job, JobTypeState, Status
from django_durable_jobs.registry import all_definitions

from ..factories import JobFactory
from .test_admin import JOBS, messages_of, post, redirected_to
from .test_admin_input import HOSTILE_IDS, HOSTILE_QUERIES, no_500

pytestmark = pytest.mark.django_db

JOB_TYPES = "admin:durable_jobs_jobtypestate_changelist"
#: A name no registry holds, with the characters a URL path would mangle.
ODD_NAME = "legacy:billing.v2|invoice/send %41"


def operate(action: str) -> str:
    return reverse("admin:durable_jobs_jobtypestate_operate", args=[action])


def rows_of(client: Client) -> dict[str, JobTypeRow]:
    response = client.get(reverse(JOB_TYPES))
    assert response.status_code == 200
    return {row.name: row for row in response.context["job_types"]}


def row_html(client: Client, name: str) -> str:
    """The ``<tr>`` of job type ``name`` on the page."""
    page = client.get(reverse(JOB_TYPES)).content.decode()
    start = page.index(f'<tr data-name="{name}">')
    return page[start : page.index("</tr>", start)]


def states() -> list[tuple[Any, ...]]:
    """Every pause state row, to compare before and after a refused request."""
    return list(JobTypeState.objects.order_by("name").values_list())


def job_statuses() -> list[tuple[int, str]]:
    return list(Job.objects.order_by("id").values_list("id", "status"))


@pytest.fixture
def viewer(client: Client) -> Client:
    """A staff user who may view job types (and jobs) but change nothing."""
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_job", "view_jobtypestate"]))
    client.force_login(user)
    return client


@pytest.fixture
def csrf_client(admin_user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    return client


# --------------------------------------------------------------------------- the page


def test_the_page_lists_every_registered_name_with_counts_and_limits(admin_client: Client) -> None:
    JobFactory.create_batch(2, name="demo.limited")
    JobFactory(name="demo.limited", running=True)
    JobFactory(name="demo.per_customer", completed=True, kwargs={"customer_id": 7})
    JobFactory(name="demo.add", queue="emails", cancelled=True)

    rows = rows_of(admin_client)
    assert set(all_definitions()) <= set(rows)
    assert list(rows) == sorted(rows)
    assert rows["demo.limited"].counts == {"pending": 2, "running": 1}
    assert rows["demo.per_customer"].counts == {"completed": 1}
    assert rows["demo.add"].counts == {"cancelled": 1}
    assert rows["demo.noop"].counts == {}
    assert rows["demo.sleep"].queue == "slow"

    limited = row_html(admin_client, "demo.limited")
    assert "2 at once" in limited and "per <code>" not in limited
    assert f'<td class="djj-num djj-count-pending"><a href="{reverse(JOBS)}?name=demo.limited' in limited
    assert "?name=demo.limited&amp;status__exact=running" in limited
    assert '<span class="djj-badge djj-active">active</span>' in limited
    per_customer = row_html(admin_client, "demo.per_customer")
    assert "1 at once per <code>customer:{customer_id}</code>" in per_customer
    plain = row_html(admin_client, "demo.add")
    assert re.search(r'<td class="djj-limit">\s*<span class="djj-zero">—</span>', plain)
    assert re.search(r'<td class="djj-last-error">\s*<span class="djj-zero">—</span>', plain)

    page = admin_client.get(reverse(JOB_TYPES)).content.decode()
    assert "<title>Job types" in page
    assert 'name="mode"' in page and 'name="reason"' in page and 'name="until"' in page
    index = admin_client.get(reverse("admin:app_list", args=["durable_jobs"])).content.decode()
    assert "Job types" in index and reverse(JOB_TYPES) in index


def test_names_with_jobs_or_a_pause_state_are_listed_even_when_not_registered(
    admin_client: Client,
) -> None:
    odd = JobFactory(name=ODD_NAME, failed=True)
    JobTypeState.objects.create(name="gone.job", paused=True, pause_mode="graceful", paused_by="bob")
    JobTypeState.objects.create(name="was.paused.once")  # resumed since: still a known name

    rows = rows_of(admin_client)
    assert {ODD_NAME, "gone.job", "was.paused.once"} <= set(rows)
    assert rows[ODD_NAME].counts == {"failed": 1} and not rows[ODD_NAME].registered
    assert rows["gone.job"].drain == "paused — drained"
    assert not rows["was.paused.once"].paused
    assert "not registered in this process" in row_html(admin_client, "gone.job")

    # The name's link is quoted, and leads to exactly its jobs.
    jobs_url = rows[ODD_NAME].jobs_url
    assert jobs_url == f"{reverse(JOBS)}?name=legacy%3Abilling.v2%7Cinvoice%2Fsend+%2541"
    listed = admin_client.get(jobs_url)
    assert listed.status_code == 200
    assert [job.pk for job in listed.context["cl"].result_list] == [odd.pk]


def test_the_last_error_is_the_newest_failures_first_line_linked_to_its_job(admin_client: Client) -> None:
    now = timezone.now()
    JobFactory(
        name="demo.flaky",
        failed=True,
        last_error="RuntimeError: an old failure",
        finished_at=now - timedelta(hours=1),
    )
    newest = JobFactory(
        name="demo.flaky",
        failed=True,
        last_error="\nValueError: card declined\n\nTraceback (most recent call last):\n  ...",
        finished_at=now,
    )
    JobFactory(name="demo.flaky", completed=True)  # a later success does not hide the last error
    long_line = "KeyError: " + "k" * 500
    JobFactory(name="demo.long_error", failed=True, last_error=long_line + "\nTraceback ...")
    JobFactory(name="demo.echo", failed=True, last_error="")

    rows = rows_of(admin_client)
    last = rows["demo.flaky"].last_error
    assert last is not None
    assert (last.job_id, last.first_line) == (newest.pk, "ValueError: card declined")
    html = row_html(admin_client, "demo.flaky")
    link = reverse("admin:durable_jobs_job_change", args=[newest.pk])
    assert f'<a href="{link}" title="ValueError: card declined">ValueError: card declined</a>' in html
    assert "Traceback" not in html and "an old failure" not in html

    cut = rows["demo.long_error"].last_error
    assert cut is not None and cut.short == long_line[:MAX_ERROR_CHARS_SHOWN] + "…"
    assert cut.short in row_html(admin_client, "demo.long_error")
    assert rows["demo.echo"].last_error is not None
    assert rows["demo.echo"].last_error.first_line == "(no error message)"
    assert rows["demo.add"].last_error is None
    assert first_line("  \n  RuntimeError: x  \nmore") == "RuntimeError: x"


# --------------------------------------------------------------------------- pause and resume


def test_pause_a_job_type_aggressively_with_reason_and_until_then_resume(admin_client: Client) -> None:
    running = JobFactory(name="demo.limited", running=True)
    pending = JobFactory(name="demo.limited")
    other = JobFactory(name="demo.add", running=True)

    data = {"name": "demo.limited", "mode": "aggressive", "reason": "API quota hit", "until": "30"}
    response = post(admin_client, operate("pause"), data)
    assert redirected_to(response) == reverse(JOB_TYPES)
    assert messages_of(response) == [("success", "Job type 'demo.limited' paused (aggressive).")]
    state = JobTypeState.objects.get(name="demo.limited")
    assert (state.paused, state.pause_mode, state.reason, state.paused_by) == (
        True,
        "aggressive",
        "API quota hit",
        "admin",
    )
    assert state.paused_until is not None
    assert abs((state.paused_until - timezone.now()) - timedelta(minutes=30)) < timedelta(minutes=1)
    assert Job.objects.get(pk=running.pk).status == Status.PENDING  # taken back
    assert Job.objects.get(pk=pending.pk).status == Status.PENDING
    assert Job.objects.get(pk=other.pk).status == Status.RUNNING  # another type: untouched

    html = row_html(admin_client, "demo.limited")
    assert "paused — drained" in html and "aggressive by admin" in html
    assert "API quota hit" in html and "auto-resumes in" in html
    assert 'action="' + operate("resume") + '"' in html and ">Pause</button>" not in html

    resumed = post(admin_client, operate("resume"), {"name": "demo.limited"})
    assert messages_of(resumed) == [("success", "Job type 'demo.limited' resumed.")]
    state.refresh_from_db()
    assert (state.paused, state.pause_mode, state.reason, state.paused_until) == (False, "", "", None)
    assert "djj-active" in row_html(admin_client, "demo.limited")


def test_a_graceful_pause_lets_running_jobs_finish(admin_client: Client) -> None:
    running = JobFactory(name="demo.per_customer", running=True, kwargs={"customer_id": 1})
    response = post(admin_client, operate("pause"), {"name": "demo.per_customer", "mode": "graceful"})
    assert messages_of(response) == [("success", "Job type 'demo.per_customer' paused (graceful).")]
    assert Job.objects.get(pk=running.pk).status == Status.RUNNING
    state = JobTypeState.objects.get(name="demo.per_customer")
    assert (state.pause_mode, state.paused_until, state.reason) == ("graceful", None, "")
    assert "paused — 1 still running" in row_html(admin_client, "demo.per_customer")


def test_a_name_of_any_characters_travels_as_post_data(admin_client: Client) -> None:
    JobFactory(name=ODD_NAME)
    response = post(admin_client, operate("pause"), {"name": ODD_NAME, "reason": "legacy"})
    assert messages_of(response) == [("success", f"Job type {ODD_NAME!r} paused (graceful).")]
    assert JobTypeState.objects.get(name=ODD_NAME).paused
    assert f'<input type="hidden" name="name" value="{ODD_NAME}">' in row_html(admin_client, ODD_NAME)
    assert post(admin_client, operate("resume"), {"name": ODD_NAME}).status_code == 200
    assert not JobTypeState.objects.get(name=ODD_NAME).paused


# --------------------------------------------------------------------------- refusals


def test_already_paused_and_not_paused_are_messages(admin_client: Client) -> None:
    pause_job_type("demo.add", "graceful", by="bob", reason="first")
    before = states()
    again = post(admin_client, operate("pause"), {"name": "demo.add", "mode": "aggressive"})
    assert redirected_to(again) == reverse(JOB_TYPES)
    assert messages_of(again) == [("error", "job type 'demo.add' is already paused")]
    assert states() == before

    not_paused = post(admin_client, operate("resume"), {"name": "demo.noop"})
    assert messages_of(not_paused) == [("error", "job type 'demo.noop' is not paused")]
    assert states() == before


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "demo.add", "reason": "bad\x00reason"}, "reason: 'bad\\x00reason'"),
        ({"name": "demo.add", "until": "soon"}, "until: 'soon' is not a number of minutes"),
        ({"name": "demo.add", "until": "-5"}, "until: '-5' minutes is outside 0 (exclusive).."),
        ({"name": "demo.add", "until": "nan"}, "until: 'nan' minutes is outside 0 (exclusive).."),
        ({"name": "demo.add", "until": "1e9"}, "until: '1e9' minutes is outside 0 (exclusive).."),
        ({"name": "demo.add", "until": "5\x00"}, "until: '5\\x00'"),
        ({"name": "demo.add", "mode": "gentle"}, "mode: 'gentle' is not 'graceful' or 'aggressive'"),
        ({"name": ""}, "name: must not be empty"),
        ({}, "name: must not be empty"),
        ({"name": "demo\x00add"}, "name: 'demo\\x00add'"),
        ({"name": "n" * 300}, "name: 'nnnn"),
    ],
)
def test_the_pause_form_refuses_bad_values_with_nothing_written(
    admin_client: Client, data: dict[str, str], message: str
) -> None:
    running = JobFactory(name="demo.add", running=True)
    before, jobs_before = states(), job_statuses()
    response = post(admin_client, operate("pause"), {"mode": "aggressive", **data})
    assert redirected_to(response) == reverse(JOB_TYPES)
    [(level, text)] = messages_of(response)
    assert level == "error" and text.startswith(message), text
    assert states() == before and job_statuses() == jobs_before
    assert Job.objects.get(pk=running.pk).status == Status.RUNNING


@pytest.mark.parametrize("name", ["\x00", "n" * 300, ""])
def test_the_resume_form_refuses_bad_names(admin_client: Client, name: str) -> None:
    before = states()
    response = post(admin_client, operate("resume"), {"name": name})
    [(level, _)] = messages_of(response)
    assert level == "error"
    assert states() == before


def test_an_unknown_action_is_a_404_and_a_get_changes_nothing(admin_client: Client) -> None:
    assert admin_client.post(operate("explode"), {"name": "demo.add"}).status_code == 404
    assert admin_client.get(operate("pause") + "?name=demo.add").status_code == 405
    assert admin_client.get(operate("resume") + "?name=demo.add").status_code == 405
    assert states() == []


@pytest.mark.parametrize("name", ["demo.add", ODD_NAME, "\x00", "n" * 300])
def test_state_rows_have_no_page_of_their_own(admin_client: Client, name: str) -> None:
    JobTypeState.objects.create(name="demo.add")
    for tail in ("", "change/", "history/", "delete/"):
        url = reverse(JOB_TYPES) + quote(name) + "/" + tail
        assert admin_client.get(url)["Location"] == reverse(JOB_TYPES), url
    change = reverse(JOB_TYPES) + quote(name) + "/change/"
    assert admin_client.post(change, {"paused": "on"})["Location"] == reverse(JOB_TYPES)
    assert admin_client.get(reverse(JOB_TYPES) + "add/")["Location"] == reverse(JOB_TYPES)
    assert not JobTypeState.objects.filter(paused=True).exists()


def test_no_hostile_request_is_a_500(admin_client: Client) -> None:
    JobFactory(name="demo.add", failed=True)
    base = reverse(JOB_TYPES)
    failures = [no_500(admin_client, "get", f"{base}?{query}") for query in HOSTILE_QUERIES]
    for value in HOSTILE_IDS + ["1e300", "-inf", "1e-300", "0x10", "١", ODD_NAME]:
        failures.append(no_500(admin_client, "get", f"{base}{quote(value)}/change/"))
        for action in ("pause", "resume", "zzz"):
            for data in (
                {"name": value},
                {"name": "demo.add", "until": value, "reason": value, "mode": value},
            ):
                failures.append(no_500(admin_client, "post", operate(action), data))
    assert [f for f in failures if f] == []
    # Each name a pause accepted was resumed by the next request.
    assert not JobTypeState.objects.filter(paused=True).exists()


# --------------------------------------------------------------------------- permissions and CSRF


def test_staff_without_change_permission_sees_no_buttons_and_cannot_post(viewer: Client) -> None:
    JobFactory(name="demo.add", running=True)
    pause_job_type("demo.noop", by="bob")
    before, jobs_before = states(), job_statuses()

    page = viewer.get(reverse(JOB_TYPES))
    assert page.status_code == 200 and not page.context["can_operate"]
    html = page.content.decode()
    assert 'data-name="demo.add"' in html and "paused — drained" in html
    assert "/operate/" not in html and "<form" not in html.split('id="changelist"')[1]
    assert "Pause</button>" not in html and "Resume</button>" not in html

    assert viewer.post(operate("pause"), {"name": "demo.add", "mode": "aggressive"}).status_code == 403
    assert viewer.post(operate("resume"), {"name": "demo.noop"}).status_code == 403
    assert states() == before and job_statuses() == jobs_before


def test_staff_without_view_permission_is_refused(client: Client) -> None:
    user = User.objects.create_user("nobody", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(reverse(JOB_TYPES)).status_code == 403
    assert client.post(operate("pause"), {"name": "demo.add"}).status_code == 403
    assert states() == []


def test_change_permission_alone_is_enough_to_operate(client: Client) -> None:
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="change_jobtypestate"))
    client.force_login(user)
    assert rows_of(client)["demo.add"].counts == {}
    response = post(client, operate("pause"), {"name": "demo.add"})
    assert messages_of(response) == [("success", "Job type 'demo.add' paused (graceful).")]
    assert JobTypeState.objects.get(name="demo.add").paused_by == "operator"


def test_a_post_without_csrf_token_is_refused_and_the_page_token_works(csrf_client: Client) -> None:
    assert csrf_client.post(operate("pause"), {"name": "demo.add"}).status_code == 403
    assert states() == []
    page = csrf_client.get(reverse(JOB_TYPES)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    data = {"csrfmiddlewaretoken": token.group(1), "name": "demo.add", "mode": "graceful"}
    assert csrf_client.post(operate("pause"), data).status_code == 302
    assert JobTypeState.objects.get(name="demo.add").paused
