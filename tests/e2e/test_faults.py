"""Fault injection: workers killed, every connection cut, pauses of all kinds, at once.

Three real ``runjobs`` processes run plain jobs, three-step workflows and
fan-outs, all without retries, while the test SIGKILLs a worker every few
seconds, terminates every worker's database connection (what a server
restart does to them, without stopping the server other tests share), and
pauses and resumes jobs, the queue and workers in both modes. Nothing may be
lost, fail, complete twice or re-run a checkpointed step.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from django_durable_jobs import (
    DurableJobsError,
    PauseMode,
    pause_job,
    pause_queue,
    pause_worker,
    paused_jobs,
    resume_job,
    resume_queue,
    resume_worker,
)
from django_durable_jobs.models import TERMINAL, Checkpoint, Job, QueueState, Status, Worker
from tests.conftest import MANAGE, ROOT, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]

QUEUE = "faults"
FAULT_SECONDS = 20.0
SQUARES = 6


class Fleet:
    """Three workers; a killed one is replaced by a new process at once."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen] = {}
        self.count = 0

    def start(self) -> str:
        self.count += 1
        worker_id = f"fault-{self.count}"
        log = open(self.logs / f"{worker_id}.log", "w")  # noqa: SIM115 - closed with the process
        self.procs[worker_id] = subprocess.Popen(
            [sys.executable, str(MANAGE), "runjobs", "-q", QUEUE, "-c", "4", "--worker-id", worker_id],
            env=self.env,
            cwd=str(ROOT),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return worker_id

    def live(self) -> list[str]:
        return [worker_id for worker_id, proc in self.procs.items() if proc.poll() is None]

    def kill_one(self, rng: random.Random) -> None:
        victim = rng.choice(self.live())
        self.procs[victim].send_signal(signal.SIGKILL)
        self.procs[victim].wait(10)
        self.start()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def output(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.logs.glob("*.log")))


def terminate_worker_connections() -> int:
    """What a PostgreSQL restart does to every other session of this database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def running_job(rng: random.Random) -> int | None:
    ids = list(Job.objects.filter(queue=QUEUE, status=Status.RUNNING).values_list("id", flat=True)[:50])
    return rng.choice(ids) if ids else None


def quietly(action, *args, **kwargs) -> None:  # noqa: ANN001
    """Faults aim at moving targets: a job may finish before its pause lands."""
    try:
        action(*args, **kwargs)
    except DurableJobsError:
        pass


def test_nothing_lost_failed_or_repeated_under_faults(worker_env: dict[str, str], tmp_path: Path) -> None:
    from demo.jobs import nap, nap_fan, nap_flow
    from demo.models import SignalLog, StepLog

    rng = random.Random(os.environ.get("DJJ_FAULT_SEED", "7"))
    fleet = Fleet({**worker_env, "DJJ_SIGNAL_LOG": "1"}, tmp_path)
    for _ in range(3):
        fleet.start()
    plain = nap.using(queue=QUEUE, retries=0)
    flows = nap_flow.using(queue=QUEUE, retries=0)
    fans = nap_fan.using(queue=QUEUE, retries=0)
    enqueued: list[Job] = []
    deadline = time.monotonic() + FAULT_SECONDS
    tick = 0
    try:
        while time.monotonic() < deadline:
            tick += 1
            enqueued += plain.enqueue_many([((0.2,), {}) for _ in range(12)])
            enqueued += [flows.enqueue(0.15) for _ in range(2)]
            enqueued.append(fans.enqueue(SQUARES, 0.1))
            if tick % 6 == 0:
                fleet.kill_one(rng)
            if tick == 12:
                terminate_worker_connections()
            if tick % 4 == 1 and (job_id := running_job(rng)):
                quietly(pause_job, job_id, rng.choice(list(PauseMode)), by="faults")
            if tick % 4 == 3:
                for job in paused_jobs(QUEUE):
                    quietly(resume_job, job.pk)
            if tick % 10 == 5:
                quietly(pause_queue, QUEUE, PauseMode.AGGRESSIVE if tick % 20 == 5 else PauseMode.GRACEFUL)
            if tick % 10 == 7:
                quietly(resume_queue, QUEUE)
            if tick % 10 == 8 and (live := fleet.live()):
                quietly(pause_worker, rng.choice(live), rng.choice(list(PauseMode)), by="faults")
            if tick % 10 == 9:
                for worker in Worker.objects.filter(paused=True):
                    quietly(resume_worker, worker.pk)
            time.sleep(0.4)
        quietly(resume_queue, QUEUE)
        for worker in Worker.objects.filter(paused=True):
            quietly(resume_worker, worker.pk)

        def finished() -> bool:
            for job in paused_jobs(QUEUE):  # a pause may have landed after the last resume
                quietly(resume_job, job.pk)
            return not Job.objects.filter(queue=QUEUE).exclude(status__in=TERMINAL).exists()

        wait_for(finished, timeout=40, interval=0.5)
    finally:
        fleet.stop()
    output = fleet.output()

    jobs = Job.objects.filter(queue=QUEUE)
    not_completed = list(jobs.exclude(status=Status.COMPLETED).values("id", "name", "status", "last_error"))
    assert not not_completed, f"{len(not_completed)} job(s) did not complete: {not_completed[:5]}"
    assert not QueueState.objects.filter(queue=QUEUE, paused=True).exists()

    completions = Counter(
        SignalLog.objects.filter(name="job_completed", job_id__in=jobs.values("id")).values_list(
            "job_id", flat=True
        )
    )
    twice = [job_id for job_id, count in completions.items() if count > 1]
    assert not twice, f"completed more than once: {twice[:10]}"

    for job in jobs.filter(name="demo.nap_flow"):
        saved = dict(Checkpoint.objects.filter(job=job).values_list("index", "created_at"))
        assert sorted(saved) == [0, 1, 2]
        for index, name in enumerate(("one", "two", "three")):
            again = StepLog.objects.filter(job_id=job.pk, step=name, created_at__gt=saved[index])
            assert not again.exists(), f"step {name} of job {job.pk} ran after its checkpoint"
        assert job.result == ["one", "two", "three"]

    parents = jobs.filter(name="demo.nap_fan")
    assert {job.result for job in parents} == {sum(i * i for i in range(SQUARES))}
    assert not parents.annotate(n=Count("fanouts")).exclude(n=1).exists()

    assert "deadlock detected" not in output
    assert len(enqueued) == jobs.filter(fanout__isnull=True).count()
