"""The admin under hostile and careless input (issue 11): an error message, a
redirect or a 404, never a 500, and nothing written; the same on SQLite and
PostgreSQL. Also large and deeply nested values: shown shortened, downloadable
whole.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.db import DataError, connection
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from django_durable_jobs.admin.job_page import JOB_ACTIONS
from django_durable_jobs.admin.values import MAX_SHOWN_CHARS
from django_durable_jobs.models import Job, QueueState, Status, Worker

from ..factories import CheckpointFactory, JobFactory, QueueStateFactory
from .test_admin import JOBS, QUEUES, WORKER, WORKERS, messages_of, post, redirected_to, web_1

pytestmark = pytest.mark.django_db

NUL_STORED = "contains a NUL character, which the database cannot store"
MAX_JOB_ID = 2**63 - 1
HUGE = "99999999999999999999999"

#: Job ids no job can have, and what the admin says of them.
BAD_JOB_IDS = [
    ("abc", "job_id: 'abc' is not a job id (a positive integer)"),
    ("\x00", "job_id: '\\x00' is not a job id (a positive integer)"),
    ("²", "job_id: '²' is not a job id (a positive integer)"),
    ("-1", "job_id: '-1' is not a job id (a positive integer)"),
    ("0", f"job_id: 0 is not a job id (ids are 1..{MAX_JOB_ID})"),
    ("9" * 30, f"job_id: {'9' * 30} is not a job id (ids are 1..{MAX_JOB_ID})"),
]
#: Worker ids no worker can have.
BAD_WORKER_IDS = [
    ("\x00", f"worker_id: '\\x00' {NUL_STORED}"),
    ("w" * 300, f"worker_id: {'w' * 40!r}… (300 characters) is longer than 200 characters"),
]


def rows() -> tuple[list[dict[str, Any]], ...]:
    """Every job, queue state and worker row, to show that a refused request wrote nothing."""
    return (
        list(Job.objects.order_by("pk").values()),
        list(QueueState.objects.order_by("pk").values()),
        list(Worker.objects.order_by("pk").values()),
    )


@pytest.fixture
def world() -> dict[str, Any]:
    """A pending job, a paused one, a queue that was paused once and a live worker."""
    return {
        "job": JobFactory(queue="emails"),
        "paused": JobFactory(paused=True),
        "queue": QueueStateFactory(queue="emails"),
        "worker": web_1(alive=True),
    }


def ids_listed(response: HttpResponse) -> set[int]:
    return {job.pk for job in response.context["cl"].result_list}


def change_url(job: Job) -> str:
    return reverse("admin:durable_jobs_job_change", args=[job.pk])


def download_url(job_id: Any, field: str) -> str:
    return reverse("admin:durable_jobs_job_download", args=[quote(str(job_id)), field])


# --------------------------------------------------------------------------- job list search


@pytest.mark.parametrize("term", ["²", "①", "1²", "٣", HUGE, "9" * 30, "-5", "0", "#"])
def test_a_search_that_is_no_job_id_searches_names_only(admin_client: Client, term: str) -> None:
    named = JobFactory(name=f"demo.x{term}")
    JobFactory(name="demo.other")
    response = admin_client.get(reverse(JOBS), {"q": term})
    assert response.status_code == 200
    assert ids_listed(response) == {named.pk}
    assert messages_of(response) == []


def test_a_search_by_id_still_finds_the_job(admin_client: Client) -> None:
    job = JobFactory()
    for term in (str(job.pk), f"#{job.pk}", f" {job.pk} "):
        assert ids_listed(admin_client.get(reverse(JOBS), {"q": term})) == {job.pk}, term


# --------------------------------------------------------------------------- list query strings

JOB_FILTERS = "fanout__id, id, name, queue, schedule, status, unique_key, worker_id"


@pytest.mark.parametrize(
    "query, message",
    [
        ({"q": "a\x00b"}, f"search: 'a\\x00b' {NUL_STORED}"),
        (
            {"q": "ab " * 100},
            f"search: {('ab ' * 14)[:40]!r}… (300 characters) is longer than 255 characters",
        ),
        ({"queue": "\x00"}, f"queue: '\\x00' {NUL_STORED}"),
        ({"queue__exact": "a\x00"}, f"queue__exact: 'a\\x00' {NUL_STORED}"),
        ({"name": "x\x00"}, f"name: 'x\\x00' {NUL_STORED}"),
        ({"worker_id": "\x00"}, f"worker_id: '\\x00' {NUL_STORED}"),
        ({"\x00": "1"}, f"parameter name: '\\x00' {NUL_STORED}"),
        ({"args__contains": "1"}, f"'args__contains' is not a filter of this list (filters: {JOB_FILTERS})"),
        ({"name__regex": "["}, f"'name__regex' is not a filter of this list (filters: {JOB_FILTERS})"),
        (
            {"created_at__year": "9" * 11},
            f"'created_at__year' is not a filter of this list (filters: {JOB_FILTERS})",
        ),
        ({"id": "abc"}, "The list's filters were reset: Field 'id' expected a number but got 'abc'."),
        (
            {"fanout__id__exact": "x"},
            "The list's filters were reset: Field 'id' expected a number but got 'x'.",
        ),
    ],
)
def test_the_job_list_refuses_what_it_cannot_filter_by(
    admin_client: Client, query: dict[str, str], message: str
) -> None:
    JobFactory()
    before = rows()
    response = admin_client.get(reverse(JOBS), query, follow=True)
    assert response.status_code == 200
    assert redirected_to(response) == reverse(JOBS)
    assert messages_of(response) == [("error", message)]
    assert rows() == before


def test_a_refused_parameter_leaves_the_others(admin_client: Client) -> None:
    pending, _ = JobFactory(), JobFactory(paused=True)
    response = admin_client.get(reverse(JOBS), {"status__exact": "pending", "queue": "\x00"}, follow=True)
    assert redirected_to(response) == reverse(JOBS) + "?status__exact=pending"
    assert messages_of(response) == [("error", f"queue: '\\x00' {NUL_STORED}")]
    assert ids_listed(response) == {pending.pk}


def test_a_page_past_the_last_leads_to_the_first(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin.site._registry[Job], "list_per_page", 1)
    JobFactory.create_batch(3)
    response = admin_client.get(reverse(JOBS), {"status__exact": "pending", "p": "5"}, follow=True)
    assert redirected_to(response) == reverse(JOBS) + "?status__exact=pending"
    assert messages_of(response) == [("error", "page '5' does not exist")]
    assert len(ids_listed(response)) == 1


def test_a_filter_only_the_database_refuses_is_reported(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last line of defence: a ``DataError`` while counting the rows becomes a message,
    and the transaction stays usable (the count runs in a savepoint)."""
    JobFactory()
    job_admin = admin.site._registry[Job]
    search = job_admin.get_search_results

    def refused(request: Any, queryset: Any, term: str) -> Any:
        if term == "refused":
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 / 0")  # PostgreSQL: DataError, division by zero
            raise DataError("division by zero\nDETAIL: SQLite returns NULL")
        return search(request, queryset, term)

    monkeypatch.setattr(job_admin, "get_search_results", refused)
    response = admin_client.get(reverse(JOBS), {"q": "refused", "status__exact": "pending"}, follow=True)
    assert redirected_to(response) == reverse(JOBS)
    message = "The list's filters were reset: the database refused them (division by zero)"
    assert messages_of(response) == [("error", message)]
    assert Job.objects.count() == 1


@pytest.mark.parametrize(
    "query",
    [
        {"status": "zzz"},
        {"status__exact": "zzz"},
        {"queue": "q" * 300},
        {"o": "99"},
        {"o": "abc"},
        {"o": "-.1.x"},
        {"p": "abc"},
        {"p": "-1"},
        {"id": HUGE},
        {"fanout__id__exact": HUGE},
        {"status__isnull": "maybe"},
        {"all": ""},
        {"e": "1"},
    ],
)
def test_odd_but_harmless_job_list_parameters_show_the_list(
    admin_client: Client, query: dict[str, str]
) -> None:
    JobFactory()
    response = admin_client.get(reverse(JOBS), query)
    assert response.status_code == 200
    assert messages_of(response) == []


WORKER_FILTERS = "alive, host, id, paused"


@pytest.mark.parametrize(
    "query, message",
    [
        ({"q": "\x00"}, f"search: '\\x00' {NUL_STORED}"),
        ({"host": "\x00"}, f"host: '\\x00' {NUL_STORED}"),
        ({"id__regex": "["}, f"'id__regex' is not a filter of this list (filters: {WORKER_FILTERS})"),
        (
            {"paused__exact": "maybe"},
            "The list's filters were reset: “maybe” value must be either True or False.",
        ),
    ],
)
def test_the_workers_list_refuses_what_it_cannot_filter_by(
    admin_client: Client, query: dict[str, str], message: str
) -> None:
    web_1()
    before = rows()
    response = admin_client.get(reverse(WORKERS), query, follow=True)
    assert response.status_code == 200
    assert redirected_to(response) == reverse(WORKERS)
    assert messages_of(response) == [("error", message)]
    assert rows() == before


@pytest.mark.parametrize("query", [{"alive": "maybe"}, {"paused__exact": "1"}, {"o": "99"}, {"p": "zz"}])
def test_odd_but_harmless_workers_list_parameters_show_the_list(
    admin_client: Client, query: dict[str, str]
) -> None:
    web_1()
    response = admin_client.get(reverse(WORKERS), query)
    assert response.status_code == 200
    assert messages_of(response) == []


# --------------------------------------------------------------------------- object pages


@pytest.mark.parametrize("page", ["change", "history", "delete"])
@pytest.mark.parametrize("object_id, message", BAD_JOB_IDS)
def test_a_job_page_for_an_id_no_job_can_have(
    admin_client: Client, page: str, object_id: str, message: str
) -> None:
    JobFactory()
    response = admin_client.get(
        reverse(f"admin:durable_jobs_job_{page}", args=[quote(object_id)]), follow=True
    )
    assert response.status_code == 200
    assert redirected_to(response) == reverse(JOBS)
    assert messages_of(response) == [("error", message)]


@pytest.mark.parametrize("page", ["change", "history", "delete"])
@pytest.mark.parametrize("object_id, message", BAD_WORKER_IDS)
def test_a_worker_page_for_an_id_no_worker_can_have(
    admin_client: Client, page: str, object_id: str, message: str
) -> None:
    web_1()
    url = reverse(f"admin:durable_jobs_worker_{page}", args=[quote(object_id)])
    response = admin_client.get(url, follow=True)
    assert response.status_code == 200
    assert redirected_to(response) == reverse(WORKERS)
    assert messages_of(response) == [("error", message)]


@pytest.mark.parametrize("queue", ["\x00", "q" * 300, "a:b"])
def test_a_queue_page_for_a_name_no_queue_can_have_leads_to_the_queues(
    admin_client: Client, queue: str
) -> None:
    url = reverse("admin:durable_jobs_queuestate_change", args=[quote(queue)])
    response = admin_client.get(url)
    assert (response.status_code, response["Location"]) == (302, reverse(QUEUES))


# --------------------------------------------------------------------------- buttons


@pytest.mark.parametrize("action", list(JOB_ACTIONS))
@pytest.mark.parametrize("object_id, message", BAD_JOB_IDS)
def test_a_job_button_for_an_id_no_job_can_have(
    admin_client: Client, world: dict[str, Any], action: str, object_id: str, message: str
) -> None:
    before = rows()
    url = reverse("admin:durable_jobs_job_operate", args=[quote(object_id), action])
    response = post(admin_client, url, {"mode": "graceful", "reason": "x"})
    assert response.status_code == 200
    assert redirected_to(response) == reverse(JOBS)
    assert messages_of(response) == [("error", message)]
    assert rows() == before


@pytest.mark.parametrize(
    "data, message",
    [
        ({"reason": "a\x00b"}, f"reason: 'a\\x00b' {NUL_STORED}"),
        ({"mode": "\x00"}, "mode: '\\x00' is not 'graceful' or 'aggressive'"),
        ({"mode": "m" * 1000}, f"mode: {'m' * 40!r}… (1,000 characters) is not 'graceful' or 'aggressive'"),
    ],
)
def test_the_job_pause_form_refuses_what_the_database_cannot_store(
    admin_client: Client, world: dict[str, Any], data: dict[str, str], message: str
) -> None:
    job = world["job"]
    before = rows()
    response = post(admin_client, reverse("admin:durable_jobs_job_operate", args=[job.pk, "pause"]), data)
    assert redirected_to(response) == change_url(job)
    assert messages_of(response) == [("error", message)]
    assert rows() == before


UNTIL_RANGE = "0 (exclusive)..527,040 (a year)"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"queue": "a\x00b"}, f"queue: 'a\\x00b' {NUL_STORED}"),
        ({"queue": "q" * 300}, f"queue: {'q' * 40!r}… (300 characters) is longer than 100 characters"),
        ({"queue": "a:b"}, "queue: 'a:b' may not contain ':' or ',' or surrounding spaces"),
        ({"queue": ""}, "queue: must not be empty"),
        ({"queue": "emails", "reason": "stop\x00"}, f"reason: 'stop\\x00' {NUL_STORED}"),
        ({"queue": "emails", "mode": "\x00"}, "mode: '\\x00' is not 'graceful' or 'aggressive'"),
        ({"queue": "emails", "until": "soon"}, "until: 'soon' is not a number of minutes"),
        ({"queue": "emails", "until": "\x00"}, f"until: '\\x00' {NUL_STORED}"),
        ({"queue": "emails", "until": "1e300"}, f"until: '1e300' minutes is outside {UNTIL_RANGE}"),
        (
            {"queue": "emails", "until": "99999999999"},
            f"until: '99999999999' minutes is outside {UNTIL_RANGE}",
        ),
        ({"queue": "emails", "until": "-5"}, f"until: '-5' minutes is outside {UNTIL_RANGE}"),
        ({"queue": "emails", "until": "0"}, f"until: '0' minutes is outside {UNTIL_RANGE}"),
        ({"queue": "emails", "until": "nan"}, f"until: 'nan' minutes is outside {UNTIL_RANGE}"),
        ({"queue": "emails", "until": "inf"}, f"until: 'inf' minutes is outside {UNTIL_RANGE}"),
    ],
)
def test_the_queue_pause_form_refuses_bad_values(
    admin_client: Client, world: dict[str, Any], data: dict[str, str], message: str
) -> None:
    before = rows()
    response = post(admin_client, reverse("admin:durable_jobs_queuestate_operate", args=["pause"]), data)
    assert redirected_to(response) == reverse(QUEUES)
    assert messages_of(response) == [("error", message)]
    assert rows() == before


@pytest.mark.parametrize(
    "queue, message",
    [
        ("\x00", f"queue: '\\x00' {NUL_STORED}"),
        ("q" * 300, f"queue: {'q' * 40!r}… (300 characters) is longer than 100 characters"),
    ],
)
def test_the_queue_resume_form_refuses_bad_names(
    admin_client: Client, world: dict[str, Any], queue: str, message: str
) -> None:
    before = rows()
    response = post(
        admin_client, reverse("admin:durable_jobs_queuestate_operate", args=["resume"]), {"queue": queue}
    )
    assert messages_of(response) == [("error", message)]
    assert rows() == before


@pytest.mark.parametrize("action", ["pause", "resume"])
@pytest.mark.parametrize("object_id, message", BAD_WORKER_IDS)
def test_a_worker_button_for_an_id_no_worker_can_have(
    admin_client: Client, world: dict[str, Any], action: str, object_id: str, message: str
) -> None:
    before = rows()
    response = post(
        admin_client, reverse("admin:durable_jobs_worker_operate", args=[quote(object_id), action])
    )
    assert redirected_to(response) == reverse(WORKERS)
    assert messages_of(response) == [("error", message)]
    assert rows() == before


@pytest.mark.parametrize(
    "data, message",
    [
        ({"reason": "\x00"}, f"reason: '\\x00' {NUL_STORED}"),
        ({"mode": "rough"}, "mode: 'rough' is not 'graceful' or 'aggressive'"),
    ],
)
def test_the_worker_pause_button_refuses_bad_values(
    admin_client: Client, world: dict[str, Any], data: dict[str, str], message: str
) -> None:
    before = rows()
    response = post(
        admin_client, reverse("admin:durable_jobs_worker_operate", args=[quote(WORKER), "pause"]), data
    )
    assert messages_of(response) == [("error", message)]
    assert rows() == before


@pytest.mark.parametrize(
    "object_id, message", [(i, m) for i, m in BAD_JOB_IDS if i not in ("0",)] + [(HUGE, "")]
)
def test_a_bulk_action_naming_a_row_no_job_can_be(
    admin_client: Client, world: dict[str, Any], object_id: str, message: str
) -> None:
    before = rows()
    selected = [str(world["job"].pk), object_id]
    response = post(
        admin_client, reverse(JOBS), {"action": "cancel", "index": "0", "_selected_action": selected}
    )
    assert redirected_to(response) == reverse(JOBS)
    message = message or f"job_id: {HUGE} is not a job id (ids are 1..{MAX_JOB_ID})"
    assert messages_of(response) == [("error", f"No action taken: {message}")]
    assert rows() == before


@pytest.mark.parametrize(
    "data", [{"action": "\x00"}, {"action": "explode"}, {"action": "\x00", "index": "x"}]
)
def test_a_bulk_action_that_is_no_action_changes_nothing(
    admin_client: Client, world: dict[str, Any], data: dict[str, str]
) -> None:
    before = rows()
    response = post(admin_client, reverse(JOBS), {"_selected_action": [str(world["job"].pk)], **data})
    assert response.status_code == 200
    assert messages_of(response) == [("warning", "No action selected.")]
    assert rows() == before


# --------------------------------------------------------------------------- large values


def store_json_text(job: Job, field: str, text: str) -> None:
    """Write ``text`` into a JSON column as it is, as a row stored before the limits existed."""
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE durable_jobs_job SET {field} = %s{cast} WHERE id = %s", [text, job.pk])


def test_a_10_mb_argument_shows_shortened_with_a_link_to_all_of_it(admin_client: Client) -> None:
    big = "x" * 10_000_000
    job = JobFactory(args=[big], kwargs={"note": "small"})
    page = admin_client.get(change_url(job))
    assert page.status_code == 200
    html = page.content.decode()
    assert len(html) < 100_000
    assert "Shortened: the whole is 10,000,004 characters of JSON." in html
    assert f'<a href="{download_url(job.pk, "args")}" download>Download it as JSON</a>' in html
    assert "{\n  &quot;note&quot;: &quot;small&quot;\n}" in html  # small values in full, indented
    assert download_url(job.pk, "kwargs") not in html

    download = admin_client.get(download_url(job.pk, "args"))
    assert download.status_code == 200
    assert download["Content-Type"] == "application/json"
    assert download["Content-Disposition"] == f'attachment; filename="job-{job.pk}-args.json"'
    assert json.loads(download.content) == [big]

    listed = admin_client.get(reverse(JOBS))
    assert listed.status_code == 200
    assert len(listed.content) < 100_000


@pytest.mark.parametrize("deepest", [False, True], ids=["900 levels", "as deep as the database takes"])
def test_deeply_nested_values_stored_before_the_limits_still_show(
    admin_client: Client, deepest: bool
) -> None:
    # SQLite's json_valid() refuses 1,000 levels or more; jsonb takes thousands.
    depth = (5000 if connection.vendor == "postgresql" else 999) if deepest else 900
    job = JobFactory(completed=True)
    nested = "[" * depth + "]" * depth
    store_json_text(job, "args", nested)
    store_json_text(job, "result", json.dumps({"a": json.loads("[" * 10 + "]" * 10)}))
    page = admin_client.get(change_url(job))
    assert page.status_code == 200
    assert "[[[[[[[[[[" in page.content.decode()
    assert admin_client.get(reverse(JOBS)).status_code == 200
    download = admin_client.get(download_url(job.pk, "args"))
    assert download.content.decode().replace(" ", "") == nested


def test_a_long_traceback_shows_its_start_and_end(admin_client: Client) -> None:
    error = "Traceback (most recent call last):\n" + '  File "x.py", line 1\n' * 5000 + "ValueError: boom"
    job = JobFactory(failed=True, last_error=error)
    html = admin_client.get(change_url(job)).content.decode()
    assert "Traceback (most recent call last):" in html
    assert "ValueError: boom" in html
    assert "characters not shown" in html
    assert f"Shortened: the whole is {len(error):,} characters." in html
    assert len(html) < 60_000
    download = admin_client.get(download_url(job.pk, "last_error"))
    assert json.loads(download.content) == error


def test_short_values_show_whole(admin_client: Client) -> None:
    error = "E" * MAX_SHOWN_CHARS
    job = JobFactory(failed=True, last_error=error, result=None)
    html = admin_client.get(change_url(job)).content.decode()
    assert error in html
    assert "Shortened" not in html
    assert '<pre class="djj-pre">null</pre>' in html
    assert json.loads(admin_client.get(download_url(job.pk, "result")).content) is None


def test_a_large_checkpoint_value_shows_shortened(admin_client: Client) -> None:
    checkpoint = CheckpointFactory(value="y" * 50_000)
    html = admin_client.get(change_url(checkpoint.job)).content.decode()
    assert "Shortened: the whole is 50,002 characters of JSON." in html
    assert len(html) < 60_000


def test_a_long_pause_reason_is_cut_in_the_list(admin_client: Client) -> None:
    JobFactory(paused=True, pause_mode="graceful", paused_by="", pause_reason="r" * 5000)
    html = admin_client.get(reverse(JOBS)).content.decode()
    assert f"graceful: {'r' * 80}…" in html
    assert "r" * 81 not in html


@pytest.mark.parametrize(
    "object_id, field",
    [("1", "status"), ("1", "zzz"), ("abc", "args"), ("\x00", "args"), (HUGE, "args"), ("999", "args")],
)
def test_a_download_of_nothing_is_a_404(admin_client: Client, object_id: str, field: str) -> None:
    JobFactory(id=1)
    assert admin_client.get(download_url(object_id, field)).status_code == 404


def test_a_download_needs_the_view_permission(client: Client) -> None:
    job = JobFactory(args=[1, 2])
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(download_url(job.pk, "args")).status_code == 403
    user.user_permissions.set(Permission.objects.filter(codename="view_job"))
    assert json.loads(client.get(download_url(job.pk, "args")).content) == [1, 2]


# --------------------------------------------------------------------------- fuzz

HOSTILE_IDS = [
    "\x00",
    "abc",
    "-1",
    "0",
    HUGE,
    "9" * 30,
    "²",
    "①",
    "w" * 300,
    "a/b",
    "_00",
    "%00",
    " 1",
    "1.5",
]
HOSTILE_QUERIES = [
    "q=%00",
    "q=%C2%B2",
    "q=1%C2%B2",
    "q=" + "a+" * 2000,
    "p=-1",
    f"p={HUGE}",
    "p=%00",
    "o=99",
    "o=-",
    "o=1.%00",
    "all=",
    "_to_field=%00",
    "_popup=1",
    "e=1",
    "%00=1",
    "status=zzz",
    "status__exact=%00",
    "queue__in=a,b",
    f"id__gt={HUGE}",
    f"id={HUGE}",
    "args__contains=1",
    "name__regex=%5B",
    "alive=maybe",
    "paused__exact=zzz",
    "host__isnull=maybe",
    "fanout__id__exact=abc",
    "id=abc",
    "pk=%00",
    "_changelist_filters=%00",
]


def no_500(client: Client, method: str, url: str, data: dict[str, Any] | None = None) -> str | None:
    """What went wrong if ``url`` is a 500 or raises, else None."""
    try:
        response = getattr(client, method)(url, data or {})
    except Exception as exc:  # the test client re-raises the view's exception
        return f"{method.upper()} {url!r}: {type(exc).__name__}: {exc}"
    if response.status_code >= 500:
        return f"{method.upper()} {url!r}: {response.status_code}"
    return None


@pytest.mark.parametrize("model", ["job", "worker", "queuestate"])
def test_no_list_query_string_is_a_500(admin_client: Client, world: dict[str, Any], model: str) -> None:
    url = reverse(f"admin:durable_jobs_{model}_changelist")
    failures = [no_500(admin_client, "get", f"{url}?{query}") for query in HOSTILE_QUERIES]
    assert [f for f in failures if f] == []


@pytest.mark.parametrize("model", ["job", "worker", "queuestate"])
def test_no_object_url_is_a_500(admin_client: Client, world: dict[str, Any], model: str) -> None:
    base = reverse(f"admin:durable_jobs_{model}_changelist")
    failures = []
    for object_id in HOSTILE_IDS:
        for tail in ("", "change/", "history/", "delete/", "download/args/", "download/zzz/"):
            failures.append(no_500(admin_client, "get", f"{base}{quote(object_id)}/{tail}"))
        for action in ("pause", "resume", "cancel", "retry", "zzz"):
            url = f"{base}{quote(object_id)}/operate/{action}/"
            failures.append(no_500(admin_client, "get", url))
            failures.append(no_500(admin_client, "post", url, {"reason": "\x00", "mode": "\x00"}))
        failures.append(no_500(admin_client, "post", f"{base}{quote(object_id)}/change/", {"name": "\x00"}))
    assert [f for f in failures if f] == []


def test_no_bulk_action_post_is_a_500(admin_client: Client, world: dict[str, Any]) -> None:
    url = reverse(JOBS)
    failures = []
    for object_id in HOSTILE_IDS:
        for action in ("pause_graceful", "resume", "cancel", "retry", "delete_selected", "\x00"):
            data = {"action": action, "index": "0", "_selected_action": [object_id]}
            failures.append(no_500(admin_client, "post", url, data))
            failures.append(
                no_500(admin_client, "post", url, {**data, "select_across": "1", "index": object_id})
            )
    assert [f for f in failures if f] == []
    assert Job.objects.get(pk=world["job"].pk).status == Status.PENDING


def test_no_queue_form_is_a_500(admin_client: Client, world: dict[str, Any]) -> None:
    failures = []
    for action in ("pause", "resume", "zzz"):
        url = reverse("admin:durable_jobs_queuestate_operate", args=[action])
        for value in HOSTILE_IDS + ["1e300", "nan", "-inf", "1e-300", "0x10", "١"]:
            for data in (
                {"queue": value},
                {"queue": "emails", "until": value, "reason": value, "mode": value},
            ):
                failures.append(no_500(admin_client, "post", url, data))
    assert [f for f in failures if f] == []
    assert not QueueState.objects.filter(paused=True).exists()
