"""Throughput and latency figures of django-durable-jobs, measured on a fresh database.

Run from the repository root::

    python benchmarks/bench.py [--db postgres|sqlite] [--jobs N] [--only NAME[,NAME]]

Every figure that involves a worker runs the real ``manage.py runjobs`` in a
subprocess and reads its timings back from the job rows (``started_at`` and
``finished_at``), so process start-up is reported apart from throughput.
See benchmarks/README.rst for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTPROJECT = ROOT / "testproject"
BENCH_DIR = ROOT / "benchmarks"
MANAGE = TESTPROJECT / "manage.py"
PG_DB_NAME = "durable_jobs_bench"
POLL = 0.05  # seconds between progress checks
NAMES = ("enqueue", "bulk", "drain", "latency", "workflow", "fanout", "limits", "competitor")


# --------------------------------------------------------------------------- results


@dataclass
class Figure:
    """One line of the result table."""

    label: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    note: str = ""

    def verdict(self) -> str:
        if self.target is None:
            return ""
        ok = self.value >= self.target if self.higher_is_better else self.value <= self.target
        return "ok" if ok else "MISSED"

    def target_text(self) -> str:
        if self.target is None:
            return ""
        return f"{'>=' if self.higher_is_better else '<='} {_number(self.target)}"


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(title: str, figures: list[Figure]) -> None:
    headers = ("figure", "value", "unit", "target", "", "note")
    rows = [(f.label, _number(f.value), f.unit, f.target_text(), f.verdict(), f.note) for f in figures]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers) - 1)]

    def line(cells: tuple[str, ...]) -> str:
        left = [cells[0].ljust(widths[0]), cells[1].rjust(widths[1])]
        left += [c.ljust(w) for c, w in zip(cells[2:5], widths[2:5], strict=True)]
        return "  ".join([*left, cells[5]]).rstrip()

    print(f"\n{title}")
    print(line(headers))
    print("  ".join("-" * w for w in widths) + "  " + "-" * 4)
    for row in rows:
        print(line(row))


# --------------------------------------------------------------------------- configuration


@dataclass
class Config:
    db: str
    enqueue_n: int = 5000
    bulk_n: int = 50000
    drain_n: int = 20000
    latency_samples: int = 200
    workflow_n: int = 2000
    children: int = 1000
    competitor_n: int = 2000
    concurrency: int = 8
    async_commit: bool = False
    #: DURABLE_JOBS['STATS'] of the workers (--stats off: what the per-minute statistics cost).
    stats: bool = True
    keep: bool = False
    only: set[str] = field(default_factory=lambda: set(NAMES))
    profile_dir: Path | None = None
    drain_rate: float | None = None  # measured by drain, used by fan-out
    db_name: str = ""
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="djj-bench-")))

    def wants(self, name: str) -> bool:
        return name in self.only


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="job count of every throughput figure (default: 5000 one-by-one, 50000 bulk, "
        "20000 drain, 2000 workflows, 2000 competitor)",
    )
    parser.add_argument("--samples", type=int, default=200, help="pick-up latency samples")
    parser.add_argument("--children", type=int, default=1000, help="width of the fan-out")
    parser.add_argument("--concurrency", type=int, default=8, help="runjobs --concurrency")
    parser.add_argument("--only", default=",".join(NAMES), help=f"comma-separated: {', '.join(NAMES)}")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="record py-spy profiles of the workers of drain and workflow into DIR",
    )
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="PostgreSQL: synchronous_commit=off in every process (shows what the disk costs)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the worker logs directory")
    parser.add_argument(
        "--stats",
        choices=("on", "off"),
        default="on",
        help="per-minute statistics in the workers (DURABLE_JOBS['STATS']); off shows what they cost",
    )
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(NAMES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(NAMES)}")
    config = Config(
        db=args.db,
        latency_samples=args.samples,
        children=args.children,
        concurrency=args.concurrency,
        only=only,
        profile_dir=args.profile,
        async_commit=args.async_commit,
        keep=args.keep,
        stats=args.stats == "on",
    )
    if args.jobs is not None:
        config.enqueue_n = config.bulk_n = config.drain_n = args.jobs
        config.workflow_n = config.competitor_n = args.jobs
    return config


# --------------------------------------------------------------------------- database


def create_database(config: Config, pg_name: str = PG_DB_NAME, sqlite_name: str = "bench.sqlite3") -> None:
    """A fresh, empty database for this run; its name goes into ``config.db_name``."""
    if config.db == "postgres":
        import psycopg

        with psycopg.connect(
            host=os.environ.get("DJJ_PG_HOST", "127.0.0.1"),
            port=os.environ.get("DJJ_PG_PORT", "5432"),
            user=os.environ.get("DJJ_PG_USER", "postgres"),
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {pg_name}")
        config.db_name = pg_name
    else:
        config.db_name = str(config.workdir / sqlite_name)


def setup_django(config: Config) -> None:
    os.environ.update(base_env(config, settings="bench_settings"))
    for path in (BENCH_DIR, TESTPROJECT, ROOT):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def base_env(config: Config, *, settings: str) -> dict[str, str]:
    """Environment of the benchmark and its workers: DEBUG off, as in production."""
    env = {
        "DJJ_DB": config.db,
        "DJJ_DB_NAME": config.db_name,
        "DJANGO_DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": settings,
    }
    if not config.stats:  # the settings read DJJ_EXTRA_SETTINGS into DURABLE_JOBS
        extra = json.loads(os.environ.get("DJJ_EXTRA_SETTINGS") or "{}")
        env["DJJ_EXTRA_SETTINGS"] = json.dumps({**extra, "STATS": False})
    if config.async_commit:  # libpq reads PGOPTIONS: every connection of every process
        env["PGOPTIONS"] = f"{os.environ.get('PGOPTIONS', '')} -c synchronous_commit=off".strip()
    return env


def reset_tables() -> None:
    """Empty every table of the job system (and the competitor's) between figures."""
    from django.apps import apps
    from django.db import connection

    labels = {"durable_jobs", "django_tasks_database"}
    tables = [
        model._meta.db_table
        for config in apps.get_app_configs()
        if config.label in labels
        for model in config.get_models()
    ]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        return
    with connection.constraint_checks_disabled(), connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DELETE FROM {table}")


def analyze() -> None:
    """Fresh planner statistics after a bulk load, as autovacuum would soon give."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# --------------------------------------------------------------------------- processes


_live: list[subprocess.Popen[bytes]] = []


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in _live:
        _live.remove(proc)


@contextmanager
def process(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd``; SIGTERM it (and wait) on the way out, whatever happens."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _live.append(proc)
        try:
            yield proc
        finally:
            stop_process(proc)


def worker_env(config: Config, settings: str = "testproject.settings") -> dict[str, str]:
    env = {**os.environ, **base_env(config, settings=settings)}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(BENCH_DIR), str(TESTPROJECT), str(ROOT), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    return env


@contextmanager
def runjobs(config: Config, label: str) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [
        sys.executable,
        str(MANAGE),
        "runjobs",
        "--concurrency",
        str(config.concurrency),
        "-v",
        "0",
    ]
    with process(cmd, worker_env(config), config.workdir / f"{label}.log") as proc:
        with profiling(config, proc, label):
            yield proc


@contextmanager
def profiling(config: Config, proc: subprocess.Popen[bytes], label: str) -> Iterator[None]:
    """py-spy record of ``proc`` while the block runs (with --profile only)."""
    py_spy = shutil.which("py-spy")
    if config.profile_dir is None or label not in ("drain", "workflow") or py_spy is None:
        yield
        return
    config.profile_dir.mkdir(parents=True, exist_ok=True)
    out = config.profile_dir / f"{label}-{config.db}.txt"
    cmd = [
        py_spy,
        "record",
        "--pid",
        str(proc.pid),
        "--format",
        "raw",
        "--output",
        str(out),
        "--rate",
        "250",
        "--threads",
        "--nonblocking",
    ]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        stop_process(spy, signal.SIGINT)
        print(f"  profile of the {label} worker: {out}")


def wait_until(
    done: Callable[[], bool],
    *,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    interval: float = POLL,
    what: str = "",
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"worker exited early with code {proc.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def wait_ready(proc: subprocess.Popen[bytes]) -> None:
    """The worker registered and ran a first batch (threads and connections warm)."""
    from demo.jobs import noop

    from django_durable_jobs.models import Job, Status
    from django_durable_jobs.models import Worker as WorkerRow

    wait_until(
        lambda: WorkerRow.objects.filter(pid=proc.pid).exists(),
        timeout=60,
        proc=proc,
        what="the worker to register",
    )
    noop.enqueue_many([((), {})] * 50)
    wait_until(
        lambda: Job.objects.exclude(status=Status.COMPLETED).count() == 0,
        timeout=60,
        proc=proc,
        what="the warm-up jobs",
    )


# --------------------------------------------------------------------------- helpers


def job_span(**filters: Any) -> tuple[datetime, datetime]:
    """(first started_at, last finished_at) of the matching jobs."""
    from django.db.models import Max, Min

    from django_durable_jobs.models import Job

    row = Job.objects.filter(**filters).aggregate(first=Min("started_at"), last=Max("finished_at"))
    return row["first"], row["last"]


def completed(**filters: Any) -> int:
    from django_durable_jobs.models import Job, Status

    return Job.objects.filter(status=Status.COMPLETED, **filters).count()


def seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def from_epoch(stamp: float) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(stamp, tz=UTC)


# --------------------------------------------------------------------------- figures


def bench_commit_floor(config: Config) -> list[Figure]:
    """What one durable commit costs here: the ceiling of any one-commit-per-job design."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_commit_probe (x integer)")
    waits = []
    try:
        for _ in range(300):
            start = time.perf_counter()
            with connection.cursor() as cursor:  # autocommit: one INSERT, one COMMIT
                cursor.execute("INSERT INTO bench_commit_probe VALUES (1)")
            waits.append((time.perf_counter() - start) * 1000)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE bench_commit_probe")
    median = statistics.median(waits)
    return [
        Figure(
            "floor: 1-row INSERT + COMMIT",
            median,
            "ms",
            note=f"median of 300, p95 {percentile(waits, 95):.2f} ms: one connection commits "
            f"<= {1000 / median:,.0f}/s",
        )
    ]


def bench_enqueue(config: Config) -> list[Figure]:
    from demo.jobs import noop

    reset_tables()
    start = time.perf_counter()
    for _ in range(config.enqueue_n):
        noop.enqueue()
    rate = config.enqueue_n / (time.perf_counter() - start)
    return [Figure("enqueue one by one", rate, "jobs/s", 1500, note=f"{config.enqueue_n} x noop.enqueue()")]


def bench_bulk(config: Config) -> list[Figure]:
    from demo.jobs import noop

    reset_tables()
    calls = [((), {})] * config.bulk_n
    start = time.perf_counter()
    noop.enqueue_many(calls)
    rate = config.bulk_n / (time.perf_counter() - start)
    return [Figure("enqueue bulk", rate, "jobs/s", 30000, note=f"enqueue_many of {config.bulk_n}")]


def drain_figures(
    label: str,
    n: int,
    spawned: float,
    done: float,
    span: tuple[datetime, datetime],
    target: float | None,
) -> list[Figure]:
    first, last = span
    steady = n / seconds(first, last)
    return [
        Figure(
            f"{label}: throughput",
            steady,
            "jobs/s",
            target,
            note=f"{n} jobs, first started_at -> last finished_at",
        ),
        Figure(
            f"{label}: wall incl. start-up",
            n / (done - spawned),
            "jobs/s",
            note="process spawn -> all completed (50 ms polls)",
        ),
        Figure(
            f"{label}: start-up",
            seconds(from_epoch(spawned), first),
            "s",
            higher_is_better=False,
            note="spawn -> first job started",
        ),
    ]


def bench_drain(config: Config) -> list[Figure]:
    from demo.jobs import noop

    reset_tables()
    n = config.drain_n
    noop.enqueue_many([((), {})] * n)
    analyze()
    spawned = time.time()
    with runjobs(config, "drain") as proc:
        wait_until(lambda: completed() >= n, timeout=600, proc=proc, what="the drain")
        done = time.time()
    config.drain_rate = n / seconds(*job_span())
    return drain_figures(f"drain (1 runjobs -c {config.concurrency})", n, spawned, done, job_span(), 3000)


def bench_limits(config: Config) -> list[Figure]:
    """Concurrency limits: a drain under a limit never reached, against a plain drain run next to it,
    and the claim's cost with 10,000 keys at their limit."""
    from demo.jobs import noop, noop_limited, noop_per_key

    from django_durable_jobs.models import Job, Status
    from django_durable_jobs.state import execution

    n = config.drain_n
    rates = {}
    for label, definition in (("no limit", noop), ("limit 1,000", noop_limited)):
        reset_tables()
        definition.enqueue_many([((), {})] * n)
        analyze()
        with runjobs(config, f"limits-{label.replace(' ', '-').replace(',', '')}") as proc:
            wait_until(lambda: completed() >= n, timeout=600, proc=proc, what=f"the drain ({label})")
        rates[label] = n / seconds(*job_span())
    figures = [
        Figure(f"drain, {label}", rate, "jobs/s", note=f"{n} jobs, 1 runjobs -c {config.concurrency}")
        for label, rate in rates.items()
    ]
    ratio = rates["limit 1,000"] / rates["no limit"]
    figures.append(Figure("drain under a limit / without", ratio, "x", 0.7, note="same run, back to back"))
    reset_tables()
    keys = 10_000
    noop_per_key.enqueue_many([((k,), {}) for k in range(keys)] * 2)  # two per key
    first = Job.objects.order_by("id")[:keys].values_list("id", flat=True)
    Job.objects.filter(id__in=list(first)).update(status=Status.RUNNING, lease="x", worker_id="bench")
    analyze()
    waits = []
    for _ in range(50):
        start = time.perf_counter()
        claimed = execution.claim("default", "bench", None, 8)
        waits.append((time.perf_counter() - start) * 1000)
        assert not claimed, "every key is at its limit"
    figures.append(
        Figure(
            "claim, 10,000 keys at their limit",
            statistics.median(waits),
            "ms",
            note=f"median of 50 claims finding nothing, p95 {percentile(waits, 95):.1f} ms; "
            f"{keys:,} running + {keys:,} waiting",
        )
    )
    return figures


def bench_latency(config: Config) -> list[Figure]:
    from demo.jobs import noop

    from django_durable_jobs.models import Job

    reset_tables()
    with runjobs(config, "latency") as proc:
        wait_ready(proc)
        ids = []
        for _ in range(config.latency_samples):
            ids.append(noop.enqueue().pk)
            time.sleep(0.02)
        wait_until(
            lambda: completed(pk__in=ids) == len(ids),
            timeout=120,
            proc=proc,
            what="the latency samples",
        )
    rows = Job.objects.filter(pk__in=ids).values_list("created_at", "started_at")
    waits = [seconds(created, started) * 1000 for created, started in rows]
    note = f"{len(waits)} samples, created_at -> started_at, idle worker"
    if config.db == "sqlite":
        note += " (SQLite has no LISTEN: polled)"
    return [
        Figure("pick-up latency p50", percentile(waits, 50), "ms", 3, False, note),
        Figure(
            "pick-up latency p95",
            percentile(waits, 95),
            "ms",
            note=f"mean {statistics.mean(waits):.2f} ms",
        ),
        Figure(
            "pick-up latency p99",
            percentile(waits, 99),
            "ms",
            10,
            False,
            f"max {max(waits):.2f} ms",
        ),
    ]


def bench_workflow(config: Config) -> list[Figure]:
    from demo.jobs import process_order

    reset_tables()
    n = config.workflow_n
    process_order.enqueue_many([((), {"order": {"amount": i, "items": ["a", "b"]}}) for i in range(n)])
    analyze()
    with runjobs(config, "workflow") as proc:
        wait_until(
            lambda: completed(name="demo.process_order") >= n,
            timeout=600,
            proc=proc,
            what="the workflows",
        )
    elapsed = seconds(*job_span(name="demo.process_order"))
    note = f"{n} x demo.process_order (2 call() steps each)"
    return [
        Figure("workflow call() steps", 2 * n / elapsed, "steps/s", 2000, note=note),
        Figure("workflow jobs", n / elapsed, "jobs/s", note="first started_at -> last finished_at"),
    ]


def bench_fanout(config: Config) -> list[Figure]:
    from demo.jobs import sum_squares

    from django_durable_jobs.models import Job

    reset_tables()
    width = config.children
    with runjobs(config, "fanout") as proc:
        wait_ready(proc)
        parent = sum_squares.enqueue(width)
        wait_until(
            lambda: completed(pk=parent.pk) == 1,
            timeout=300,
            proc=proc,
            interval=0.005,
            what="the fan-out parent",
        )
    parent = Job.objects.get(pk=parent.pk)
    expected = sum(i * i for i in range(width))
    if parent.result != expected:
        raise RuntimeError(f"fan-out result {parent.result!r}, expected {expected}")
    total = seconds(parent.created_at, parent.finished_at)
    children = seconds(*job_span(fanout__parent=parent))
    figures = [
        Figure(
            f"fan-out of {width}: enqueue -> parent done",
            total,
            "s",
            higher_is_better=False,
            note="created_at -> finished_at of the parent",
        ),
        Figure(
            f"fan-out of {width}: overhead",
            total - children,
            "s",
            2,
            False,
            note=f"beyond the children's own span ({children:.3f} s first start -> last finish)",
        ),
    ]
    drain_rate = config.drain_rate
    if drain_rate:
        figures.append(
            Figure(
                f"fan-out of {width}: vs plain drain",
                total - width / drain_rate,
                "s",
                higher_is_better=False,
                note=f"beyond {width} plain jobs at the drain rate ({width / drain_rate:.3f} s)",
            )
        )
    return figures


# --------------------------------------------------------------------------- competitor


def bench_competitor(config: Config, ours: dict[str, float]) -> list[Figure]:
    """Django's Tasks framework with the ORM backend (django-tasks-db) on the same database."""
    from django.conf import settings

    if not getattr(settings, "HAS_TASKS_DB", False):
        print("\ncompetitor skipped: django-tasks-db is not installed (pip install django-tasks-db)")
        return []
    from bench_tasks import noop
    from django_tasks_db.models import DBTaskResult

    figures: list[Figure] = []
    reset_tables()
    n_enqueue = min(config.enqueue_n, config.competitor_n)
    start = time.perf_counter()
    for _ in range(n_enqueue):
        noop.enqueue()
    theirs_enqueue = n_enqueue / (time.perf_counter() - start)
    figures.append(
        Figure(
            "django-tasks-db enqueue one by one",
            theirs_enqueue,
            "jobs/s",
            note=f"{n_enqueue} x task.enqueue()" + _ratio(ours, "enqueue", theirs_enqueue),
        )
    )
    for processes in (1, 2):
        rate, startup = competitor_drain(config, processes, DBTaskResult)
        figures.append(
            Figure(
                f"django-tasks-db drain ({processes} db_worker)",
                rate,
                "jobs/s",
                note=f"{config.competitor_n} tasks, start-up {startup:.2f} s" + _ratio(ours, "drain", rate),
            )
        )
    return figures


def _ratio(ours: dict[str, float], key: str, theirs: float) -> str:
    return f"; ours/theirs = {ours[key] / theirs:.1f}x" if key in ours else ""


def competitor_drain(config: Config, processes: int, model: Any) -> tuple[float, float]:
    """Drain ``competitor_n`` no-op tasks with ``processes`` db_worker processes."""
    from bench_tasks import noop
    from django.utils import timezone

    reset_tables()
    n = config.competitor_n
    now = timezone.now()
    model.objects.bulk_create(
        [
            model(
                args_kwargs={"args": [], "kwargs": {}},
                priority=noop.priority,
                task_path=noop.module_path,
                queue_name=noop.queue_name,
                run_after=now,
                backend_name="default",
            )
            for _ in range(n)
        ],
        batch_size=5000,
    )
    analyze()
    cmd = [
        sys.executable,
        str(MANAGE),
        "db_worker",
        "--interval",
        "0.05",
        "--no-startup-delay",
        "--no-reload",
        "-v",
        "0",
    ]
    env = worker_env(config, settings="bench_settings")
    spawned = time.time()
    with _processes(
        [(cmd, env, config.workdir / f"competitor-{processes}-{i}.log") for i in range(processes)]
    ):
        wait_until(
            lambda: model.objects.filter(status="SUCCESSFUL").count() >= n,
            timeout=600,
            what="the competitor's drain",
        )
    from django.db.models import Max, Min

    span = model.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
    return n / seconds(span["first"], span["last"]), seconds(from_epoch(spawned), span["first"])


@contextmanager
def _processes(specs: list[tuple[list[str], dict[str, str], Path]]) -> Iterator[None]:
    if not specs:
        yield
        return
    (cmd, env, log), rest = specs[0], specs[1:]
    with process(cmd, env, log), _processes(rest):
        yield


# --------------------------------------------------------------------------- main


def run(config: Config) -> list[Figure]:
    figures: list[Figure] = bench_commit_floor(config)
    steps: list[tuple[str, Callable[[Config], list[Figure]]]] = [
        ("enqueue", bench_enqueue),
        ("bulk", bench_bulk),
        ("drain", bench_drain),
        ("latency", bench_latency),
        ("workflow", bench_workflow),
        ("fanout", bench_fanout),
        ("limits", bench_limits),
    ]
    for name, bench in steps:
        if config.wants(name):
            print(f"running {name} ...", flush=True)
            figures += bench(config)
    if config.wants("competitor"):
        print("running competitor ...", flush=True)
        ours = {
            "enqueue": _find(figures, "enqueue one by one"),
            "drain": _find(figures, "throughput"),
        }
        figures += bench_competitor(config, {k: v for k, v in ours.items() if v is not None})
    return figures


def _find(figures: list[Figure], label_part: str) -> float | None:
    return next((f.value for f in figures if label_part in f.label), None)


def describe(config: Config) -> str:
    import django
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()" if connection.vendor == "postgresql" else "SELECT sqlite_version()")
        server = cursor.fetchone()[0].split(" on ")[0]
    return (
        f"django-durable-jobs benchmark: {config.db} ({server}, database {config.db_name}), "
        f"Django {django.get_version()}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"runjobs --concurrency {config.concurrency}, DEBUG off"
        + (", synchronous_commit=off" if config.async_commit else "")
    )


def load_text() -> str:
    one, five, _ = os.getloadavg()
    busy = " (busy: other processes share the CPUs, figures are pessimistic)"
    return f"load average {one:.2f} / {five:.2f}" + (busy if one > 0.5 * (os.cpu_count() or 1) else "")


def scan_logs(workdir: Path) -> list[str]:
    """Warnings the workers logged: a reclaim of live jobs or a deadlock skews every figure."""
    findings = []
    for log in sorted(workdir.glob("*.log")):
        text = log.read_text(errors="replace")
        counts = {
            "reclaims of expired leases": len(re.findall(r"reclaimed \d+ job", text)),
            "deadlocks": text.count("deadlock detected") // 2,  # psycopg's and Django's copy
            "tracebacks": text.count("Traceback"),
        }
        found = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
        if found:
            findings.append(f"{log.name}: {found}")
    return findings


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    create_database(config)
    setup_django(config)
    title = describe(config)
    print(f"{title}\nat start: {load_text()}", flush=True)
    try:
        figures = run(config)
    finally:
        for proc in list(_live):
            stop_process(proc)
    print_table(title, figures)
    missed = [f.label for f in figures if f.verdict() == "MISSED"]
    print(f"\ntargets missed: {', '.join(missed) if missed else 'none'}")
    print(f"at end: {load_text()}")
    findings = scan_logs(config.workdir)
    for finding in findings:
        print(f"worker log warning: {finding}")
    if config.keep or findings:
        print(f"worker logs: {config.workdir}")
    else:
        shutil.rmtree(config.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
