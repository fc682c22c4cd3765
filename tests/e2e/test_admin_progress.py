"""In a real Chromium: a real worker's progress reports on the jobs list and the job page, and the
confirmation page of a bulk action (see test_admin_browser.py for the browser and the login)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from demo import jobs as demo
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from playwright.sync_api import Page, expect

from django_durable_jobs.models import Job, Status

from ..conftest import WorkerProcess, wait_for
from . import test_admin_browser as browser_tests
from .test_admin_browser import messages, status_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The Chromium, the logged-in tab and the workers' environment of test_admin_browser.py.
browser, admin_page, worker_env = browser_tests.browser, browser_tests.admin_page, browser_tests.worker_env

StartWorker = Callable[..., WorkerProcess]


def reported(job: Job) -> tuple[int | None, int | None, str]:
    return Job.objects.values_list("progress_done", "progress_total", "progress_message").get(pk=job.pk)


def test_running_progress_shows_as_a_bar_and_numbers(admin_page: Page, run_worker: StartWorker) -> None:
    run_worker("--queue", "default", "--concurrency", "1")
    job = demo.progress.enqueue(40, 8)  # 40 items in 8 s, each reported; a write a second gets through
    wait_for(lambda: (reported(job)[0] or 0) >= 5)

    admin_page.goto(reverse("admin:durable_jobs_job_changelist"))
    job_link = f'a[href$="/job/{job.pk}/change/"]'
    row = admin_page.locator("#result_list tbody tr", has=admin_page.locator(job_link))
    link = row.locator(job_link).first
    bar = row.locator('.djj-progress[role="progressbar"]')
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("aria-valuemax", "40")
    assert 5 <= int(bar.get_attribute("aria-valuenow") or 0) < 40
    fill = bar.locator(".djj-progress-fill").bounding_box()
    whole = bar.bounding_box()
    assert fill and whole and 0 < fill["width"] < whole["width"]  # drawn, part of the way
    expect(row.locator(".djj-progress-count")).to_contain_text("/40 (")

    link.click()
    progress = admin_page.locator(".field-progress_pretty")
    expect(progress.locator(".djj-progress-numbers")).to_contain_text(" done of 40")
    expect(progress.locator(".djj-progress-message")).to_contain_text("item ")
    expect(progress.locator(".djj-progress-rate")).to_contain_text("/s since it started")
    expect(progress.locator(".djj-progress-rate")).to_contain_text("s to go")

    wait_for(lambda: status_of(job) == Status.COMPLETED)
    assert reported(job) == (40, 40, "item 40 of 40")  # the last report lands, throttled or not
    admin_page.reload()
    expect(progress.locator(".djj-progress-numbers")).to_have_text("40 done of 40")


def test_bulk_cancel_asks_for_a_reason_first(admin_page: Page) -> None:
    first, second, third = (demo.add.enqueue(i, 1) for i in range(3))  # no worker: they stay pending
    admin_page.goto(reverse("admin:durable_jobs_job_changelist"))
    for job in (first, second):
        admin_page.check(f'input[name="_selected_action"][value="{job.pk}"]')
    admin_page.select_option('select[name="action"]', "cancel")
    admin_page.click('button[name="index"]')

    rows = admin_page.locator("#djj-confirm-rows li")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_text(f"Job {first.pk}: demo.add (pending)")
    assert [status_of(j) for j in (first, second)] == [Status.PENDING] * 2  # nothing done yet
    admin_page.get_by_role("link", name="No, take me back").click()
    expect(admin_page.locator("#result_list")).to_be_visible()
    assert status_of(first) == Status.PENDING

    for job in (first, second):
        admin_page.check(f'input[name="_selected_action"][value="{job.pk}"]')
    admin_page.select_option('select[name="action"]', "cancel")
    admin_page.click('button[name="index"]')
    admin_page.fill("#djj-reason", "duplicate orders")
    admin_page.get_by_role("button", name="Cancel jobs").click()

    expect(messages(admin_page)).to_contain_text("2 jobs cancelled")
    assert [status_of(j) for j in (first, second, third)] == ["cancelled", "cancelled", "pending"]
    logged = LogEntry.objects.filter(object_id=str(first.pk)).get()
    assert logged.get_change_message() == "Cancelled from the jobs list: duplicate orders"
    assert logged.user.get_username() == "alice"
