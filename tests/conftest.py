"""Test setup: the database comes from DJJ_DB (sqlite or postgres).

The suite has three layers: ``unit`` (no database), ``db`` (the database, no
worker process) and ``e2e`` (real ``runjobs`` processes, a real browser).

Where PostgreSQL is asked for but unreachable, the run is skipped with a
plain message, unless DURABLE_JOBS_REQUIRE_POSTGRES=1 (CI sets it), which
turns a missing server into a failure.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "testproject" / "manage.py"


def _postgres_reachable() -> bool:
    host = os.environ.get("DJJ_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("DJJ_PG_PORT", "5432"))
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("DJJ_DB", "sqlite") == "postgres" and not _postgres_reachable():
        if os.environ.get("DURABLE_JOBS_REQUIRE_POSTGRES") == "1":
            raise pytest.UsageError(
                "DJJ_DB=postgres and DURABLE_JOBS_REQUIRE_POSTGRES=1, but no PostgreSQL server "
                "answers at DJJ_PG_HOST:DJJ_PG_PORT (127.0.0.1:5432)."
            )
        config.option.markexpr = "not __no_postgres__"  # deselects everything below
        config._durable_jobs_no_pg = True  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in item.keywords:  # one pytest-xdist worker, so one Chromium, runs them all
            item.add_marker(pytest.mark.xdist_group("browser"))
    if getattr(config, "_durable_jobs_no_pg", False):
        skip = pytest.mark.skip(reason="no PostgreSQL server reachable: PostgreSQL half not run")
        for item in items:
            item.add_marker(skip)
        return
    from django.db import connection

    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (several worker processes / LISTEN)")
        for item in items:
            if "postgres_only" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_modify_db_settings_xdist_suffix(request: pytest.FixtureRequest) -> None:
    """Each pytest-xdist worker (gw0, gw1...) gets its own test databases.

    The settings name test databases after the process already, but
    DJJ_TEST_DB_NAME (tox sets it) names one for every process. pytest-django
    would append ``_gw0``; here a SQLite file keeps its extension
    (``test-gw0.sqlite3``), so .gitignore still covers a file a killed run leaves.
    """
    from django.conf import settings

    worker = getattr(request.config, "workerinput", {}).get("workerid")
    if not worker:
        return
    for db in settings.DATABASES.values():
        test = db.setdefault("TEST", {})
        if test.get("MIRROR"):
            continue
        if db["ENGINE"] == "django.db.backends.sqlite3":
            name = test.get("NAME")
            if not name or name == ":memory:" or name.startswith("file:"):
                continue  # in memory: private to the process anyway
            path = Path(name)
            test["NAME"] = str(path.with_name(f"{path.stem}-{worker}{path.suffix}"))
        else:
            test["NAME"] = f"{test.get('NAME') or 'test_' + db['NAME']}_{worker}"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The test databases; on PostgreSQL, no session is left on them when they are dropped.

    Otherwise DROP DATABASE fails ("is being accessed by other users") and the
    database stays behind. A process a test just killed may hold a session for
    a moment; a connection a test leaked holds one for good: it is terminated
    after a few seconds, with a warning that names it.
    """
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for alias in connections:
            connection = connections[alias]
            if connection.vendor == "postgresql" and not connection.settings_dict["TEST"].get("MIRROR"):
                left = _end_other_sessions(connection)
                if left:
                    warnings.warn(f"sessions left on the test database, terminated: {left}", stacklevel=1)


@pytest.fixture(autouse=True)
def _close_connections_of_asgiref_thread() -> Iterator[None]:
    """An ORM call made through ``sync_to_async`` outside ``async_to_sync`` (say
    ``asyncio.run(job.aenqueue())``) runs in asgiref's one shared thread: its
    connection would outlive the test, and keep the test database from being dropped."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    executor = SyncToAsync.single_thread_executor
    if executor._threads:  # the thread exists once something ran there
        executor.submit(connections.close_all).result(timeout=30)


def _end_other_sessions(connection: Any, grace: float = 5.0) -> list[tuple]:
    """Wait up to ``grace`` seconds for the other sessions on this database to end, then end them."""
    others = (
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )
    deadline = time.monotonic() + grace
    with connection.cursor() as cursor:
        while True:
            cursor.execute(f"SELECT application_name, state, left(query, 200) {others}")
            left = cursor.fetchall()
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if left:
            cursor.execute(f"SELECT pg_terminate_backend(pid) {others}")
    return left


@pytest.fixture
def isolated_schedules() -> Iterator[None]:
    """No schedule registered during the test, and the registered ones back after it."""
    from django_durable_jobs.scheduling import firing

    saved = firing.all_schedules()
    firing._clear_schedules()
    yield
    firing._clear_schedules()
    firing._schedules.update(saved)


@pytest.fixture
def durable_tasks(settings: Any) -> None:
    """Django's Tasks framework on durable jobs, with the queues the tests use."""
    settings.TASKS = {
        "default": {
            "BACKEND": "django_durable_jobs.backend.DurableJobsBackend",
            "QUEUES": ["default", "emails"],
        }
    }


class WorkerProcess:
    """A real ``manage.py runjobs`` process on the test database.

    Its output goes to a temporary file, not a pipe: nothing reads a pipe while
    the worker runs, so a chatty worker would fill it and block in a write.
    """

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self._log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            [sys.executable, str(MANAGE), "runjobs", *args],
            env=env,
            cwd=str(ROOT),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        self._log.close()

    def output(self) -> str:
        """What the worker has written so far."""
        self._log.seek(0)
        return self._log.read()


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Environment that points a subprocess at this test run's database."""
    from django.db import connection

    env = dict(os.environ)
    env["DJJ_DB"] = "postgres" if connection.vendor == "postgresql" else "sqlite"
    env["DJJ_DB_NAME"] = str(connection.settings_dict["NAME"])
    env.setdefault("DJJ_FAST_LEASES", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def run_worker(worker_env: dict[str, str]) -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``runjobs`` processes with the given arguments; all are stopped at teardown."""
    started: list[WorkerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        process = WorkerProcess(list(args), {**worker_env, **(env or {})})
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(timeout=10)
        process.close()


def wait_for(predicate: Callable[[], object], timeout: float = 30, interval: float = 0.05) -> object:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)
