"""Web processes and workers through a real PgBouncer in transaction mode (issue 12).

Each test starts its own ``pgbouncer`` (``pool_mode = transaction``, a pool of
four server connections shared by every client, no prepared statement
support) on a spare port in front of the test database, then runs real
``manage.py runjobs`` processes whose ``default`` alias goes through it, and
``manage.py shell`` processes that enqueue, pause and resume through it as a
web process would. The workers LISTEN through a direct ``"direct"`` alias
(``LISTEN_DATABASE``); with ``LISTEN_DATABASE = None`` they poll and say so.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from demo import jobs as demo
from django.db import connection

from django_durable_jobs.models import Job, Status
from django_durable_jobs.models import Worker as WorkerRow

from ..conftest import MANAGE, ROOT, wait_for

PGBOUNCER = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")
#: Server connections PgBouncer may open: fewer than the clients, so they are shared.
POOL_SIZE = 4

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        PGBOUNCER is None, reason="no pgbouncer binary (apt-get install pgbouncer; .ci/run installs it)"
    ),
]


@dataclass
class Bouncer:
    """A running PgBouncer in front of the test database."""

    port: int
    proc: subprocess.Popen
    log: Path

    def env(self, **durable_jobs: Any) -> dict[str, str]:
        """Environment of a process whose ``default`` alias goes through PgBouncer.

        It also has the ``"direct"`` alias (the server itself), and ``durable_jobs``
        added to its ``DURABLE_JOBS``.
        """
        server = connection.settings_dict
        return {
            "DJJ_PG_HOST": "127.0.0.1",
            "DJJ_PG_PORT": str(self.port),
            "DJJ_PG_DIRECT_HOST": server["HOST"] or "127.0.0.1",
            "DJJ_PG_DIRECT_PORT": str(server["PORT"] or 5432),
            "DJJ_EXTRA_SETTINGS": json.dumps(durable_jobs),
        }

    def pools(self) -> dict[str, int]:
        """The test database's row of ``SHOW POOLS`` on PgBouncer's admin console."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname="pgbouncer",
            user=connection.settings_dict["USER"],
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,  # the console speaks the simple protocol only
        ) as console:
            cursor = console.execute("SHOW POOLS")
            names = [column.name for column in cursor.description or []]
            for row in cursor.fetchall():
                if row[0] == connection.settings_dict["NAME"]:
                    return dict(zip(names, row, strict=True))
        raise AssertionError("PgBouncer has no pool for the test database")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def pgbouncer() -> Iterator[Bouncer]:
    """PgBouncer on a spare port, in transaction mode, from its own config directory."""
    server = connection.settings_dict
    name, user = server["NAME"], server["USER"]
    home = Path(tempfile.mkdtemp(prefix="djj-pgbouncer-"))
    home.chmod(0o755)  # run as root, pgbouncer switches to 'nobody', who must read the files
    port = _free_port()
    (home / "users.txt").write_text(f'"{user}" ""\n')
    (home / "pgbouncer.ini").write_text(
        f"""[databases]
{name} = host={server["HOST"] or "127.0.0.1"} port={server["PORT"] or 5432} dbname={name}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {home}/users.txt
admin_users = {user}
pool_mode = transaction
default_pool_size = {POOL_SIZE}
max_client_conn = 500
"""
    )
    log = home / "pgbouncer.log"
    as_user = ["-u", "nobody"] if os.geteuid() == 0 else []  # it refuses to run as root
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(PGBOUNCER), *as_user, str(home / "pgbouncer.ini")], stdout=out, stderr=subprocess.STDOUT
        )
    bouncer = Bouncer(port, proc, log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"pgbouncer did not start:\n{log.read_text()}")
                time.sleep(0.05)
        yield bouncer
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def web(env: dict[str, str], code: str) -> dict[str, Any]:
    """Run ``code`` in a ``manage.py shell`` process (a web process): it prints one JSON line."""
    done = subprocess.run(
        [sys.executable, str(MANAGE), "shell", "--verbosity", "0", "--command", code],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def listening() -> list[str]:
    """application_name of each session on the test database whose last statement is a LISTEN."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = %s AND query LIKE 'LISTEN %%'",
            [connection.settings_dict["NAME"]],
        )
        return [row[0] for row in cursor.fetchall()]


def status_is(job_id: int, status: str) -> Callable[[], bool]:
    return lambda: Job.objects.get(pk=job_id).status == status


ENQUEUE = """
import json, time
from demo import jobs as demo
from django.db import connection
from django_durable_jobs import pause_queue
quick = []
for i in range(3):
    time.sleep(0.5)  # the workers are idle again: only a notification wakes them before POLL_SECONDS
    quick.append(demo.add.enqueue(i, 1).pk)
pause_queue("emails", by="pgbouncer-test")
held = demo.add.using(queue="emails").enqueue(20, 22).pk
fan = demo.nested.enqueue(3, 10).pk
print(json.dumps({"port": connection.settings_dict["PORT"], "quick": quick, "held": held, "fan": fan}))
"""

RESUME = """
import json
from django_durable_jobs import resume_queue
resume_queue("emails")
print(json.dumps({}))
"""


def test_jobs_queue_pause_and_fan_out_through_pgbouncer(pgbouncer: Bouncer, run_worker, worker_env) -> None:
    env = pgbouncer.env(LISTEN_DATABASE="direct", POLL_SECONDS=10, CONTROL_POLL_SECONDS=10)
    workers = [run_worker("--concurrency", "4", env=env) for _ in range(2)]
    wait_for(lambda: WorkerRow.objects.count() == 2)
    wait_for(lambda: len(listening()) == 2)
    assert listening() == ["djj-direct"] * 2, "each worker LISTENs once, on the direct alias"

    sent = web({**worker_env, **env}, ENQUEUE)
    assert sent["port"] == str(pgbouncer.port), "the web process went through PgBouncer"

    # Picked up at once, though POLL_SECONDS is 10: the NOTIFY sent through
    # PgBouncer reached the workers' direct LISTEN connections.
    for job_id in sent["quick"]:
        wait_for(status_is(job_id, Status.COMPLETED), timeout=8)
    quick = Job.objects.filter(pk__in=sent["quick"])
    latencies = sorted((j.started_at - j.created_at).total_seconds() for j in quick)
    assert [j.result for j in quick.order_by("pk")] == [1, 2, 3]
    assert latencies[-1] < 2.0, f"pick-up latencies {latencies} s: LISTEN did not wake the workers"

    # A fan-out whose children fan out themselves: 3 x sum of squares below 10.
    wait_for(status_is(sent["fan"], Status.COMPLETED), timeout=20)
    assert Job.objects.get(pk=sent["fan"]).result == 3 * 285
    assert Job.objects.filter(status=Status.COMPLETED).count() == 3 + 1 + 3 + 3 * 10

    # The paused queue's job waited; a resume through PgBouncer wakes the workers at once.
    held = Job.objects.get(pk=sent["held"])
    assert (held.status, held.attempt) == (Status.PENDING, 0)
    web({**worker_env, **env}, RESUME)
    resumed = time.monotonic()
    wait_for(status_is(sent["held"], Status.COMPLETED), timeout=5)
    assert Job.objects.get(pk=sent["held"]).result == 42
    waited = time.monotonic() - resumed

    pools = pgbouncer.pools()
    servers = pools["sv_active"] + pools["sv_idle"] + pools["sv_used"]
    assert servers <= POOL_SIZE < pools["cl_active"], f"clients did not share server connections: {pools}"
    for worker in workers:
        worker.terminate()
        output = worker.output()
        assert "Traceback" not in output and "database unavailable" not in output, output
    print(
        f"through PgBouncer: pick-up {latencies[-1] * 1000:.0f} ms at most, resume {waited * 1000:.0f} ms, "
        f"{pools['cl_active']} clients on {servers} server connections"
    )


def test_without_listen_database_the_worker_polls_and_says_so(pgbouncer: Bouncer, run_worker) -> None:
    worker = run_worker("--concurrency", "2", env=pgbouncer.env(LISTEN_DATABASE=None, POLL_SECONDS=0.5))
    wait_for(lambda: WorkerRow.objects.exists())
    job = demo.add.enqueue(2, 3)
    wait_for(status_is(job.pk, Status.COMPLETED), timeout=10)
    assert listening() == []
    worker.terminate()
    output = worker.output()
    line = "LISTEN_DATABASE is None: this worker does not LISTEN and polls for new work every 0.5 s"
    assert output.count(line) == 1, output
