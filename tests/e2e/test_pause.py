"""Pause and resume at job, queue and worker level (SPEC §8, §9), with real workers."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from demo import jobs as demo
from demo.models import StepLog
from django.utils import timezone

from django_durable_jobs import (
    CannotPauseStatus,
    JobAlreadyPaused,
    PauseMode,
    cancel_job,
    pause_job,
    pause_queue,
    pause_worker,
    resume_job,
    resume_queue,
    resume_worker,
)
from django_durable_jobs.models import FanOut, Job, QueueState, Status
from django_durable_jobs.models import Worker as WorkerRow

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_worker_skips_a_paused_queue(run_worker) -> None:
    pause_queue("emails", by="alice")
    held = demo.add.using(queue="emails").enqueue(1, 2)
    free = demo.add.enqueue(3, 4)
    worker = run_worker("--burst")
    assert worker.wait(timeout=60) == 0
    assert Job.objects.get(pk=free.pk).status == Status.COMPLETED
    assert Job.objects.get(pk=held.pk).status == Status.PENDING
    resume_queue("emails")
    assert run_worker("--burst").wait(timeout=60) == 0
    assert Job.objects.get(pk=held.pk).status == Status.COMPLETED


def test_aggressive_pause_stops_pure_python_code_and_resume_replays(run_worker) -> None:
    job = demo.spin_steps.enqueue(60.0)
    worker = run_worker("--concurrency", "1")
    wait_for(lambda: StepLog.objects.filter(job_id=job.pk, step="two").exists())
    pause_job(job.pk, mode=PauseMode.AGGRESSIVE, by="alice", reason="runaway")
    row = Job.objects.get(pk=job.pk)
    assert row.status == Status.PAUSED and row.attempt == 0, "interrupted attempt not counted"
    # The 60 s loop really stopped: the worker's only slot runs another job at once.
    follower = demo.add.enqueue(1, 2)
    wait_for(lambda: Job.objects.get(pk=follower.pk).status == Status.COMPLETED, timeout=5)
    Job.objects.filter(pk=job.pk).update(args=[0.1])
    resume_job(job.pk)
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.COMPLETED, timeout=30)
    worker.terminate()
    steps = list(StepLog.objects.filter(job_id=job.pk).values_list("step", flat=True))
    assert steps.count("one") == 1, "the finished call() step did not run again"
    assert Job.objects.get(pk=job.pk).attempt == 1


def test_graceful_pause_of_running_job_that_succeeds_completes(run_worker) -> None:
    job = demo.step.enqueue("slow", 2.0)
    worker = run_worker()
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.RUNNING)
    running = pause_job(job.pk, by="alice")
    assert running.status == Status.RUNNING and running.pause_requested == PauseMode.GRACEFUL
    with pytest.raises(JobAlreadyPaused):
        pause_job(job.pk)
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.COMPLETED, timeout=30)
    worker.terminate()


def test_graceful_pause_of_running_job_that_fails_ends_paused_not_retried(run_worker) -> None:
    job = demo.slow_fail.enqueue(2.0)
    worker = run_worker()
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.RUNNING)
    assert pause_job(job.pk, by="alice").status == Status.RUNNING
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.PAUSED, timeout=30)
    time.sleep(1.0)
    row = Job.objects.get(pk=job.pk)
    assert row.status == Status.PAUSED and row.attempt == 1
    assert "failed after 2.0s" in row.last_error
    worker.terminate()


def test_aggressive_queue_pause_puts_running_jobs_back(run_worker) -> None:
    job = demo.spin.using(queue="slow").enqueue(60.0)
    worker = run_worker("--queue", "slow:2")
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.RUNNING)
    pause_queue("slow", mode=PauseMode.AGGRESSIVE, by="alice", reason="maintenance")
    row = Job.objects.get(pk=job.pk)
    assert row.status == Status.PENDING and row.attempt == 0
    time.sleep(1.5)
    assert Job.objects.get(pk=job.pk).status == Status.PENDING, "not claimed while paused"
    Job.objects.filter(pk=job.pk).update(args=[0.1])
    resume_queue("slow")
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.COMPLETED, timeout=30)
    worker.terminate()


def test_pause_worker_from_another_process_and_resume(run_worker) -> None:
    worker = run_worker("--worker-id", "w-1")
    wait_for(lambda: WorkerRow.objects.filter(id="w-1").exists())
    asked = time.monotonic()
    pause_worker("w-1", by="alice")
    time.sleep(1.0)  # the worker learns within 1 s
    held = demo.add.enqueue(1, 2)
    time.sleep(1.5)
    assert Job.objects.get(pk=held.pk).status == Status.PENDING
    resume_worker("w-1")
    wait_for(lambda: Job.objects.get(pk=held.pk).status == Status.COMPLETED, timeout=10)
    print(f"pause_worker round trip checked after {time.monotonic() - asked:.1f}s")
    worker.terminate()


def test_runjobs_paused_starts_paused_and_pause_survives_restart(run_worker) -> None:
    held = demo.add.enqueue(1, 2)
    first = run_worker("--paused", "--worker-id", "w-2")
    wait_for(lambda: WorkerRow.objects.filter(id="w-2", paused=True).exists())
    time.sleep(1.0)
    assert Job.objects.get(pk=held.pk).status == Status.PENDING
    first.terminate()
    second = run_worker("--worker-id", "w-2")  # same id: still paused
    time.sleep(2.0)
    assert Job.objects.get(pk=held.pk).status == Status.PENDING
    resume_worker("w-2")
    wait_for(lambda: Job.objects.get(pk=held.pk).status == Status.COMPLETED, timeout=10)
    second.terminate()


def test_queue_pause_survives_worker_restart_and_until_resumes(run_worker) -> None:
    until = timezone.now() + timedelta(seconds=6)
    pause_queue("emails", by="alice", reason="SMTP down", until=until)
    job = demo.add.using(queue="emails").enqueue(1, 2)
    first = run_worker()
    time.sleep(1.0)
    first.terminate()
    second = run_worker()
    assert Job.objects.get(pk=job.pk).status == Status.PENDING
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.COMPLETED, timeout=20)
    state = QueueState.objects.get(queue="emails")
    assert not state.paused and timezone.now() >= until
    second.terminate()


def test_cancel_running_job_interrupts_it(run_worker) -> None:
    job = demo.spin.enqueue(60.0)
    worker = run_worker()
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.RUNNING)
    assert cancel_job(job.pk, by="alice").status == Status.CANCELLED
    time.sleep(1.5)
    assert Job.objects.get(pk=job.pk).status == Status.CANCELLED
    with pytest.raises(CannotPauseStatus):
        cancel_job(job.pk)
    worker.terminate()


@pytest.mark.postgres_only
def test_no_job_of_a_paused_queue_starts_after_pause_returns(run_worker) -> None:
    demo.spin.using(queue="race").enqueue_many([((0.01,), {})] * 4000)
    workers = [run_worker("--queue", "race:4") for _ in range(3)]
    wait_for(lambda: Job.objects.filter(queue="race", status=Status.COMPLETED).count() > 200, timeout=60)
    pause_queue("race", by="race-test")
    started = set(
        Job.objects.filter(queue="race").exclude(status=Status.PENDING).values_list("id", flat=True)
    )
    time.sleep(2.0)
    later = set(Job.objects.filter(queue="race").exclude(status=Status.PENDING).values_list("id", flat=True))
    # Jobs claimed ahead but not started go back to pending; none may newly leave it.
    assert not later - started, f"{len(later - started)} jobs started after pause_queue returned"
    assert Job.objects.filter(queue="race", status=Status.PENDING).exists()
    done = Job.objects.filter(queue="race", status=Status.COMPLETED).count()
    resume_queue("race")
    wait_for(lambda: Job.objects.filter(queue="race", status=Status.COMPLETED).count() > done + 100)
    for worker in workers:
        worker.terminate()


def test_graceful_pause_of_a_parent_that_fans_out_ends_paused_then_resumes(run_worker) -> None:
    parent = demo.slow_fan.enqueue(2.0, 5)
    worker = run_worker()
    wait_for(lambda: Job.objects.get(pk=parent.pk).status == Status.RUNNING)
    pause_job(parent.pk, by="alice")
    wait_for(lambda: Job.objects.get(pk=parent.pk).status == Status.PAUSED, timeout=30)
    fanout = FanOut.objects.get(parent=parent)
    wait_for(lambda: FanOut.objects.get(pk=fanout.pk).state == "succeeded", timeout=30)
    time.sleep(0.5)
    assert Job.objects.get(pk=parent.pk).status == Status.PAUSED, "children ran, the parent stays paused"
    assert resume_job(parent.pk).status == Status.PENDING
    wait_for(lambda: Job.objects.get(pk=parent.pk).status == Status.COMPLETED, timeout=30)
    assert Job.objects.get(pk=parent.pk).result == sum(i * i for i in range(5))
    worker.terminate()


def test_aggressive_pause_cancels_an_async_handler_at_once(run_worker) -> None:
    job = demo.async_sleep.enqueue(60.0)
    worker = run_worker("--concurrency", "1")
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.RUNNING)
    pause_job(job.pk, mode=PauseMode.AGGRESSIVE)
    # The cancelled coroutine frees its slot: a new job runs on a one-slot worker.
    follower = demo.add.enqueue(1, 2)
    wait_for(lambda: Job.objects.get(pk=follower.pk).status == Status.COMPLETED, timeout=10)
    assert worker.terminate(timeout=10) == 0, "nothing left running to wait for"
    assert Job.objects.get(pk=job.pk).status == Status.PAUSED


def test_a_worker_holds_a_paused_queues_jobs_and_a_resume_lets_them_run(run_worker) -> None:
    """Held rows (issue 12): out of the claim's index while paused, claimable again at resume."""
    worker = run_worker("--concurrency", "2")
    pause_queue("emails", by="alice")
    jobs = [demo.add.using(queue="emails").enqueue(i, 1) for i in range(5)]
    free = demo.add.enqueue(0, 0)
    wait_for(lambda: Job.objects.filter(pk__in=[j.pk for j in jobs], held=True).count() == 5, timeout=15)
    wait_for(lambda: Job.objects.get(pk=free.pk).status == Status.COMPLETED, timeout=15)
    assert set(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", flat=True)) == {
        "pending"
    }
    resume_queue("emails")
    assert not Job.objects.filter(pk__in=[j.pk for j in jobs], held=True).exists()  # released at commit
    wait_for(lambda: Job.objects.filter(pk__in=[j.pk for j in jobs], status=Status.COMPLETED).count() == 5)
    worker.terminate()
