"""Scale figures of django-durable-jobs: drains next to big tables, many workers, a sustained run.

Run from the repository root (PostgreSQL at ``DJJ_PG_HOST``/``PORT``/``USER``,
default ``postgres@127.0.0.1:5432``)::

    python benchmarks/scale.py                          # every scenario, ~5 minutes
    python benchmarks/scale.py --only delayed,history --jobs 10000
    python benchmarks/scale.py --code HEAD --prev be42f9f   # a commit, and an earlier one next to it
    python benchmarks/scale.py --only none --sustained 3    # only the sustained run (3 minutes)

Each scenario drains ``--jobs`` runnable no-op jobs (20,000) with real
``manage.py runjobs`` processes while the job table also holds rows that are
not runnable (filled by SQL, ``INSERT ... SELECT generate_series``), and is
reported as a ratio to the plain drains run just before and just after it (the
mean of the two): on a shared, noisy machine absolute rates say little, ratios
do. Scenarios (``--only``):

``delayed``       200,000 pending jobs due tomorrow (``delayed`` set, as the app writes them),
                  same priority and lower ids than the runnable ones.
``delayed-old``   the same rows with ``delayed`` false: a pending future row in the claim's
                  index, what the claim cost before the ``delayed`` mark (the "before" figure).
``history``       1,000,000 completed jobs.
``other-queue``   ``runjobs -q small`` draining queue ``small`` next to 200,000 runnable jobs in
                  queue ``big`` that no worker serves.
``paused-queue``  200,000 pending jobs of a paused queue ahead; the worker serves every queue.
``paused-type``   200,000 pending jobs of a paused job type ahead, in the same queue.
``prune``         a drain while ``durablejobs prune --older-than 12h`` deletes 1,000,000 completed
                  rows (``--history``); before the drains, that prune alone is timed (rows/s).
``procs8``        8 ``runjobs -c 8`` processes against one database vs the 1 ``runjobs -c 8``
                  of the baseline: total throughput.
``procs8c1``      8 ``runjobs -c 1`` processes (the baseline's 8 slots, spread over 8 processes).

Every drain starts its workers with ``--paused``, waits until all have
registered, then resumes them at once (one UPDATE and a control NOTIFY), so
throughput is the job count over the first ``started_at`` to the last
``finished_at`` of the runnable jobs, with every process running. Before the
workers start, the claim statement of the code under test (captured from its
storage engine, not copied here) is run under ``EXPLAIN (ANALYZE, BUFFERS)``
in a rolled-back transaction, together with the statements the claim runs
before it in the same transaction (the stager of due delayed jobs): "claim
bufs" is their shared buffers hit and read. While the workers drain, the
active backends' wait events are sampled from ``pg_stat_activity`` every
100 ms: a convoy on an advisory lock shows as ``Lock:advisory`` with the
lock's key (``"jobs"``: the claim lock pauses take exclusively; ``"limt"``: the
lock of claims that look for concurrency-limited jobs), one on NOTIFY's
commit-time lock as ``Lock:object``.

``--code DIR|REV`` is the code under test (default: this checkout's working
tree; a git revision is exported with ``git archive`` to a temporary
directory, which keeps the figures stable while the working tree changes).
``--prev DIR|REV`` also runs a baseline and the "due tomorrow" scenario with
an earlier version, in its own database (older schemas have no ``delayed``
column: their future rows always sit in the claim's index).

``--sustained MINUTES`` (not run by default) offers 70 % of a measured drain
rate (``--sustained-load 0.7``, or a fixed ``--sustained-rate``) to one
``runjobs -c 8`` for that long on a
dedicated cluster with production defaults, autovacuum on (``pg_createcluster
15 djjbench -p 5439``, created and started if missing, stopped again if this
script started it; the main cluster's configuration is never touched), and
every 10 s prints
throughput, pick-up latency p50/p99, the backlog, one claim's rows and
buffers, table and index sizes, dead tuples, autovacuum runs (and whether one
is running), the WAL written per second and the checkpoints begun in the
window, and the machine's load; then each minute's throughput and p99,
and the last minute against the first.
By default the workers keep completed jobs a week, so the table holds every
job of the run; ``--sustained-retention SECONDS`` makes them keep completed
jobs that long and prune as they run (every quarter of it, at most a minute),
as a busy production queue would be set up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import _live, load_text, process, scan_logs, stop_process

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
JOB = "durable_jobs_job"
WORKER = "durable_jobs_worker"
WORK_CHANNEL = "durable_jobs_work"
CONTROL_CHANNEL = "durable_jobs_control"
NOOP = "demo.noop"
SCENARIOS = (
    "delayed",
    "delayed-old",
    "history",
    "other-queue",
    "paused-queue",
    "paused-type",
    "prune",
    "procs8",
    "procs8c1",
)
SUSTAINED_CLUSTER = ("15", "djjbench", 5439)


# --------------------------------------------------------------------------- databases and code


@dataclass(frozen=True)
class Db:
    name: str
    host: str = os.environ.get("DJJ_PG_HOST", "127.0.0.1")
    port: int = int(os.environ.get("DJJ_PG_PORT", "5432"))
    user: str = os.environ.get("DJJ_PG_USER", "postgres")

    def connect(self, dbname: str | None = None) -> Any:
        """An autocommit connection with client-side binding, as Django's backend uses."""
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=dbname or self.name,
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        )


@dataclass(frozen=True)
class Code:
    """A checkout of django-durable-jobs whose testproject runs the workers."""

    label: str
    root: Path

    @property
    def manage(self) -> Path:
        return self.root / "testproject" / "manage.py"

    def env(self, db: Db) -> dict[str, str]:
        env = {
            **os.environ,
            "DJJ_DB": "postgres",
            "DJJ_DB_NAME": db.name,
            "DJJ_PG_HOST": db.host,
            "DJJ_PG_PORT": str(db.port),
            "DJJ_PG_USER": db.user,
            "DJANGO_DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "testproject.settings",
            "PYTHONPATH": os.pathsep.join([str(self.root), str(self.root / "testproject")]),
        }
        env.pop("DJJ_EXTRA_SETTINGS", None)
        return env

    def manage_cmd(self, *args: str) -> list[str]:
        return [PYTHON, str(self.manage), *args]


def resolve_code(spec: str, tmp: Path) -> Code:
    """A directory as is, or a git revision of this repository exported with ``git archive``."""
    path = Path(spec)
    if path.is_dir():
        return Code(label=describe_checkout(path), root=path.resolve())
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", spec], capture_output=True, text=True, check=True
    ).stdout.strip()
    target = tmp / f"code-{rev}"
    target.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", rev], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {rev} failed")
    return Code(label=f"{rev} (git archive)", root=target)


def describe_checkout(path: Path) -> str:
    git = ["git", "-C", str(path)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return str(path)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    )
    return f"{path} at {head.stdout.strip()}" + (" + uncommitted changes" if dirty.stdout.strip() else "")


def create_database(db: Db, code: Code) -> None:
    """Drop and create ``db`` and migrate it with ``code``'s migrations."""
    with db.connect("postgres") as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {db.name}")
    subprocess.run(code.manage_cmd("migrate", "-v", "0"), env=code.env(db), cwd=code.root, check=True)


def job_tables(conn: Any) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE tablename LIKE 'durable\\_jobs\\_%'"
    ).fetchall()
    return sorted(row[0] for row in rows)


_columns: dict[tuple[str, int, str], bool] = {}


def has_column(conn: Any, column: str) -> bool:
    key = (conn.info.dbname, conn.info.port, column)
    if key not in _columns:
        row = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
            [JOB, column],
        ).fetchone()
        _columns[key] = row is not None
    return _columns[key]


def reset(conn: Any) -> None:
    conn.execute(f"TRUNCATE {', '.join(job_tables(conn))} RESTART IDENTITY CASCADE")


def insert_jobs(
    conn: Any,
    n: int,
    *,
    name: str = NOOP,
    queue: str = "default",
    status: str = "pending",
    due: str = "now()",
    delayed: bool = False,
    priority: int = 0,
) -> int:
    """``n`` job rows in one ``INSERT ... SELECT generate_series``; returns the first id.

    A completed row gets the timestamps and attempt of a finished job.
    """
    first = conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {JOB}").fetchone()[0]
    columns = {
        "name": "%(name)s",
        "queue": "%(queue)s",
        "priority": "%(priority)s",
        "status": "%(status)s",
        "args": "'[]'::jsonb",
        "kwargs": "'{}'::jsonb",
        "last_error": "''",
        "run_after": due,
        "attempt": "0",
        "max_retries": "0",
        "reclaims": "0",
        "paused_by": "''",
        "pause_reason": "''",
        "pause_mode": "''",
        "created_at": "now()",
        "updated_at": "now()",
    }
    if status == "completed":
        columns.update(
            attempt="1",
            result="'null'::jsonb",
            worker_id="'scale-history'",
            started_at="now() - interval '1 day'",
            finished_at="now() - interval '1 day' + interval '1 ms'",
            created_at="now() - interval '1 day'",
            run_after="now() - interval '1 day'",
        )
    for column, value in (("snoozes", "0"), ("progress_message", "''"), ("held", "false")):
        if has_column(conn, column):  # NOT NULL columns of later schemas
            columns[column] = value
    if has_column(conn, "delayed"):
        columns["delayed"] = "%(delayed)s"
    elif delayed:
        raise RuntimeError("this schema has no 'delayed' column")
    conn.execute(
        f"INSERT INTO {JOB} ({', '.join(columns)}) SELECT {', '.join(columns.values())} "
        "FROM generate_series(1, %(n)s)",
        {"name": name, "queue": queue, "priority": priority, "status": status, "delayed": delayed, "n": n},
    )
    return int(first)


def vacuum_analyze(conn: Any) -> None:
    """What autovacuum would soon do after a bulk load (it is off on the shared server)."""
    conn.execute(f"VACUUM (ANALYZE) {JOB}")


# --------------------------------------------------------------------------- the claim's plan


class _RollBack(Exception):
    """Raised after the captured claim, to roll its transaction back."""


class _Recorder:
    """A Django execute wrapper that records every statement with its parameters."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, list[Any] | None]] = []

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.statements.append((sql, None if params is None else list(params)))
        return execute(sql, params, many, context)


def capture_claims(shapes: list[dict[str, Any]]) -> list[list[tuple[str, list[Any] | None]]]:
    """In a process running the code under test: the statements of one claim of each shape.

    Each shape is ``{"queues": [...] or None, "concurrency": N}``; the limit
    is what its worker asks for with prefetch (``concurrency + PREFETCH``).
    The claim is the one a worker calls (``state.execution.claim``, which
    also decides, from the registered jobs, whether concurrency-limited jobs
    are looked for), run inside an outer transaction that is rolled back.
    Returns, for each shape, every statement with its parameters.
    """
    import django

    django.setup()
    from django.db import connections, transaction

    from django_durable_jobs.conf import jobs_settings
    from django_durable_jobs.state.execution import claim
    from django_durable_jobs.storage import alias

    using = alias()
    captured = []
    for shape in shapes:
        recorder = _Recorder()
        limit = shape["concurrency"] + getattr(jobs_settings, "PREFETCH", 0)
        try:
            with transaction.atomic(using=using), connections[using].execute_wrapper(recorder):
                claim(using, "scale-explain", shape["queues"], limit)
                raise _RollBack
        except _RollBack:
            pass
        if not any(is_claim(sql) for sql, _ in recorder.statements):
            raise RuntimeError("no claim statement seen: the claim changed shape")
        captured.append(recorder.statements)
    return captured


def is_claim(sql: str) -> bool:
    """A statement that marks jobs running (the stager and locks are the others)."""
    return "status = 'running'" in sql


def claim_statements(
    code: Code, db: Db, shapes: list[dict[str, Any]]
) -> list[list[tuple[str, list[Any] | None]]]:
    """:func:`capture_claims` run by ``code`` in a subprocess (its own Django, its own engine)."""
    out = subprocess.run(
        [PYTHON, str(Path(__file__).resolve()), "--capture-claims", json.dumps(shapes)],
        env=code.env(db),
        cwd=code.root,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"capturing the claim failed:\n{out.stderr[-3000:]}")
    return [[(sql, params) for sql, params in shape] for shape in json.loads(out.stdout.splitlines()[-1])]


@dataclass
class Plan:
    buffers: int  # shared hit + read, every statement of the claim's transaction
    stage_buffers: int  # of the statements that claim nothing (the stager), included above
    ms: float
    removed: int  # "Rows Removed by Filter", summed over the claim statements' nodes
    claimed: int = 0  # rows the claim took
    statements: int = 0  # statements explained
    indexes: list[str] = field(default_factory=list)

    def indexes_text(self) -> str:
        return ", ".join(dict.fromkeys(self.indexes)) or "-"


def explain(conn: Any, statements: list[tuple[str, list[Any] | None]]) -> Plan:
    """Run the claim's transaction under EXPLAIN (ANALYZE, BUFFERS), rolled back."""
    plan = Plan(0, 0, 0.0, 0)
    with conn.transaction(force_rollback=True):
        for sql, params in statements:
            verb = sql.lstrip().split(None, 1)[0].upper()
            if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK"):  # Django's nesting: one transaction here
                continue
            if verb not in ("UPDATE", "WITH", "DELETE", "INSERT"):
                conn.execute(sql, params)
                continue
            plan.statements += 1
            row = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()
            doc = row[0][0] if isinstance(row[0], list) else json.loads(row[0])[0]
            top = doc["Plan"]
            buffers = int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0))
            plan.buffers += buffers
            plan.ms += float(doc.get("Execution Time", 0.0))
            if is_claim(sql):
                plan.claimed += int(top.get("Actual Rows", 0))
                for node in walk(top):
                    plan.removed += int(node.get("Rows Removed by Filter", 0))
                    if "Index Name" in node:
                        plan.indexes.append(node["Index Name"])
            else:
                plan.stage_buffers += buffers
    return plan


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from walk(child)


# --------------------------------------------------------------------------- workers and drains


@dataclass
class Scenario:
    name: str
    label: str
    fill: Callable[[Any], object] | None = None
    queue: str = "default"  # of the runnable jobs
    worker_queues: list[str] | None = None  # runjobs -q (one pool)
    processes: int = 1
    concurrency: int = 8
    pauses: list[list[str]] = field(default_factory=list)  # manage.py durablejobs ... commands
    extra_plans: list[tuple[str, list[str] | None]] = field(default_factory=list)
    during: list[str] | None = None  # a manage.py durablejobs command run while the workers drain
    settings: dict[str, Any] = field(default_factory=dict)  # DURABLE_JOBS of the workers

    def workers_text(self) -> str:
        queues = "".join(f" -q {q}" for q in self.worker_queues or [])
        return f"{self.processes} x -c {self.concurrency}{queues}"


@dataclass
class Run:
    scenario: Scenario
    code: Code
    rate: float
    plan: Plan
    extra: list[tuple[str, Plan]]
    waits: Counter[str]
    samples: int
    seconds: float
    baseline: float | None = None
    baseline_buffers: int | None = None

    @property
    def is_baseline(self) -> bool:
        return self.scenario.name == "baseline"


@contextmanager
def workers(code: Code, db: Db, scenario: Scenario, logdir: Path, *, paused: bool) -> Iterator[list[Any]]:
    """``scenario.processes`` runjobs processes; SIGTERM to all at once on the way out."""
    cmd = code.manage_cmd("runjobs", "-c", str(scenario.concurrency), "-v", "0")
    for queue in scenario.worker_queues or []:
        cmd += ["-q", queue]
    if paused:
        cmd.append("--paused")
    env = code.env(db)
    if scenario.settings:
        env["DJJ_EXTRA_SETTINGS"] = json.dumps(scenario.settings)
    with ExitStack() as stack:
        procs = [
            stack.enter_context(process(cmd, env, logdir / f"{scenario.name}-{i}.log"))
            for i in range(scenario.processes)
        ]
        try:
            yield procs
        finally:
            for proc in procs:  # all at once: each shuts down while the others do
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    stop_process(proc, signal.SIGKILL)


def wait_registered(conn: Any, procs: list[Any], *, paused: bool, timeout: float = 180) -> None:
    pids = [p.pid for p in procs]
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute(
            f"SELECT count(*) FROM {WORKER} WHERE pid = ANY(%s) AND paused = %s AND stopped_at IS NULL",
            [pids, paused],
        ).fetchone()
        if row[0] == len(pids):
            return
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"runjobs exited early with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {row[0]} of {len(pids)} workers registered")
        time.sleep(0.1)


def wait_held(conn: Any, timeout: float = 120) -> None:
    """Wait until the (paused) workers have held the paused queues' and job types' ready rows."""
    if not has_column(conn, "held"):
        return  # an earlier version: nothing is ever held
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = conn.execute(
            f"""SELECT count(*) FROM {JOB} WHERE status = 'pending' AND NOT delayed
                AND (queue IN (SELECT queue FROM durable_jobs_queuestate WHERE paused)
                     OR name IN (SELECT name FROM durable_jobs_jobtypestate WHERE paused))"""
        ).fetchone()[0]
        if not left:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{left} ready rows of paused queues or job types still not held")


def resume_all(conn: Any, procs: list[Any]) -> None:
    """What ``resume_worker`` writes, for every worker in one transaction, and one wake-up."""
    with conn.transaction():
        conn.execute(
            f"UPDATE {WORKER} SET paused = false, pause_mode = '', paused_at = NULL, paused_by = '', "
            "reason = '' WHERE pid = ANY(%s)",
            [[p.pid for p in procs]],
        )
        conn.execute("SELECT pg_notify(%s, '')", [CONTROL_CHANNEL])


def sample_waits(conn: Any, db: Db, waits: Counter[str]) -> None:
    """Count the active backends of ``db`` by wait event; an advisory lock wait names its key."""
    rows = conn.execute(
        """SELECT coalesce(a.wait_event_type || ':' || a.wait_event, 'CPU'), l.objid, count(*)
           FROM pg_stat_activity a
           LEFT JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted AND l.locktype = 'advisory'
           WHERE a.datname = %s AND a.state = 'active' AND a.pid <> pg_backend_pid()
           GROUP BY 1, 2""",
        [db.name],
    ).fetchall()
    for event, key, count in rows:
        waits[event + (f" {lock_name(int(key))}" if key is not None else "")] += count


def lock_name(key: int) -> str:
    """An advisory lock key as the app spells it (0x6A6F6273 is "jobs"), else the number."""
    text = key.to_bytes(4, "big").decode("ascii", "replace") if 0 <= key < 2**32 else ""
    return f'"{text}"' if text.isalnum() else str(key)


def drain(scenario: Scenario, code: Code, db: Db, n: int, logdir: Path) -> Run:
    """Fill, plan, then drain ``n`` runnable no-op jobs with the scenario's workers."""
    with db.connect() as conn:
        reset(conn)
        if scenario.fill:
            scenario.fill(conn)
        for command in scenario.pauses:
            subprocess.run(
                code.manage_cmd("durablejobs", *command),
                env=code.env(db),
                cwd=code.root,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        first = insert_jobs(conn, n, queue=scenario.queue)
        shapes = [{"queues": scenario.worker_queues, "concurrency": scenario.concurrency}]
        shapes += [
            {"queues": queues, "concurrency": scenario.concurrency} for _, queues in scenario.extra_plans
        ]
        statements = claim_statements(code, db, shapes)
        waits: Counter[str] = Counter()
        samples = 0
        with workers(code, db, scenario, logdir, paused=True) as procs:
            wait_registered(conn, procs, paused=True)
            time.sleep(0.5)  # threads started, LISTEN connections open
            if scenario.pauses:
                wait_held(conn)
            vacuum_analyze(conn)
            plans = [explain(conn, s) for s in statements]  # as the resumed workers' first claim
            resume_all(conn, procs)
            side = None
            if scenario.during:
                side = subprocess.Popen(
                    code.manage_cmd("durablejobs", *scenario.during),
                    env=code.env(db),
                    cwd=code.root,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                _live.append(side)
            deadline = time.monotonic() + 1800
            last_check = 0.0
            while True:
                sample_waits(conn, db, waits)
                samples += 1
                if time.monotonic() - last_check > 0.5:
                    last_check = time.monotonic()
                    done = conn.execute(
                        f"SELECT count(*) FROM {JOB} WHERE id >= %s AND status = 'completed'", [first]
                    ).fetchone()[0]
                    if done >= n:
                        break
                    for proc in procs:
                        if proc.poll() is not None:
                            raise RuntimeError(
                                f"runjobs exited with {proc.returncode} during {scenario.name}"
                            )
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{scenario.name}: {done} of {n} done after 30 minutes")
                time.sleep(0.1)
        if side is not None:
            if side.wait(timeout=1800) != 0:
                raise RuntimeError(f"durablejobs {' '.join(scenario.during or [])} failed during the drain")
            _live.remove(side)
        span = conn.execute(
            f"SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM {JOB} WHERE id >= %s",
            [first],
        ).fetchone()[0]
    extra = [(label, plan) for (label, _), plan in zip(scenario.extra_plans, plans[1:], strict=True)]
    return Run(scenario, code, n / float(span), plans[0], extra, waits, samples, float(span))


# --------------------------------------------------------------------------- scenarios


def scenarios(args: argparse.Namespace) -> dict[str, Scenario]:
    d, h, b = args.delayed, args.history, args.backlog

    def due_tomorrow(delayed: bool) -> Callable[[Any], object]:
        return lambda conn: insert_jobs(conn, d, due="now() + interval '1 day'", delayed=delayed)

    return {
        "delayed": Scenario("delayed", f"{d:,} due tomorrow, delayed=true", due_tomorrow(True)),
        "delayed-old": Scenario(
            "delayed-old", f"{d:,} due tomorrow, delayed=false (before)", due_tomorrow(False)
        ),
        "history": Scenario(
            "history",
            f"{h:,} completed rows",
            lambda conn: insert_jobs(conn, h, status="completed"),
        ),
        "other-queue": Scenario(
            "other-queue",
            f"-q small, {b:,} runnable in queue big",
            lambda conn: insert_jobs(conn, b, queue="big"),
            queue="small",
            worker_queues=["small"],
            extra_plans=[
                ("-q small -q other (one pool), 200k runnable in big", ["small", "other"]),
                ("every queue (no -q)", None),
            ],
        ),
        "paused-queue": Scenario(
            "paused-queue",
            f"{b:,} pending in a paused queue",
            lambda conn: insert_jobs(conn, b, queue="big"),
            pauses=[["pause-queue", "big"]],
            extra_plans=[("-q default, same rows", ["default"])],
        ),
        "paused-type": Scenario(
            "paused-type",
            f"{b:,} pending of a paused job type",
            lambda conn: insert_jobs(conn, b, name="demo.add"),
            pauses=[["pause-job-type", "demo.add"]],
            extra_plans=[("-q default, same rows", ["default"])],
        ),
        "prune": Scenario(
            "prune",
            f"while durablejobs prune deletes {h:,} completed rows",
            lambda conn: insert_jobs(conn, h, status="completed"),
            during=["prune", "--older-than", "12h"],
        ),
        "procs8": Scenario("procs8", "8 processes, total", processes=8, concurrency=8),
        "procs8c1": Scenario("procs8c1", "8 processes, total", processes=8, concurrency=1),
    }


BASELINE = Scenario("baseline", "baseline: empty table")


def prune_rate(code: Code, db: Db, n: int) -> None:
    """``durablejobs prune`` of ``n`` completed rows, timed as a user runs it (start-up included)."""
    with db.connect() as conn:
        reset(conn)
        insert_jobs(conn, n, status="completed")
        vacuum_analyze(conn)
    started = time.monotonic()
    subprocess.run(
        code.manage_cmd("durablejobs", "prune", "--older-than", "12h"),
        env=code.env(db),
        cwd=code.root,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - started
    with db.connect() as conn:
        left = conn.execute(f"SELECT count(*) FROM {JOB}").fetchone()[0]
    if left:
        raise RuntimeError(f"durablejobs prune left {left:,} of {n:,} expired rows")
    rate = n / elapsed
    print(f"  durablejobs prune of {n:,} completed rows: {elapsed:.1f} s, {rate:,.0f} rows/s", flush=True)


def run_series(
    code: Code, db: Db, names: list[str], table: dict[str, Scenario], args: argparse.Namespace
) -> list[Run]:
    """Baseline, scenario, baseline, scenario, ..., baseline; each scenario against its two neighbours."""
    runs: list[Run] = []
    sequence = [BASELINE]
    for name in names:
        sequence += [table[name], BASELINE]
    for scenario in sequence:
        print(f"  {code.label}: {scenario.label} ({scenario.workers_text()}) ...", end="", flush=True)
        run = drain(scenario, code, db, args.jobs, args.logdir)
        print(f" {run.rate:,.0f} jobs/s, claim {run.plan.buffers} buffers", flush=True)
        runs.append(run)
    for i, run in enumerate(runs):
        if run.is_baseline:
            continue
        before, after = runs[i - 1], runs[i + 1]
        run.baseline = statistics.mean([before.rate, after.rate])
        run.baseline_buffers = round(statistics.mean([before.plan.buffers, after.plan.buffers]))
    return runs


# --------------------------------------------------------------------------- output


def uptime() -> str:
    out = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return out or load_text()


def print_runs(runs: list[Run]) -> None:
    headers = (
        "code",
        "scenario",
        "workers",
        "jobs/s",
        "baseline",
        "ratio",
        "claim bufs",
        "base bufs",
        "claim ms",
    )
    rows = []
    for run in runs:
        ratio = f"{run.rate / run.baseline:.2f}x" if run.baseline else ""
        rows.append(
            (
                run.code.label.split(" ")[0] if run.code.label else "",
                run.scenario.label,
                run.scenario.workers_text(),
                f"{run.rate:,.0f}",
                f"{run.baseline:,.0f}" if run.baseline else "",
                ratio,
                str(run.plan.buffers)
                + (f" ({run.plan.stage_buffers} stage)" if run.plan.stage_buffers else ""),
                str(run.baseline_buffers) if run.baseline_buffers is not None else "",
                f"{run.plan.ms:.2f}",
            )
        )
    print_table("Drains (ratio: jobs/s over the mean of the baselines just before and after)", headers, rows)


def print_plans(runs: list[Run]) -> None:
    headers = ("scenario", "claim shape", "claimed", "bufs", "ms", "rows removed by filter", "indexes")
    rows = []
    seen = set()
    for run in runs:
        if run.is_baseline and run.code.label in seen:
            continue
        if run.is_baseline:
            seen.add(run.code.label)
        shape = " ".join(f"-q {q}" for q in run.scenario.worker_queues or []) or "every queue"
        for label, plan in [(shape, run.plan), *run.extra]:
            rows.append(
                (
                    run.scenario.label,
                    label,
                    str(plan.claimed),
                    str(plan.buffers),
                    f"{plan.ms:.2f}",
                    f"{plan.removed:,}",
                    plan.indexes_text(),
                )
            )
    print_table(
        "Claim plans: EXPLAIN (ANALYZE, BUFFERS) of one claim (stager included), before the drain",
        headers,
        rows,
    )


def print_waits(runs: list[Run]) -> None:
    headers = ("scenario", "workers", "active backends (mean)", "wait events of active backends")
    rows = []
    for run in runs:
        total = sum(run.waits.values())
        top = (
            ", ".join(f"{event} {count / total:.0%}" for event, count in run.waits.most_common(5))
            if total
            else ""
        )
        mean = total / run.samples if run.samples else 0.0
        rows.append((run.scenario.label, run.scenario.workers_text(), f"{mean:.1f}", top))
    print_table(
        "Where the database's active backends were during each drain (pg_stat_activity every 100 ms)",
        headers,
        rows,
    )


NUMERIC_HEADERS = {
    "claimed",
    "jobs/s",
    "baseline",
    "ratio",
    "bufs",
    "ms",
    "claim ms",
    "claim bufs",
    "base bufs",
}


def print_table(title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    numeric = {i for i, h in enumerate(headers) if h in NUMERIC_HEADERS}

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(f"\n{title}")
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


# --------------------------------------------------------------------------- sustained run


def ensure_cluster() -> bool:
    """The dedicated cluster exists and runs; True when this call started it."""
    version, name, port = SUSTAINED_CLUSTER
    listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    found = [line.split() for line in listing.splitlines() if line.split()[:2] == [version, name]]
    if not found:
        print(
            f"creating cluster {version}/{name} on port {port} (production defaults, trust auth)", flush=True
        )
        subprocess.run(
            ["pg_createcluster", version, name, "-p", str(port), "--start-conf=manual", "--", "--auth=trust"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    elif found[0][2] != str(port):
        raise RuntimeError(f"cluster {version}/{name} listens on {found[0][2]}, not {port}")
    if found and found[0][3] == "online":
        return False
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"], check=True)
    return True


def stop_cluster() -> None:
    version, name, _ = SUSTAINED_CLUSTER
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "stop"], check=False)


class Producer(threading.Thread):
    """Offers ``rate`` jobs/s: small bulk inserts with their NOTIFY, as enqueue_many writes them."""

    def __init__(self, db: Db, rate: float) -> None:
        super().__init__(daemon=True)
        self.db, self.rate = db, rate
        self.stop = threading.Event()
        self.produced = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.db.connect() as conn:
                start = time.monotonic()
                while not self.stop.is_set():
                    due = int(self.rate * (time.monotonic() - start)) - self.produced
                    if due > 0:
                        batch = min(due, 2000)
                        with conn.transaction():
                            insert_jobs(conn, batch)
                            conn.execute("SELECT pg_notify(%s, 'default')", [WORK_CHANNEL])
                        self.produced += batch
                    self.stop.wait(0.01)
        except BaseException as exc:  # reported by the sampler
            self.error = exc


def sizes(conn: Any) -> dict[str, int]:
    rows = conn.execute(
        "SELECT i.relname, pg_relation_size(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        f"WHERE x.indrelid = '{JOB}'::regclass"
    ).fetchall()
    out = {name: size for name, size in rows}
    out["heap"] = conn.execute(f"SELECT pg_relation_size('{JOB}')").fetchone()[0]
    return out


def sustained(code: Code, args: argparse.Namespace) -> None:
    minutes: float = args.sustained
    started = ensure_cluster()
    db = Db(name="durable_jobs_scale", host="127.0.0.1", port=SUSTAINED_CLUSTER[2])
    try:
        create_database(db, code)
        with db.connect() as conn:
            settings = conn.execute(
                "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings "
                "WHERE name IN ('autovacuum', 'autovacuum_naptime', 'shared_buffers', 'synchronous_commit')"
            ).fetchone()[0]
        print(f"\nSustained run on cluster {'/'.join(SUSTAINED_CLUSTER[:2])} port {db.port}: {settings}")
        base = drain(BASELINE, code, db, args.jobs, args.logdir)
        rate = args.sustained_rate or args.sustained_load * base.rate
        print(
            f"  drain on this cluster: {base.rate:,.0f} jobs/s; "
            f"offering {rate / base.rate:.0%}: {rate:,.0f} jobs/s for {minutes} min"
        )
        settings: dict[str, Any] = {}
        if args.sustained_retention is not None:
            keep = args.sustained_retention
            settings = {"RETENTION": {"completed": keep}, "PRUNE_SECONDS": max(1.0, min(keep / 4, 60.0))}
            print(f"  workers keep completed jobs {keep:g} s and prune every {settings['PRUNE_SECONDS']:g} s")
        scenario = Scenario("sustained", "sustained", concurrency=8, settings=settings)
        with db.connect() as conn:
            reset(conn)
            vacuum_analyze(conn)
            statements = claim_statements(code, db, [{"queues": None, "concurrency": 8}])[0]
            rows = []
            with workers(code, db, scenario, args.logdir, paused=False) as procs:
                wait_registered(conn, procs, paused=False)
                producer = Producer(db, rate)
                producer.start()
                start = time.monotonic()
                marks = [mark(conn)]
                counters = [server_counters(conn)]
                by_minute: list[tuple[float, float]] = []
                try:
                    while time.monotonic() - start < minutes * 60:
                        time.sleep(max(0.0, 10 * len(marks) - (time.monotonic() - start)))
                        if producer.error:
                            raise RuntimeError(f"producer failed: {producer.error!r}")
                        for proc in procs:
                            if proc.poll() is not None:
                                raise RuntimeError(f"runjobs exited with {proc.returncode}")
                        elapsed = time.monotonic() - start
                        rows.append(sample_sustained(conn, statements, marks, counters, elapsed))
                        print_sustained_row(rows[-1], header=len(rows) == 1)
                        if len(marks) % 6 == 1:  # a minute's figures, while its jobs are kept
                            by_minute.append(minute(conn, marks[-7], marks[-1]))
                finally:
                    producer.stop.set()
                    producer.join()
                summarize_sustained(by_minute, rows)
    finally:
        if started:
            stop_cluster()
            print(f"stopped cluster {'/'.join(SUSTAINED_CLUSTER[:2])} (this run started it)")


def mark(conn: Any) -> tuple[Any, int]:
    """(now, the lowest id of an unfinished job or of the next one): a window's jobs have ids from there.

    A job that finishes or starts after ``now`` was unfinished at ``now`` or is newer,
    so the window's queries read only the jobs from that id on, however long the backlog.
    The pending side reads the claim's index in claim order, which gives the lowest id
    because the producer's jobs all have one priority and no delay or limit.
    """
    row = conn.execute(
        f"""SELECT clock_timestamp(), least(
                (SELECT id FROM {JOB} WHERE status = 'pending' AND NOT delayed AND concurrency_key IS NULL
                 AND rate_key IS NULL ORDER BY priority DESC, id LIMIT 1),
                (SELECT min(id) FROM {JOB} WHERE status = 'running'),
                (SELECT coalesce(max(id), 0) + 1 FROM {JOB}))"""
    ).fetchone()
    return row[0], int(row[1])


def server_counters(conn: Any) -> tuple[int, int]:
    """(bytes of WAL written since the cluster began, checkpoints begun): what a window's deltas come from."""
    row = conn.execute(
        "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, checkpoints_timed + checkpoints_req "
        "FROM pg_stat_bgwriter"
    ).fetchone()
    return int(row[0]), int(row[1])


def sample_sustained(
    conn: Any,
    statements: list[tuple[str, list[Any] | None]],
    marks: list[Any],
    counters: list[tuple[int, int]],
    t: float,
) -> dict[str, Any]:
    """One 10 s window: throughput and pick-up of its jobs, one claim's plan, sizes, WAL and checkpoints."""
    now, low = mark(conn)
    since, since_low = marks[-1]
    done, p50, p99 = window(conn, since, now, since_low)
    marks.append((now, low))
    counters.append(server_counters(conn))
    (wal_before, checkpoints_before), (wal_now, checkpoints_now) = counters[-2:]
    backlog = conn.execute(f"SELECT count(*) FROM {JOB} WHERE status = 'pending'").fetchone()[0]
    plan = explain(conn, statements)
    stats = conn.execute(
        "SELECT n_dead_tup, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables WHERE relname = %s",
        [JOB],
    ).fetchone()
    size = sizes(conn)
    vacuuming = conn.execute(
        "SELECT count(*) FROM pg_stat_progress_vacuum WHERE relid = %s::regclass", [JOB]
    ).fetchone()[0]
    return {
        "t": t,
        "rate": done / (now - since).total_seconds(),
        "p50": p50 * 1000,
        "p99": p99 * 1000,
        "backlog": backlog,
        "claimed": plan.claimed,
        "bufs": plan.buffers,
        "ms": plan.ms,
        "heap": size["heap"],
        "ready_any": size.get("durable_jobs_ready_any", 0),
        "ready": size.get("durable_jobs_ready", 0),
        "indexes": sum(v for k, v in size.items() if k != "heap"),
        "dead": stats[0],
        "autovacuums": stats[1],
        "vacuuming": vacuuming,
        "wal": (wal_now - wal_before) / (now - since).total_seconds(),
        "checkpoints": checkpoints_now - checkpoints_before,
        "load": os.getloadavg()[0],
    }


def window(conn: Any, a: Any, b: Any, low_id: int) -> tuple[int, float, float]:
    """Jobs completed in (a, b], and p50 and p99 pick-up (s) of the jobs started in it (ids >= low_id)."""
    started = "FILTER (WHERE started_at > %(a)s AND started_at <= %(b)s)"
    pickup = "WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at))"
    row = conn.execute(
        f"""SELECT count(*) FILTER (WHERE status = 'completed' AND finished_at > %(a)s
                                          AND finished_at <= %(b)s),
               percentile_cont(0.5) {pickup} {started}, percentile_cont(0.99) {pickup} {started}
            FROM {JOB} WHERE id >= %(low)s""",
        {"a": a, "b": b, "low": low_id},
    ).fetchone()
    return int(row[0]), float(row[1] or 0), float(row[2] or 0)


#: (header, key, format) of each column of the sustained run's samples
SUSTAINED_COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("t s", "t", lambda v: f"{v:.0f}"),
    ("jobs/s", "rate", lambda v: f"{v:,.0f}"),
    ("p50 ms", "p50", lambda v: f"{v:.1f}"),
    ("p99 ms", "p99", lambda v: f"{v:.1f}"),
    ("backlog", "backlog", lambda v: f"{v:,}"),
    ("claimed", "claimed", str),
    ("claim bufs", "bufs", lambda v: f"{v:,}"),
    ("claim ms", "ms", lambda v: f"{v:.2f}"),
    ("heap MB", "heap", lambda v: f"{v / 2**20:.1f}"),
    ("ready_any kB", "ready_any", lambda v: f"{v / 1024:,.0f}"),
    ("ready kB", "ready", lambda v: f"{v / 1024:,.0f}"),
    ("all idx MB", "indexes", lambda v: f"{v / 2**20:.1f}"),
    ("dead tup", "dead", lambda v: f"{v:,}"),
    ("autovac", "autovacuums", str),
    ("vacuuming", "vacuuming", lambda v: "yes" if v else ""),
    ("WAL MB/s", "wal", lambda v: f"{v / 2**20:.1f}"),
    ("checkpts", "checkpoints", str),
    ("load", "load", lambda v: f"{v:.1f}"),
]


def print_sustained_row(row: dict[str, Any], *, header: bool) -> None:
    widths = [max(len(h), 7) for h, _, _ in SUSTAINED_COLUMNS]
    if header:
        print(" ".join(h.rjust(w) for (h, _, _), w in zip(SUSTAINED_COLUMNS, widths, strict=True)))
    cells = [fmt(row[key]).rjust(w) for (_, key, fmt), w in zip(SUSTAINED_COLUMNS, widths, strict=True)]
    print(" ".join(cells), flush=True)


def minute(conn: Any, start: tuple[Any, int], end: tuple[Any, int]) -> tuple[float, float]:
    """Throughput and p99 pick-up (ms) between two marks a minute apart.

    Taken as the minute ends: with ``--sustained-retention`` its jobs are pruned soon after.
    """
    done, _, p99 = window(conn, start[0], end[0], start[1])
    return done / (end[0] - start[0]).total_seconds(), p99 * 1000


def summarize_sustained(minutes: list[tuple[float, float]], rows: list[dict[str, Any]]) -> None:
    if len(minutes) < 2:
        print("  (shorter than two minutes: no first/last minute comparison)")
        return
    (first_rate, first_p99), (last_rate, last_p99) = minutes[0], minutes[-1]
    print("  each minute, jobs/s (p99 pick-up ms): " + ", ".join(f"{r:,.0f} ({p:.0f})" for r, p in minutes))
    print(
        f"  first minute: {first_rate:,.0f} jobs/s, p99 pick-up {first_p99:.1f} ms; "
        f"last minute: {last_rate:,.0f} jobs/s ({last_rate / first_rate:.2f}x), "
        f"p99 {last_p99:.1f} ms ({last_p99 / first_p99:.2f}x)"
    )
    third = max(1, len(rows) // 3)
    for key in ("ready_any", "ready", "indexes", "heap"):
        early, late = rows[third - 1][key], rows[-1][key]
        print(
            f"  {key}: {early / 1024:,.0f} kB at {rows[third - 1]['t']:.0f} s -> {late / 1024:,.0f} kB at end"
        )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20000, help="runnable jobs per drain (20,000)")
    parser.add_argument("--delayed", type=int, default=200000, help="rows due tomorrow (200,000)")
    parser.add_argument("--history", type=int, default=1000000, help="completed rows (1,000,000)")
    parser.add_argument(
        "--backlog", type=int, default=200000, help="rows of the other, paused queue or job type (200,000)"
    )
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated, or 'none': {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--code", default=str(ROOT), help="checkout directory or git revision under test")
    parser.add_argument("--prev", default=None, help="an earlier checkout or revision to run next to it")
    parser.add_argument(
        "--sustained", type=float, default=None, metavar="MINUTES", help="also a sustained run"
    )
    parser.add_argument(
        "--sustained-load",
        type=float,
        default=0.7,
        metavar="FRACTION",
        help="offered rate of the sustained run, as a fraction of its measured drain rate (0.7)",
    )
    parser.add_argument(
        "--sustained-rate",
        type=float,
        default=None,
        metavar="JOBS_PER_S",
        help="offer this rate instead (to compare two versions on one machine at one rate)",
    )
    parser.add_argument(
        "--sustained-retention",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the sustained run's workers keep completed jobs this long (default: a week) and prune them",
    )
    parser.add_argument("--keep", action="store_true", help="keep the worker logs")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip() and n.strip() != "none"]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.names = names
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # SIGTERM (and SIGINT, which a background shell ignores) stop the workers on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if argv[:1] == ["--capture-claims"]:  # inside a process of the code under test
        print(json.dumps(capture_claims(json.loads(argv[1])), default=str))
        return 0
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="djj-scale-"))
    args.logdir = tmp
    code = resolve_code(args.code, tmp)
    prev = resolve_code(args.prev, tmp) if args.prev else None
    db = Db(name="durable_jobs_scale")
    print(f"django-durable-jobs scale benchmark: {os.cpu_count()} CPUs, PostgreSQL {db.host}:{db.port}")
    print(f"code under test: {code.label}" + (f"; previous: {prev.label}" if prev else ""))
    print(f"{args.jobs:,} runnable no-op jobs per drain; at start: {uptime()}", flush=True)
    runs: list[Run] = []
    try:
        if args.names:
            create_database(db, code)
            if "prune" in args.names:
                prune_rate(code, db, args.history)
            runs += run_series(code, db, args.names, scenarios(args), args)
        if prev:
            prev_db = Db(name="durable_jobs_scale_prev")
            create_database(prev_db, prev)
            prev_table = scenarios(args)
            prev_table["delayed-old"].label = f"{args.delayed:,} due tomorrow (no delayed column)"
            runs += run_series(prev, prev_db, ["delayed-old"], prev_table, args)
        if runs:
            print(f"\nat end of the drains: {uptime()}")
            print_runs(runs)
            print_plans(runs)
            print_waits(runs)
        if args.sustained:
            sustained(code, args)
    finally:
        for proc in list(_live):
            stop_process(proc)
    print(f"\nat end: {uptime()}")
    findings = scan_logs(tmp)
    for finding in findings:
        print(f"worker log warning: {finding}")
    if args.keep or findings:
        print(f"worker logs: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
