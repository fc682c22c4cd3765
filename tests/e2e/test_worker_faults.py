"""Faults as users meet them: real ``runjobs`` processes against a database that misbehaves.

A database restart, an interruption landing inside a database call, a
handler stuck in a C call, values the database cannot store, a worker
started before its database: each test drives the fault and asserts the
invariant (no job loses an attempt, no slot is lost, the worker lives on),
never a timing.
"""

from __future__ import annotations

import ctypes.util
import json
import re
import selectors
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from demo import jobs as demo
from django.db import connection
from django.utils import timezone

from django_durable_jobs import PauseMode, cancel_job, pause_job
from django_durable_jobs.models import TERMINAL, Job, Status
from django_durable_jobs.models import Worker as WorkerRow

from ..conftest import MANAGE, ROOT, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def rows(jobs: list[Job]) -> list[Job]:
    return list(Job.objects.filter(pk__in=[j.pk for j in jobs]).order_by("pk"))


def settled(jobs: list[Job]) -> bool:
    """Every job is finished (or was reclaimed: a lost attempt is a verdict too)."""
    return all(j.status in TERMINAL or j.reclaims for j in rows(jobs))


def wait_settled(jobs: list[Job], timeout: float) -> None:
    try:
        wait_for(lambda: settled(jobs), timeout=timeout)
    except AssertionError:
        states = {j.pk: (j.name, j.status, j.attempt, j.reclaims, j.last_error[:120]) for j in rows(jobs)}
        raise AssertionError(f"jobs not finished within {timeout}s: {states}") from None


def failures(jobs: list[Job]) -> dict[int, str]:
    """Job id -> first line of the error of every job that did not complete."""
    return {
        j.pk: f"{j.status}: {j.last_error.splitlines()[0] if j.last_error else ''}"
        for j in rows(jobs)
        if j.status != Status.COMPLETED
    }


def plain_jobs(count: int) -> list[Job]:
    """Jobs that use the database, without retries: a broken connection fails them for good."""
    return demo.db_touch.using(retries=0).enqueue_many([((), {})] * count)


# --------------------------------------------------------------------------- 1. a database restart


@pytest.mark.postgres_only
def test_a_postgresql_restart_costs_no_job_an_attempt(run_worker) -> None:
    worker = run_worker("--concurrency", "2")
    warm = demo.db_nap.enqueue_many([((0.2,), {})] * 4)  # both job threads open a connection
    wait_settled(warm, timeout=20)
    assert not failures(warm)

    with connection.cursor() as cursor:  # what a server restart does to the worker's sessions
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchall(), "the worker's sessions were terminated"

    jobs = plain_jobs(20)
    wait_settled(jobs, timeout=30)
    assert failures(jobs) == {}, "jobs failed on connections the restart broke"
    worker.terminate()


@pytest.mark.postgres_only
def test_a_session_ended_inside_fan_out_costs_the_parent_no_attempt(run_worker, tmp_path: Path) -> None:
    """The error escapes ``fan_out()``'s transaction, whose connection Django has replaced by then."""
    worker = run_worker("--concurrency", "2")
    parent = demo.fan_out_after_restart.enqueue(str(tmp_path / "ended"), 3)
    wait_settled([parent], timeout=30)
    assert failures([parent]) == {}, "the parent failed on the session the server ended"
    row = Job.objects.get(pk=parent.pk)
    assert (row.result, row.attempt) == (0 + 1 + 4, 1)
    assert (tmp_path / "ended").exists()
    assert "lost its database connection; it will run again" in worker.output()
    worker.terminate()


# --------------------------------------------------------------------------- 2. interrupted mid-query


def test_an_aggressive_pause_inside_a_database_call_does_not_break_the_next_job(run_worker) -> None:
    """The interruption lands in the driver between sending a query and reading its result.

    With psycopg's pure-Python implementation (``pip install psycopg``, no
    ``[binary]``/``[c]``) nearly every pause lands there; the C implementation
    narrows the window so much that a test would seldom hit it. So the worker
    runs the pure-Python one (the variable is ignored on SQLite).
    """
    if connection.vendor == "postgresql" and ctypes.util.find_library("pq") is None:
        pytest.skip("psycopg's pure-Python implementation needs libpq, which is not installed")
    # One thread: the follow-ups run on the connection the pause landed in.
    worker = run_worker("--concurrency", "1", env={"PSYCOPG_IMPL": "python"})
    follow_ups: list[Job] = []
    for _ in range(4):  # the interruption lands at a random point: several times make the race likely
        nap = demo.db_nap.enqueue(5.0)
        wait_for(lambda nap=nap: Job.objects.get(pk=nap.pk).status == Status.RUNNING, timeout=10)
        time.sleep(0.3)  # inside its loop of database calls
        pause_job(nap.pk, PauseMode.AGGRESSIVE)
        batch = plain_jobs(3)
        wait_settled(batch, timeout=15)
        follow_ups += batch
    assert failures(follow_ups) == {}, "jobs after an aggressive pause failed on a broken connection"
    worker.terminate()


# --------------------------------------------------------------------------- 3. a handler stuck in C


def _settings(**values: object) -> dict[str, str]:
    return {"DJJ_EXTRA_SETTINGS": json.dumps(values)}


def test_a_handler_stuck_in_a_c_call_loses_its_slot(run_worker) -> None:
    """Cancelled or paused, a handler that never returns is abandoned after the grace period."""
    worker = run_worker("--concurrency", "1", env=_settings(INTERRUPT_GRACE_SECONDS=1))
    for take_away in (cancel_job, lambda pk: pause_job(pk, PauseMode.AGGRESSIVE)):
        stuck = demo.block.enqueue(10**6)  # time.sleep(): an exception raised into it never lands
        wait_for(lambda stuck=stuck: Job.objects.get(pk=stuck.pk).status == Status.RUNNING, timeout=10)
        take_away(stuck.pk)
        after = demo.add.enqueue(1, 2)
        try:
            wait_for(lambda after=after: Job.objects.get(pk=after.pk).status == Status.COMPLETED, timeout=10)
        except AssertionError:
            raise AssertionError(
                f"a job after the stuck one ({Job.objects.get(pk=stuck.pk).status}) never ran: "
                f"it is still {Job.objects.get(pk=after.pk).status}"
            ) from None
    worker.terminate()
    output = worker.output()
    assert "abandon" in output.lower(), f"no word of the abandoned threads in:\n{output[-2000:]}"


def test_a_worker_with_too_many_abandoned_threads_restarts_itself(run_worker) -> None:
    """Abandoned threads pile up until the process ends: past the limit the worker starts afresh."""
    settings = _settings(INTERRUPT_GRACE_SECONDS=0.5, MAX_ABANDONED_THREADS=0)
    worker = run_worker("--concurrency", "1", "--worker-id", "restarting", env=settings)
    stuck = demo.block.enqueue(10**6)
    wait_for(lambda: Job.objects.get(pk=stuck.pk).status == Status.RUNNING, timeout=10)
    first_start = WorkerRow.objects.get(pk="restarting").started_at
    cancel_job(stuck.pk)
    wait_for(lambda: WorkerRow.objects.get(pk="restarting").started_at > first_start, timeout=15)
    after = demo.add.enqueue(1, 2)
    wait_for(lambda: Job.objects.get(pk=after.pk).status == Status.COMPLETED, timeout=10)
    assert worker.proc.poll() is None, "the worker exited instead of restarting"
    worker.terminate()
    assert "restarting" in worker.output()


# --------------------------------------------------------------------------- 4. a huge RetryAfter


def test_a_huge_retry_after_waits_a_year_at_most(run_worker) -> None:
    job = demo.retry_forever.enqueue()
    worker = run_worker("--concurrency", "1")
    wait_for(lambda: Job.objects.get(pk=job.pk).last_error, timeout=15)
    job.refresh_from_db()
    first_line = job.last_error.splitlines()[0]
    assert (job.status, job.attempt, job.reclaims) == (Status.PENDING, 1, 0), first_line
    assert "RetryAfter" in first_line, first_line
    now = timezone.now()
    assert now + timedelta(days=300) < job.run_after <= now + timedelta(days=366), job.run_after
    worker.terminate()


# --------------------------------------------------------------------------- 5. NUL characters


def test_nul_characters_fail_the_job_with_a_readable_error(run_worker) -> None:
    result = demo.nul_result.enqueue()
    error = demo.nul_error.using(retries=0).enqueue()
    worker = run_worker("--concurrency", "2")
    wait_settled([result, error], timeout=15)
    result.refresh_from_db()
    error.refresh_from_db()
    for job in (result, error):
        assert (job.status, job.attempt, job.reclaims) == (Status.FAILED, 1, 0), (job.name, job.last_error)
    assert "NUL" in result.last_error.splitlines()[0], result.last_error
    assert error.last_error.startswith("RuntimeError: bad\\x00byte"), error.last_error
    worker.terminate()


# --------------------------------------------------------------------------- 6. the database comes late


class Forwarder(threading.Thread):
    """Forwards TCP connections on ``listener`` to ``target`` until stopped."""

    def __init__(self, listener: socket.socket, target: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.listener, self.target = listener, target
        self.stopping = threading.Event()

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        self.listener.listen()
        selector.register(self.listener, selectors.EVENT_READ)
        peers: dict[socket.socket, socket.socket] = {}
        while not self.stopping.is_set():
            for key, _ in selector.select(timeout=0.1):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                if sock is self.listener:
                    client, _ = sock.accept()
                    upstream = socket.create_connection(self.target)
                    peers[client], peers[upstream] = upstream, client
                    selector.register(client, selectors.EVENT_READ)
                    selector.register(upstream, selectors.EVENT_READ)
                    continue
                if sock not in peers:  # its peer closed it earlier in this round
                    continue
                try:
                    data = sock.recv(65536)
                    if data:
                        peers[sock].sendall(data)
                        continue
                except OSError:
                    pass
                for end in (sock, peers.pop(sock)):
                    peers.pop(end, None)
                    selector.unregister(end)
                    end.close()
        for sock in [self.listener, *peers]:
            sock.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)


@pytest.mark.postgres_only
def test_a_worker_started_before_its_database_waits_for_it(worker_env, tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    port = listener.getsockname()[1]
    log = tmp_path / "runjobs.log"
    env = {**worker_env, "DJJ_PG_HOST": "127.0.0.1", "DJJ_PG_PORT": str(port)}
    settings = connection.settings_dict
    forwarder = Forwarder(listener, (settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)))
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(MANAGE), "runjobs", "--concurrency", "1"],
            env=env,
            cwd=str(ROOT),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    waiting = re.compile(r"waiting for (the )?database", re.IGNORECASE)
    try:
        # Until it says it waits, or gives up; a busy machine may take seconds to start Django.
        wait_for(lambda: proc.poll() is not None or waiting.search(log.read_text()), timeout=60)
        if proc.poll() is not None:
            lines = log.read_text().strip().splitlines() or [""]
            last = next((line for line in reversed(lines) if "Error" in line), lines[-1])
            raise AssertionError(f"runjobs exited ({proc.returncode}) while the database was down: {last}")
        time.sleep(2)  # and goes on waiting
        assert proc.poll() is None, log.read_text()
        assert not WorkerRow.objects.exists()

        forwarder.start()  # the database is up
        wait_for(WorkerRow.objects.exists, timeout=30)
        job = demo.add.enqueue(2, 3)
        wait_for(lambda: Job.objects.get(pk=job.pk).status == Status.COMPLETED, timeout=30)
        assert Job.objects.get(pk=job.pk).result == 5
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if forwarder.is_alive():
            forwarder.stop()
        else:
            listener.close()
