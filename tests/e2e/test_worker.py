"""The worker as users meet it: real ``runjobs`` processes on the test database."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from demo import jobs as demo
from demo.models import SideEffect, StepLog

from django_durable_jobs import cancel_job, retry_job
from django_durable_jobs.models import Job, Status
from django_durable_jobs.models import Worker as WorkerRow

from ..conftest import MANAGE, wait_for
from ..factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


def statuses() -> dict[str, int]:
    from django.db.models import Count

    return dict(Job.objects.values_list("status").annotate(n=Count("id")))


def test_burst_runs_jobs_and_records_results(run_worker) -> None:
    add = demo.add.enqueue(2, 3)
    async_add = demo.async_add.enqueue(4, 5)
    workflow = demo.process_order.enqueue({"amount": 7, "items": ["a", "b"]})
    worker = run_worker("--burst", "--concurrency", "4")
    assert worker.wait(timeout=60) == 0, worker.output()
    assert Job.objects.get(pk=add.pk).result == 5
    assert Job.objects.get(pk=async_add.pk).result == 9
    assert Job.objects.get(pk=workflow.pk).result == "receipt-7"
    assert statuses() == {Status.COMPLETED: 3}
    assert WorkerRow.objects.get().stopped_at is not None


def test_retries_then_succeeds_and_keeps_the_error(run_worker, settings) -> None:
    flaky = demo.flaky.enqueue(2, "k")
    no_retry = demo.flaky.using(retries=0).enqueue(5, "n")
    worker = run_worker(env={"DJJ_FAST_LEASES": "1"})
    wait_for(lambda: Job.objects.get(pk=flaky.pk).status == Status.COMPLETED, timeout=30)
    worker.terminate()
    flaky.refresh_from_db()
    no_retry.refresh_from_db()
    assert flaky.attempt == 3 and flaky.result == "ok after 3 attempts"
    assert "flaky failure on attempt 2" in flaky.last_error and "Traceback" in flaky.last_error
    assert no_retry.status == Status.FAILED and no_retry.attempt == 1
    assert no_retry.last_error.startswith("RuntimeError: flaky failure on attempt 1")


def test_missing_handler_fails_clearly_and_can_be_retried(run_worker) -> None:
    ghost = JobFactory(name="ghost.job", args=[1])
    worker = run_worker("--burst")
    assert worker.wait(timeout=60) == 0
    ghost.refresh_from_db()
    assert ghost.status == Status.FAILED
    assert "no handler is registered for job 'ghost.job'" in ghost.last_error
    assert retry_job(ghost.pk).status == Status.PENDING


@pytest.mark.postgres_only
def test_no_job_runs_twice_with_several_workers(run_worker) -> None:
    count = 3000
    workers = [run_worker("--concurrency", "8") for _ in range(3)]
    wait_for(lambda: WorkerRow.objects.count() == 3)  # all three are claiming when work arrives
    demo.record.enqueue_many([((f"key-{i}",), {}) for i in range(count)])
    wait_for(lambda: Job.objects.filter(status=Status.COMPLETED).count() == count, timeout=120)
    for worker in workers:
        worker.terminate()
    assert statuses() == {Status.COMPLETED: count}
    assert SideEffect.objects.count() == count
    assert SideEffect.objects.values("worker_pid").distinct().count() == 3, "all workers took part"


def test_sigkilled_worker_loses_no_job(run_worker) -> None:
    jobs = [demo.step.enqueue(f"s{i}", 2.0) for i in range(3)]
    first = run_worker("--concurrency", "3")
    wait_for(lambda: Job.objects.filter(status=Status.RUNNING).count() == 3, timeout=30)
    first.kill()
    killed_at = time.monotonic()
    second = run_worker("--concurrency", "3")
    wait_for(lambda: Job.objects.filter(status=Status.COMPLETED).count() == 3, timeout=60)
    recovered_in = time.monotonic() - killed_at
    second.terminate()
    assert all(Job.objects.get(pk=j.pk).attempt == 1 for j in jobs), "the lost attempt is not counted"
    assert "reclaimed" in Job.objects.get(pk=jobs[0].pk).last_error
    print(f"recovered 3 jobs {recovered_in:.1f}s after SIGKILL (lease 3s in tests)")


def test_sigterm_lets_running_jobs_finish_and_releases_the_rest(run_worker) -> None:
    running = demo.step.enqueue("long", 1.5)
    worker = run_worker("--concurrency", "1")
    wait_for(lambda: Job.objects.get(pk=running.pk).status == Status.RUNNING)
    queued = demo.step.enqueue("queued", 0.0)
    worker.send(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert Job.objects.get(pk=running.pk).status == Status.COMPLETED
    queued.refresh_from_db()
    assert queued.status == Status.PENDING and queued.attempt == 0
    assert StepLog.objects.filter(step="queued").count() == 0


def test_sigterm_grace_period_releases_what_is_left(run_worker) -> None:
    job = demo.spin.enqueue(30.0)
    worker = run_worker("--concurrency", "1", env={"DJJ_EXTRA_SETTINGS": '{"SHUTDOWN_GRACE_SECONDS": 0.5}'})
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.RUNNING)
    worker.send(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    job.refresh_from_db()
    assert job.status == Status.PENDING and job.attempt == 0


def test_workflow_killed_in_step_two_resumes_without_rerunning_step_one(run_worker) -> None:
    flow = demo.three_steps.enqueue(seconds=3.0)
    first = run_worker()
    wait_for(lambda: StepLog.objects.filter(job_id=flow.pk, step="two").exists())
    first.kill()
    second = run_worker()
    wait_for(lambda: Job.objects.get(pk=flow.pk).status == Status.COMPLETED, timeout=60)
    second.terminate()
    steps = list(StepLog.objects.filter(job_id=flow.pk).values_list("step", flat=True))
    assert steps.count("one") == 1 and steps.count("two") == 2 and steps.count("three") == 1
    assert Job.objects.get(pk=flow.pk).result == ["one", "two", "three"]


def test_failing_step_is_retried_without_rerunning_earlier_steps(run_worker) -> None:
    flow = demo.three_steps.enqueue(fail_second_once=True)
    worker = run_worker()
    wait_for(lambda: Job.objects.get(pk=flow.pk).status == Status.COMPLETED, timeout=30)
    worker.terminate()
    steps = list(StepLog.objects.filter(job_id=flow.pk).values_list("step", flat=True))
    assert steps == ["one", "two", "two", "three"]
    assert Job.objects.get(pk=flow.pk).attempt == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "-1"], "--concurrency: '-1' is not a whole number"),
        (["--queue", "emails:0"], "--queue emails: 0 is outside 1..1000"),
        (["--queue", "a:b"], "--queue a: 'b' is not a whole number"),
        (["--queue", "x", "--queue", "x"], "queue given more than once"),
    ],
)
def test_bad_options_are_refused(args, message, worker_env) -> None:
    done = subprocess.run(
        [sys.executable, str(MANAGE), "runjobs", "--burst", *args],
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert message in done.stderr
    assert not WorkerRow.objects.exists()


def test_busy_worker_and_concurrent_enqueues_never_hit_database_is_locked(run_worker) -> None:
    """The SQLite promise: one worker with 8 threads, writers beside it, no lock errors."""
    worker = run_worker("--concurrency", "8", env={"DJJ_LOG_LEVEL": "WARNING"})
    for i in range(1500):
        demo.record.enqueue(f"busy-{i}")
    wait_for(lambda: Job.objects.filter(status=Status.COMPLETED).count() == 1500, timeout=120)
    worker.terminate()
    output = worker.output()
    assert "database is locked" not in output, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
    assert SideEffect.objects.count() == 1500


def test_a_live_job_outlives_its_lease_and_is_never_reclaimed(run_worker) -> None:
    job = demo.step.enqueue("long", 8.0)  # the tests' lease is 3 s, renewed every 0.5 s
    first = run_worker("--concurrency", "1")
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.RUNNING)
    second = run_worker("--concurrency", "1")  # looks for expired leases all the while
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.COMPLETED, timeout=60)
    first.terminate()
    second.terminate()
    job.refresh_from_db()
    assert (job.attempt, job.reclaims) == (1, 0)
    assert StepLog.objects.filter(job_id=job.pk).count() == 1


def test_a_job_finishing_within_the_shutdown_grace_keeps_its_lease(run_worker) -> None:
    job = demo.step.enqueue("through-shutdown", 6.0)  # twice the tests' 3 s lease
    first = run_worker("--concurrency", "1")
    # Its handler has started (a job claimed but not started would be released at the stop).
    wait_for(lambda: StepLog.objects.filter(job_id=job.pk).exists())
    second = run_worker("--concurrency", "1")  # looks for expired leases all the while
    first.send(signal.SIGTERM)  # a graceful stop: the job may finish, its lease must not lapse
    assert first.wait(timeout=30) == 0
    job.refresh_from_db()
    second.terminate()
    assert (job.status, job.attempt, job.reclaims) == (Status.COMPLETED, 1, 0)
    assert StepLog.objects.filter(job_id=job.pk).count() == 1


def test_a_cancelled_job_does_not_hold_up_a_graceful_stop(run_worker) -> None:
    job = demo.sleep.enqueue(60.0)  # blocked in C: an interruption cannot stop it
    worker = run_worker("--concurrency", "1")
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.RUNNING)
    cancel_job(job.pk, by="test")
    started = time.monotonic()
    worker.terminate()
    assert time.monotonic() - started < 10, "the stop waited for a job that is no longer the worker's"


def test_finished_jobs_waiting_for_a_slow_writer_keep_their_lease(run_worker) -> None:
    # Each completion holds the writer for 1 s (a slow job_completed receiver), so
    # finished jobs queue up behind it for longer than a 1 s lease.
    jobs = demo.step.enqueue_many([((f"slow-writer-{i}", 0.05), {}) for i in range(8)])
    worker = run_worker(
        "--concurrency",
        "4",
        env={
            "DJJ_SLOW_WRITER": "1",
            "DJJ_EXTRA_SETTINGS": '{"LEASE_SECONDS": 1.0, "HEARTBEAT_SECONDS": 0.2, "RECLAIM_SECONDS": 0.2}',
        },
    )
    wait_for(lambda: Job.objects.filter(status=Status.COMPLETED).count() == 8, timeout=60)
    worker.terminate()
    assert StepLog.objects.count() == 8, "no job ran twice"
    rows = Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("reclaims", "attempt")
    assert set(rows) == {(0, 1)}, "never reclaimed, one attempt each"
