"""The admin in a real headless Chromium, against a live server and real workers.

Uses Debian's ``/usr/bin/chromium`` (never a browser downloaded by Playwright).
Without it the tests are skipped, unless ``CI`` is set: then they fail.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from demo import jobs as demo
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from django_durable_jobs.models import Job, JobTypeState, QueueState, Schedule, Status, Worker
from django_durable_jobs.scheduling.firing import schedule, sync_schedules
from django_durable_jobs.scheduling.specs import daily

from ..conftest import WorkerProcess, wait_for
from ..factories import JobFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

StartWorker = Callable[..., WorkerProcess]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium): browser tests not run"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    # Sync Playwright keeps an asyncio loop marked running in this thread, which
    # Django takes for async code; the tests' own ORM calls are plain sync code.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def worker_env(worker_env: dict[str, str]) -> dict[str, str]:
    """Workers keep Django's async-safety check: the browser's exemption is not theirs."""
    return {k: v for k, v in worker_env.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}


@pytest.fixture
def admin_page(browser: Browser, live_server: object) -> Iterator[Page]:
    """A browser tab logged in to the admin as the superuser "alice"."""
    User.objects.create_superuser("alice", "alice@example.com", "secret")
    context = browser.new_context(base_url=str(live_server), viewport={"width": 1440, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "secret")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("alice")
    yield page
    context.close()


def status_of(job: Job) -> str:
    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


def messages(page: Page) -> Locator:
    return page.locator("ul.messagelist")


def queue_row(page: Page, queue: str) -> Locator:
    return page.locator(f'tr[data-queue="{queue}"]')


def worker_row(page: Page, worker_id: str) -> Locator:
    return page.locator("#result_list tbody tr", has_text=worker_id)


def job_type_row(page: Page, name: str) -> Locator:
    return page.locator(f'tr[data-name="{name}"]')


def test_bulk_pause_two_jobs_then_resume_one_from_its_page(admin_page: Page) -> None:
    first, second, third = (demo.add.enqueue(i, 1) for i in range(3))
    admin_page.goto(reverse("admin:durable_jobs_job_changelist"))
    for job in (first, second):
        admin_page.check(f'input[name="_selected_action"][value="{job.pk}"]')
    admin_page.select_option('select[name="action"]', "pause_graceful")
    admin_page.click('button[name="index"]')
    admin_page.get_by_role("button", name="Pause", exact=True).click()  # the confirmation page
    expect(messages(admin_page)).to_contain_text("2 jobs paused")
    assert [status_of(j) for j in (first, second, third)] == ["paused", "paused", "pending"]
    assert Job.objects.get(pk=first.pk).paused_by == "alice"

    admin_page.click(f'#result_list a[href$="/job/{first.pk}/change/"] >> nth=0')
    expect(admin_page.locator("#job-operate")).to_contain_text("Paused (graceful) by alice")
    admin_page.get_by_role("button", name="Resume").click()
    expect(messages(admin_page)).to_contain_text(f"Job {first.pk} resumed.")
    assert [status_of(j) for j in (first, second)] == ["pending", "paused"]


def test_aggressive_queue_pause_takes_back_a_running_job(admin_page: Page, run_worker: StartWorker) -> None:
    run_worker("--queue", "slow", "--concurrency", "1")
    long_job = demo.spin.using(queue="slow").enqueue(60)  # pure Python: interruptible
    for status in ("pending", "pending", "completed", "failed", "paused"):  # for the screenshot
        JobFactory(name="demo.email", queue="emails", status=status)
    demo.add.enqueue(3, 4)
    wait_for(lambda: status_of(long_job) == Status.RUNNING)

    admin_page.goto(reverse("admin:durable_jobs_queuestate_changelist"))
    row = queue_row(admin_page, "slow")
    expect(row.locator(".djj-count-running")).to_have_text("1")
    row.locator('select[name="mode"]').select_option("aggressive")
    row.locator('input[name="reason"]').fill("database maintenance")
    row.locator('input[name="until"]').fill("30")
    row.get_by_role("button", name="Pause").click()

    expect(messages(admin_page)).to_contain_text("Queue 'slow' paused (aggressive).")
    wait_for(lambda: status_of(long_job) == Status.PENDING)
    admin_page.reload()
    row = queue_row(admin_page, "slow")
    expect(row.locator(".djj-state")).to_contain_text("paused — drained")
    expect(row.locator(".djj-state")).to_contain_text("aggressive by alice")
    expect(row.locator(".djj-state")).to_contain_text("database maintenance")
    expect(row.locator(".djj-count-pending")).to_have_text("1")
    state = QueueState.objects.get(queue="slow")
    assert (state.paused, state.pause_mode, state.paused_by) == (True, "aggressive", "alice")

    DOCS.mkdir(exist_ok=True)
    admin_page.screenshot(path=str(DOCS / "queues-page.png"), full_page=True)

    time.sleep(1.5)  # the worker is alive and polling, yet claims nothing of a paused queue
    assert status_of(long_job) == Status.PENDING
    row.get_by_role("button", name="Resume").click()
    expect(messages(admin_page)).to_contain_text("Queue 'slow' resumed.")
    wait_for(lambda: status_of(long_job) == Status.RUNNING)


def test_graceful_queue_pause_lets_the_running_job_drain(admin_page: Page, run_worker: StartWorker) -> None:
    run_worker("--queue", "slow", "--concurrency", "1")
    short_job = demo.sleep.enqueue(3)
    waiting = demo.sleep.enqueue(0)
    wait_for(lambda: status_of(short_job) == Status.RUNNING)

    admin_page.goto(reverse("admin:durable_jobs_queuestate_changelist"))
    queue_row(admin_page, "slow").get_by_role("button", name="Pause").click()
    expect(messages(admin_page)).to_contain_text("Queue 'slow' paused (graceful).")
    expect(queue_row(admin_page, "slow").locator(".djj-state")).to_contain_text("paused — 1 still running")

    wait_for(lambda: status_of(short_job) == Status.COMPLETED)
    admin_page.reload()
    expect(queue_row(admin_page, "slow").locator(".djj-state")).to_contain_text("paused — drained")
    assert status_of(waiting) == Status.PENDING


def test_pause_and_resume_a_live_worker(admin_page: Page, run_worker: StartWorker) -> None:
    worker_id = "browser:worker-1"
    run_worker("--queue", "default", "--worker-id", worker_id)
    wait_for(lambda: Worker.objects.filter(pk=worker_id).exists())
    warm_up = demo.add.enqueue(1, 1)
    wait_for(lambda: status_of(warm_up) == Status.COMPLETED)

    admin_page.goto(reverse("admin:durable_jobs_worker_changelist"))
    row = worker_row(admin_page, worker_id)
    expect(row).to_contain_text("alive")
    row.get_by_role("button", name="Pause", exact=True).click()
    expect(messages(admin_page)).to_contain_text(f"Worker '{worker_id}' paused (graceful).")
    expect(worker_row(admin_page, worker_id)).to_contain_text("graceful by alice")
    assert Worker.objects.get(pk=worker_id).paused

    time.sleep(1.5)  # let the worker see the pause (within 1 s)
    idle = demo.add.enqueue(2, 2)
    time.sleep(2)
    assert status_of(idle) == Status.PENDING

    worker_row(admin_page, worker_id).get_by_role("button", name="Resume").click()
    expect(messages(admin_page)).to_contain_text(f"Worker '{worker_id}' resumed.")
    wait_for(lambda: status_of(idle) == Status.COMPLETED)
    assert not Worker.objects.get(pk=worker_id).paused


def test_job_type_paused_from_its_page_starts_nothing_until_resumed(
    admin_page: Page, run_worker: StartWorker
) -> None:
    run_worker("--queue", "default", "--concurrency", "2")
    warm_up = demo.add.enqueue(1, 1)
    failure = demo.maybe_fail.enqueue(7, fail=True)
    wait_for(lambda: status_of(warm_up) == Status.COMPLETED and status_of(failure) == Status.FAILED)

    admin_page.goto(reverse("admin:durable_jobs_jobtypestate_changelist"))
    row = job_type_row(admin_page, "demo.add")
    expect(row.locator(".djj-count-completed")).to_have_text("1")
    expect(row.locator(".djj-state")).to_contain_text("active")
    row.locator('select[name="mode"]').select_option("graceful")
    row.locator('input[name="reason"]').fill("partner API down")
    row.get_by_role("button", name="Pause").click()

    expect(messages(admin_page)).to_contain_text("Job type 'demo.add' paused (graceful).")
    state = job_type_row(admin_page, "demo.add").locator(".djj-state")
    expect(state).to_contain_text("paused — drained")
    expect(state).to_contain_text("graceful by alice")
    expect(state).to_contain_text("partner API down")
    assert JobTypeState.objects.get(name="demo.add").paused_by == "alice"

    held = [demo.add.enqueue(i, i) for i in range(3)]
    other = demo.square.enqueue(5)  # the same queue, another type: still runs
    wait_for(lambda: status_of(other) == Status.COMPLETED)
    time.sleep(1.5)  # the worker is alive and claiming, yet starts no job of a paused type
    assert [status_of(job) for job in held] == [Status.PENDING] * 3
    assert not Job.objects.filter(pk__in=[job.pk for job in held], started_at__isnull=False).exists()
    admin_page.reload()
    expect(job_type_row(admin_page, "demo.add").locator(".djj-count-pending")).to_have_text("3")
    expect(job_type_row(admin_page, "demo.square").locator(".djj-state")).to_contain_text("active")

    error = job_type_row(admin_page, "demo.maybe_fail").locator(".djj-last-error a")
    expect(error).to_have_text("RuntimeError: child 7 failed")

    job_type_row(admin_page, "demo.add").get_by_role("button", name="Resume").click()
    expect(messages(admin_page)).to_contain_text("Job type 'demo.add' resumed.")
    wait_for(lambda: all(status_of(job) == Status.COMPLETED for job in held))
    assert not JobTypeState.objects.get(name="demo.add").paused

    error.click()  # the last error leads to the failed job's page
    expect(admin_page).to_have_url(reverse("admin:durable_jobs_job_change", args=[failure.pk]))


@pytest.mark.usefixtures("isolated_schedules")
def test_a_paused_schedule_runs_now_from_its_page(admin_page: Page, run_worker: StartWorker) -> None:
    run_worker("--queue", "default", "--concurrency", "1")
    schedule(demo.add, daily(3, 0), name="nightly-sum", args=[20, 22], overlap="skip")
    sync_schedules()  # what runjobs --scheduler does when it starts

    admin_page.goto(reverse("admin:durable_jobs_schedule_changelist"))
    row = admin_page.locator('tr[data-name="nightly-sum"]')
    expect(row.locator(".djj-job")).to_have_text("demo.add")
    expect(row.locator(".djj-args")).to_have_text("[20, 22]")
    expect(row.locator(".djj-policies")).to_contain_text("overlap: skip")
    row.locator('input[name="reason"]').fill("ledger migration")
    row.get_by_role("button", name="Pause").click()

    expect(messages(admin_page)).to_contain_text("Schedule 'nightly-sum' paused.")
    row = admin_page.locator('tr[data-name="nightly-sum"]')
    expect(row.locator(".djj-state")).to_contain_text("paused")
    expect(row.locator(".djj-state")).to_contain_text("by alice")
    expect(row.locator(".djj-state")).to_contain_text("ledger migration")
    expect(row.locator(".djj-next")).to_contain_text("— (paused)")

    row.get_by_role("button", name="Run now").click()
    expect(messages(admin_page)).to_contain_text("enqueued: demo.add run now for schedule 'nightly-sum'.")
    job = Job.objects.get(name="demo.add")
    expect(messages(admin_page)).to_contain_text(f"Job {job.pk} enqueued")
    assert (job.args, job.schedule, job.scheduled_for) == ([20, 22], None, None)
    wait_for(lambda: status_of(job) == Status.COMPLETED, timeout=60)  # a run now is a real job

    messages(admin_page).get_by_role("link", name=f"Job {job.pk}").click()
    expect(admin_page).to_have_url(reverse("admin:durable_jobs_job_change", args=[job.pk]))
    expect(admin_page.locator(".field-status_badge")).to_contain_text("completed")
    expect(admin_page.locator(".field-result_pretty")).to_contain_text("42")
    row_state = Schedule.objects.values_list("paused", "last_job_id").get(name="nightly-sum")
    assert row_state == (True, None)  # still paused; no fire was made
