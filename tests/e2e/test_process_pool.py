"""``runjobs --pool process``: handlers in pre-forked child processes, stopped with signals."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from demo import jobs as demo
from demo import pool_jobs as pool

from django_durable_jobs import PauseMode, cancel_job, pause_job, pause_worker, resume_worker
from django_durable_jobs.models import Job, Status
from django_durable_jobs.models import Worker as WorkerRow

from ..conftest import MANAGE, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def status(job: Job) -> str:
    return Job.objects.get(pk=job.pk).status


def test_sync_and_async_handlers_run_in_child_processes(run_worker) -> None:
    jobs = [pool.pid.enqueue() for _ in range(4)] + [pool.apid.enqueue() for _ in range(2)]
    add = demo.add.enqueue(2, 3)
    worker = run_worker("--pool", "process", "--concurrency", "2")
    wait_for(lambda: all(status(j) == Status.COMPLETED for j in [*jobs, add]), timeout=60)
    rows = [Job.objects.get(pk=j.pk) for j in jobs]
    assert Job.objects.get(pk=add.pk).result == 5
    pids = {r.result for r in rows}
    assert worker.pid not in pids, "the handlers ran in the worker's own process"
    registry = WorkerRow.objects.get()
    assert registry.pool == "process"
    children = {entry["pid"] for entry in registry.children}
    assert len(children) == 2 and pids <= children, (pids, registry.children)
    assert worker.terminate(timeout=20) == 0
    registry.refresh_from_db()
    assert registry.stopped_at is not None and registry.children == []


def test_call_and_fan_out_write_from_the_children(run_worker) -> None:
    order = demo.process_order.enqueue({"amount": 42, "items": ["a", "b"]})
    fan = demo.sum_squares.enqueue(6)
    worker = run_worker("--pool", "process", "--concurrency", "2")
    wait_for(lambda: status(order) == status(fan) == Status.COMPLETED, timeout=60)
    assert Job.objects.get(pk=order.pk).result == "receipt-42"
    assert Job.objects.get(pk=fan.pk).result == sum(i * i for i in range(6))
    assert worker.terminate(timeout=20) == 0


def test_aggressive_pause_stops_a_long_sleep_within_a_second(run_worker, tmp_path: Path) -> None:
    report = tmp_path / "sleep"
    job = pool.sleep_forever.enqueue(str(report))
    worker = run_worker("--pool", "process", "--concurrency", "1")
    wait_for(lambda: lines(report), timeout=30)
    child = int(lines(report)[0])
    paused_at = time.time()
    pause_job(job.pk, mode=PauseMode.AGGRESSIVE, by="alice")
    wait_for(lambda: len(lines(report)) == 2, timeout=10)
    stopped_at = float(lines(report)[1])
    assert stopped_at - paused_at < 1.0, f"the sleep stopped {stopped_at - paused_at:.2f} s after the pause"
    assert status(job) == Status.PAUSED
    follower = pool.pid.enqueue()
    wait_for(lambda: status(follower) == Status.COMPLETED, timeout=15)
    assert Job.objects.get(pk=follower.pk).result != child, "a fresh child took the slot"
    wait_for(lambda: not alive(child), timeout=5)
    assert worker.terminate(timeout=20) == 0


def test_aggressive_pause_cancels_an_async_handler_in_its_child(run_worker) -> None:
    job = demo.async_sleep.enqueue(600.0)
    worker = run_worker("--pool", "process", "--concurrency", "1")
    wait_for(lambda: status(job) == Status.RUNNING, timeout=30)
    pause_job(job.pk, mode=PauseMode.AGGRESSIVE)
    follower = pool.apid.enqueue()
    wait_for(lambda: status(follower) == Status.COMPLETED, timeout=15)
    assert status(job) == Status.PAUSED
    assert worker.terminate(timeout=20) == 0


def test_aggressive_worker_pause_stops_a_handler_stuck_in_c_within_a_second(run_worker, tmp_path) -> None:
    report = tmp_path / "stuck"
    job = pool.stuck_in_c.enqueue(str(report))
    worker = run_worker("--pool", "process", "--concurrency", "1")
    wait_for(lambda: lines(report), timeout=30)
    child = int(lines(report)[0])
    registry = WorkerRow.objects.get(pid=worker.pid)
    paused_at = time.monotonic()
    pause_worker(registry.id, mode=PauseMode.AGGRESSIVE, by="alice")
    wait_for(lambda: not alive(child), timeout=10, interval=0.01)
    # The interruption cannot land: SIGTERM, 0.25 s later, ends the process.
    assert time.monotonic() - paused_at < 1.0, f"stopped {time.monotonic() - paused_at:.2f} s after the pause"
    assert status(job) == Status.PENDING, "a worker pause gives its running jobs back"
    cancel_job(job.pk)  # or the resumed worker would run it again
    resume_worker(registry.id)
    follower = pool.pid.enqueue()
    wait_for(lambda: status(follower) == Status.COMPLETED, timeout=15)
    assert worker.terminate(timeout=20) == 0


@pytest.mark.parametrize(
    ("kill_grace", "settings"),
    [("0.5", {}), ("600", {"INTERRUPT_GRACE_SECONDS": 1})],
    ids=["after-the-kill-grace", "after-INTERRUPT_GRACE_SECONDS"],
)
def test_a_cancelled_handler_deaf_to_signals_is_killed(run_worker, tmp_path, kill_grace, settings) -> None:
    report = tmp_path / "deaf"
    job = pool.deaf.enqueue(str(report))
    env = {"DJJ_EXTRA_SETTINGS": json.dumps(settings)}
    worker = run_worker("--pool", "process", "--concurrency", "1", "--kill-grace", kill_grace, env=env)
    wait_for(lambda: lines(report), timeout=30)
    child = int(lines(report)[0])
    cancel_job(job.pk, by="alice")
    # SIGUSR1 and SIGTERM are blocked in the handler: only SIGKILL ends it, after the kill grace
    # or, if that is longer, once the interruption is INTERRUPT_GRACE_SECONDS old.
    wait_for(lambda: not alive(child), timeout=10)
    follower = pool.pid.enqueue()
    wait_for(lambda: status(follower) == Status.COMPLETED, timeout=15)
    assert status(job) == Status.CANCELLED
    assert worker.terminate(timeout=20) == 0


def test_a_child_killed_by_sigkill_fails_only_its_attempt(run_worker) -> None:
    dying = pool.die_once.enqueue()
    others = [pool.pid.enqueue() for _ in range(3)]
    worker = run_worker("--pool", "process", "--concurrency", "2")
    wait_for(lambda: status(dying) == Status.COMPLETED, timeout=30)
    row = Job.objects.get(pk=dying.pk)
    assert row.attempt == 2 and row.result == 2
    assert "died: killed by SIGKILL" in row.last_error.splitlines()[0], row.last_error[:300]
    wait_for(lambda: all(status(j) == Status.COMPLETED for j in others), timeout=15)
    assert worker.proc.poll() is None, "the worker survived its child"
    # Heartbeats keep the registry's children current: the dead one is gone, the other 4 runs counted.
    jobs_run = lambda: sum(c["jobs"] for c in WorkerRow.objects.get(pid=worker.pid).children)  # noqa: E731
    wait_for(lambda: jobs_run() == 4, timeout=10)
    assert worker.terminate(timeout=20) == 0


def test_a_timeout_fails_the_attempt_and_the_retry_succeeds(run_worker) -> None:
    job = pool.slow_first.using(timeout=1).enqueue(600.0)
    worker = run_worker("--pool", "process", "--concurrency", "1")
    wait_for(lambda: status(job) == Status.COMPLETED, timeout=30)
    row = Job.objects.get(pk=job.pk)
    assert row.attempt == 2 and row.result == 2
    assert row.last_error.startswith("TimeoutError: exceeded 1 s"), row.last_error[:200]
    worker.terminate()


def test_max_jobs_per_child_recycles_children(run_worker) -> None:
    jobs = [pool.pid.enqueue() for _ in range(6)]
    worker = run_worker("--pool", "process", "--concurrency", "1", "--max-jobs-per-child", "2", "--burst")
    assert worker.wait(timeout=60) == 0, worker.output()
    pids = Counter(Job.objects.get(pk=j.pk).result for j in jobs)
    assert sorted(pids.values()) == [2, 2, 2], pids


def test_shutdown_grace_running_out_stops_the_child_and_releases_its_job(run_worker, tmp_path) -> None:
    report = tmp_path / "sleep"
    job = pool.sleep_forever.enqueue(str(report))
    settings = {"SHUTDOWN_GRACE_SECONDS": 0.5}
    worker = run_worker("--pool", "process", "-c", "1", env={"DJJ_EXTRA_SETTINGS": json.dumps(settings)})
    wait_for(lambda: lines(report) or worker.proc.poll() is not None, timeout=30)
    assert worker.proc.poll() is None, worker.output()
    assert worker.terminate(timeout=20) == 0
    assert len(lines(report)) == 2, "the handler was interrupted"
    assert status(job) == Status.PENDING, "released, to run again"
    assert not alive(int(lines(report)[0]))


def test_children_end_with_a_killed_worker(run_worker) -> None:
    worker = run_worker("--pool", "process", "--concurrency", "2")
    registry = wait_for(lambda: WorkerRow.objects.filter(pid=worker.pid).first(), timeout=30)
    children = [entry["pid"] for entry in registry.children]
    assert len(children) == 2, "pre-forked, one per slot, listed at start"
    assert all(alive(pid) for pid in children)
    worker.kill()
    wait_for(lambda: not any(alive(pid) for pid in children), timeout=10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pool", "fork"], "--pool: 'fork' is not one of: thread, process"),
        (["--max-jobs-per-child", "5"], "--max-jobs-per-child: only applies to --pool process"),
        (["--pool", "process", "--kill-grace", "soon"], "--kill-grace: 'soon' is not a number of seconds"),
        (["--pool", "process", "--max-jobs-per-child", "0"], "--max-jobs-per-child: 0 is outside"),
    ],
)
def test_bad_pool_options_are_refused(args, message, worker_env) -> None:
    done = subprocess.run(
        [sys.executable, str(MANAGE), "runjobs", "--burst", *args],
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert message in done.stderr
