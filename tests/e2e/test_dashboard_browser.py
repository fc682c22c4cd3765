"""The admin Dashboard in a real headless Chromium, fed by a real ``runjobs``.

Jobs complete and fail in a worker process; its statistics writer records
them; the page's charts must show what the tables hold, and its refresh must
bring new outcomes in without reloading the page. The screenshot for the
README (docs/dashboard.png) is taken here.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from demo import jobs as demo
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from django_durable_jobs import stats
from django_durable_jobs.models import Job, JobStat, QueueSample, Status

from ..conftest import wait_for
from .test_admin_browser import DOCS, StartWorker, admin_page, browser, worker_env  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMPLETING, FAILING, HISTORY_MINUTES = 6, 3, 45


def seed_history(before: timezone.datetime) -> None:
    """Statistics of the ``HISTORY_MINUTES`` minutes before ``before``, as workers would have left them.

    Only so that the charts (and the screenshot) show curves rather than the
    single point a few seconds of real work make; every assertion counts these
    rows in through the database, never by their known values.
    """
    for ago in range(1, HISTORY_MINUTES + 1):
        minute = before - timedelta(minutes=ago)
        wave = 1 + math.sin(ago / 6)
        for queue, name, completed, failed in (
            ("default", "demo.add", round(30 * wave) + 5, ago % 7 == 0),
            ("emails", "demo.email", round(12 * wave), 2 * (ago % 11 == 0)),
        ):
            rollup = stats.Rollup()
            for i in range(completed + failed):
                rollup.observe(0.02 * wave * (1 + i % 5) + (2.5 if i % 19 == 0 else 0), 0.05)
            JobStat.objects.create(
                minute=minute,
                queue=queue,
                name=name,
                completed=completed,
                failed=failed,
                wait_count=rollup.wait_count,
                wait_seconds_sum=rollup.wait_seconds_sum,
                wait_buckets=rollup.wait_buckets,
                run_count=rollup.run_count,
                run_buckets=rollup.run_buckets,
            )
        QueueSample.objects.create(minute=minute, queue="default", pending=round(40 * (2 - wave)))
        QueueSample.objects.create(minute=minute, queue="emails", pending=round(15 * wave))


def db_total(field: str) -> int:
    return JobStat.objects.aggregate(n=Sum(field))["n"] or 0


def values_of(chart: Locator, series: str) -> list[float | None]:
    text = chart.locator(f'g.djj-series[data-name="{series}"]').get_attribute("data-values") or ""
    return [float(v) if v else None for v in text.split(",")]


def finished(jobs: list[Job]) -> bool:
    done = Job.objects.filter(pk__in=[j.pk for j in jobs], status__in=[Status.COMPLETED, Status.FAILED])
    return done.count() == len(jobs)


def test_dashboard_charts_real_outcomes_and_refreshes_in_place(
    admin_page: Page,  # noqa: F811
    run_worker: StartWorker,
) -> None:
    start = stats.minute_of(timezone.now())
    seed_history(start)
    jobs = [demo.add.enqueue(i, i) for i in range(COMPLETING)]
    jobs += [demo.maybe_fail.enqueue(i, fail=True) for i in range(FAILING)]
    # One job stays pending (due in an hour), so every queue sample has a "default" row,
    # however fast the others finish: a queue with no unfinished job is not sampled.
    demo.add.using(run_after=timedelta(hours=1)).enqueue(0, 0)
    run_worker("--queue", "default", "--concurrency", "2", "--worker-id", "dash:worker-1")
    wait_for(lambda: finished(jobs))

    # The worker's writer counted each outcome in the transaction that made it.
    recent = JobStat.objects.filter(minute__gte=start)
    wait_for(lambda: recent.aggregate(n=Sum("completed"))["n"] == COMPLETING)
    assert recent.aggregate(n=Sum("failed"))["n"] == FAILING
    assert recent.aggregate(n=Sum("wait_count"))["n"] == COMPLETING + FAILING
    wait_for(lambda: QueueSample.objects.filter(minute__gte=start, queue="default").exists())

    admin_page.goto(reverse("admin:index"))
    admin_page.get_by_role("link", name="Dashboard").click()
    expect(admin_page.locator("h1")).to_have_text("Dashboard")

    throughput = admin_page.locator("#chart-throughput svg")
    completed, failed = values_of(throughput, "completed"), values_of(throughput, "failed")
    assert len(completed) == 60
    assert sum(v or 0 for v in completed) == db_total("completed")
    assert sum(v or 0 for v in failed) == db_total("failed")
    points = throughput.locator('g[data-name="completed"] polyline').first.get_attribute("points") or ""
    assert len(points.split()) >= HISTORY_MINUTES
    expect(admin_page.locator('[data-total="completed"]')).to_have_text(str(db_total("completed")))

    wait = values_of(admin_page.locator("#chart-wait svg"), "p95")
    assert wait[-1] is not None or wait[-2] is not None  # this minute's real waits
    depth = admin_page.locator("#chart-depth svg")
    assert values_of(depth, "default")[-1] is not None or values_of(depth, "default")[-2] is not None

    failing = admin_page.locator('#failing tr[data-name="demo.maybe_fail"]')
    expect(failing.locator(".djj-failed-count")).to_have_text(str(FAILING))
    expect(failing.locator(".djj-last-error")).to_contain_text("RuntimeError: child")
    slots = admin_page.locator('#chart-slots g.djj-bar[data-name="dash:worker-1"]')
    expect(slots).to_have_attribute("data-capacity", "2")

    DOCS.mkdir(exist_ok=True)
    admin_page.screenshot(path=str(DOCS / "dashboard.png"), full_page=True)

    # New outcomes arrive through the page's own refresh: no reload, no navigation.
    admin_page.evaluate("window.djjSamePage = true")
    before = db_total("completed")
    more = [demo.add.enqueue(100, i) for i in range(2)]
    wait_for(lambda: finished(more))
    total = db_total("completed")
    assert total == before + 2
    # The page refreshes every 5 s: wait for up to three refreshes, not playwright's default 5 s,
    # which a refresh that ran just before the new outcomes were committed used up.
    expect(admin_page.locator('[data-total="completed"]')).to_have_text(str(total), timeout=15_000)
    assert admin_page.evaluate("window.djjSamePage") is True
    assert int(admin_page.locator("#djj-dashboard").get_attribute("data-refreshed") or 0) >= 1
    assert sum(v or 0 for v in values_of(throughput, "completed")) == total
