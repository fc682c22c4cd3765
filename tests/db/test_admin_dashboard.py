"""The admin's Dashboard page (issue 15, item 4): charts of the per-minute statistics.

Driven with Django's test client on SQLite and PostgreSQL, against
``JobStat`` and ``QueueSample`` rows written here (the worker's writer is
tested on its own; tests/e2e/test_dashboard_browser.py runs both together).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_durable_jobs import stats
from django_durable_jobs.admin.dashboard import WINDOWS, Timeline, TimeWindow
from django_durable_jobs.models import JobStat, QueueSample, Status

from ..factories import JobFactory, WorkerFactory
from .test_admin import messages_of

pytestmark = pytest.mark.django_db

DASHBOARD = "admin:durable_jobs_jobstat_changelist"
SVG = "{http://www.w3.org/2000/svg}"


def minutes_ago(minutes: int) -> datetime:
    return stats.minute_of(timezone.now() - timedelta(minutes=minutes))


def stat(minutes: int, *, queue: str = "default", name: str = "demo.add", **counts: Any) -> JobStat:
    return JobStat.objects.create(minute=minutes_ago(minutes), queue=queue, name=name, **counts)


def waits(*seconds: float) -> dict[str, Any]:
    """The wait fields of a ``JobStat`` row that saw these waits."""
    rollup = stats.Rollup()
    for value in seconds:
        rollup.observe(value, None)
    return {"wait_count": rollup.wait_count, "wait_buckets": rollup.wait_buckets}


def dashboard(client: Client, **query: str) -> Any:
    response = client.get(reverse(DASHBOARD), query)
    assert response.status_code == 200, response.content[:500]
    return response


def charts_of(response: Any) -> dict[str, ET.Element]:
    """Each chart of the page, parsed: ``{"throughput": <svg>, "wait": …, "depth": …, "slots": …}``."""
    return {key: ET.fromstring(str(svg)) for key, svg in response.context["charts"].items()}


def series(chart: ET.Element) -> dict[str, list[float | None]]:
    return {
        g.get("data-name"): [float(v) if v else None for v in g.get("data-values").split(",")]
        for g in chart.iter(f"{SVG}g")
        if g.get("class") == "djj-series"
    }


@pytest.fixture
def admin_client(client: Client, admin_user: User) -> Client:
    client.force_login(admin_user)
    return client


def staff(client: Client, *codenames: str) -> Client:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


# --------------------------------------------------------------------------- access


def test_the_page_is_linked_from_the_admin_and_needs_view_job(client: Client) -> None:
    url = reverse(DASHBOARD)
    viewer = staff(client, "view_job")
    assert url in viewer.get(reverse("admin:index")).content.decode()
    assert url in viewer.get(reverse("admin:app_list", args=["durable_jobs"])).content.decode()
    assert dashboard(viewer).context["title"] == "Dashboard"

    viewer.user = User.objects.get(username="staff")
    viewer.user.user_permissions.set(Permission.objects.filter(codename="view_jobstat"))
    assert viewer.get(url).status_code == 403
    assert viewer.get(url, {"fragment": "1"}).status_code == 403
    assert url not in viewer.get(reverse("admin:index")).content.decode()


def test_anonymous_users_are_sent_to_the_login(client: Client) -> None:
    response = client.get(reverse(DASHBOARD), {"fragment": "1"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_statistics_rows_have_no_page_of_their_own(admin_client: Client) -> None:
    row = stat(5, completed=1)
    for suffix in (f"{row.pk}/change/", "add/", f"{row.pk}/delete/"):
        response = admin_client.get(reverse(DASHBOARD) + suffix)
        assert (response.status_code, response["Location"]) == (302, reverse(DASHBOARD))


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize(("key", "step", "points"), [("1h", 1, 60), ("24h", 5, 288), ("7d", 60, 168)])
def test_each_window_has_at_most_300_points_of_whole_minutes(key: str, step: int, points: int) -> None:
    window = WINDOWS[key]
    assert (window.step, window.points) == (step, points)
    now = datetime(2026, 12, 1, 14, 7, 31, tzinfo=UTC)
    timeline = Timeline.ending_at(now, window)
    assert timeline.count == points
    assert timeline.start.second == 0 and timeline.start.minute % step == 0
    assert timeline.index(stats.minute_of(now)) == points - 1  # the current minute is the last point
    assert timeline.index(timeline.start - timedelta(minutes=1)) is None
    assert timeline.index(timeline.end) is None


def test_a_longer_window_adds_minutes_up_into_larger_steps() -> None:
    assert TimeWindow("30d", "Last 30 days", 30 * 1440).step == 240
    assert TimeWindow("5h", "Last 5 hours", 300).points == 300


@pytest.mark.parametrize(("key", "completed", "failed"), [("1h", 3, 1), ("24h", 8, 1), ("7d", 15, 3)])
def test_the_window_chooses_which_minutes_count(
    admin_client: Client, key: str, completed: int, failed: int
) -> None:
    stat(10, completed=2, failed=1)
    stat(10, queue="emails", name="demo.email", completed=1)
    stat(3 * 60, completed=5)
    stat(3 * 1440, completed=7, failed=2)
    stat(8 * 1440, completed=100, failed=100)  # older than every window

    response = dashboard(admin_client, window=key)
    assert response.context["window"] == WINDOWS[key]
    assert response.context["totals"] == {"completed": completed, "failed": failed}
    done = series(charts_of(response)["throughput"])
    assert {name: sum(v for v in values if v) for name, values in done.items()} == {
        "completed": completed,
        "failed": failed,
    }
    assert all(len(values) == WINDOWS[key].points for values in done.values())
    page = response.content.decode()
    assert f'<strong data-total="completed">{completed}</strong>' in page


def test_both_queues_of_a_minute_add_up_in_one_point(admin_client: Client) -> None:
    stat(10, completed=2)
    stat(10, queue="emails", name="demo.email", completed=3)
    completed = series(charts_of(dashboard(admin_client))["throughput"])["completed"]
    assert completed[-11] == 5  # ten minutes before the current minute, the last point
    assert sum(v for v in completed if v) == 5


def test_an_unknown_window_is_refused_with_a_message(admin_client: Client) -> None:
    response = admin_client.get(reverse(DASHBOARD), {"window": "2y"}, follow=True)
    assert response.redirect_chain[0][0] == reverse(DASHBOARD)
    assert messages_of(response) == [
        ("error", "Window '2y' is not one of 1h, 24h, 7d: showing the last hour.")
    ]
    fragment = admin_client.get(reverse(DASHBOARD), {"window": "x\x00", "fragment": "1"})
    assert fragment.status_code == 400
    assert fragment.content.decode() == "window 'x\\x00' is not one of 1h, 24h, 7d"
    long = admin_client.get(reverse(DASHBOARD), {"window": "7" * 10_000, "fragment": "1"})
    assert long.status_code == 400 and "(10,000 characters) is not one of" in long.content.decode()


# --------------------------------------------------------------------------- charts


def test_an_empty_database_shows_no_data_states(admin_client: Client) -> None:
    response = dashboard(admin_client, window="7d")
    for key, chart in charts_of(response).items():
        assert "djj-empty" in chart.get("class"), key
    assert "No job failed in this window." in response.content.decode()
    assert "No alive worker" in response.content.decode()


def test_wait_percentiles_are_read_from_the_histograms(admin_client: Client) -> None:
    stat(5, **waits(*[0.2] * 10, 40.0))  # p50 in (0.1, 0.25], p95 in (30, 60]
    stat(5, queue="emails", name="demo.email", **waits(0.2))
    chart = charts_of(dashboard(admin_client))["wait"]
    assert "(s)" in chart.get("aria-label")
    lines = series(chart)
    assert set(lines) == {"p50", "p95"}
    p50, p95 = lines["p50"][-6], lines["p95"][-6]
    assert 0.1 < p50 <= 0.25 and 30 < p95 <= 60
    assert lines["p50"].count(None) == 59  # no waits measured: gaps, not zeros
    week = series(charts_of(dashboard(admin_client, window="7d"))["wait"])  # summed per hour
    assert [0.1 < v <= 0.25 for v in week["p50"] if v is not None] == [True]


def test_short_waits_are_shown_in_milliseconds(admin_client: Client) -> None:
    stat(5, **waits(0.02, 0.03))
    chart = charts_of(dashboard(admin_client))["wait"]
    assert "(ms)" in chart.get("aria-label")
    assert 10 < series(chart)["p50"][-6] <= 50


def test_queue_depth_takes_the_highest_sample_of_each_step(admin_client: Client) -> None:
    for minutes, pending in ((100, 4), (99, 9), (98, 2)):
        QueueSample.objects.create(minute=minutes_ago(minutes), queue="emails", pending=pending)
    QueueSample.objects.create(minute=minutes_ago(98), queue="default", pending=1)
    depth = series(charts_of(dashboard(admin_client, window="24h"))["depth"])
    assert set(depth) == {"default", "emails"}
    assert max(v for v in depth["emails"] if v is not None) == 9
    assert sum(v is not None for v in depth["emails"]) in (1, 2)  # three minutes, one or two 5-minute steps
    assert sum(v is not None for v in depth["default"]) == 1
    week = series(charts_of(dashboard(admin_client, window="7d"))["depth"])
    assert [v for v in week["emails"] if v is not None] in ([9], [4, 9], [9, 2])  # per hour


def test_top_failing_names_with_their_last_error(admin_client: Client) -> None:
    stat(5, name="billing.charge", failed=3)
    stat(6, name="billing.charge", failed=1)
    stat(5, name="<b>mail</b>", failed=1, completed=4)
    stat(5, name="demo.add", completed=9)
    JobFactory(name="billing.charge", status=Status.FAILED, last_error="old error")
    latest = JobFactory(
        name="billing.charge", status=Status.FAILED, last_error="\nCardDeclined: no funds\n  at x"
    )

    response = dashboard(admin_client)
    failing = [(row.name, row.failed) for row in response.context["failing"]]
    assert failing == [("billing.charge", 4), ("<b>mail</b>", 1)]
    charge = response.context["failing"][0]
    assert (charge.last_error.job_id, charge.last_error.first_line) == (latest.pk, "CardDeclined: no funds")
    page = response.content.decode()
    assert "CardDeclined: no funds" in page
    assert "&lt;b&gt;mail&lt;/b&gt;" in page and "<b>mail</b>" not in page
    assert "retried or no longer kept" in page  # no failed job of that name is left


def test_busy_slots_count_running_jobs_of_alive_workers(admin_client: Client) -> None:
    busy = WorkerFactory(id="w-busy", concurrency=4)
    WorkerFactory(id="w-idle", concurrency=2)
    WorkerFactory(id="w-dead", dead=True)
    for _ in range(3):
        JobFactory(running=True, worker_id=busy.pk)
    chart = charts_of(dashboard(admin_client))["slots"]
    bars = [(g.get("data-name"), g.get("data-value"), g.get("data-capacity")) for g in chart.iter(f"{SVG}g")]
    assert bars == [("w-busy", "3", "4"), ("w-idle", "0", "2")]


# --------------------------------------------------------------------------- refresh


def test_the_fragment_is_the_charts_alone(admin_client: Client) -> None:
    stat(5, completed=2)
    page = dashboard(admin_client, window="24h").content.decode()
    assert 'data-fragment-url="/admin/durable_jobs/jobstat/?window=24h&amp;fragment=1"' in page
    assert 'data-refresh-seconds="15"' in page  # a day moves slower than an hour
    assert 'data-refresh-seconds="5"' in dashboard(admin_client).content.decode()
    assert "<script>" in page

    fragment = dashboard(admin_client, window="24h", fragment="1")
    html = fragment.content.decode()
    assert not html.lstrip().startswith("<!DOCTYPE") and "<script" not in html and "<html" not in html
    assert html.count("<svg") == 4 and 'id="failing"' in html
    assert '<strong data-total="completed">2</strong>' in html
    assert fragment["Cache-Control"].startswith("max-age=0") or "no-cache" in fragment["Cache-Control"]


def test_the_page_says_when_statistics_are_off(admin_client: Client, settings: Any) -> None:
    stat(5, completed=2)
    assert "Statistics are off" not in dashboard(admin_client).content.decode()
    settings.DURABLE_JOBS = {**settings.DURABLE_JOBS, "STATS": False}
    response = dashboard(admin_client, fragment="1")
    assert "Statistics are off" in response.content.decode()
    assert response.context["totals"]["completed"] == 2  # what was recorded before still shows
