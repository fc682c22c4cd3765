"""No-op drain: ``runjobs --pool process`` next to the thread pool, on a fresh database.

Run from the repository root::

    python benchmarks/process_pool.py [--db postgres|sqlite] [--jobs 20000] [--concurrency 8] [--rounds 2]

Each round drains the same number of no-op jobs with one warm ``runjobs -c
N``, thread pool then process pool, and reads the throughput back from the
job rows (first ``started_at`` -> last ``finished_at``); start-up (the
process pool's fork server sets Django up) is reported apart. It also reads
the CPU time the worker and its children spent on the drain from ``/proc``:
on a machine other processes keep busy, CPU per job is the steadier figure.
The issue's target for the process pool is 2,000 jobs/s on PostgreSQL with
``-c 8``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402 - the shared benchmark helpers, next to this file

DB_NAME = "durable_jobs_bench_pool"  # not bench.py's: both may run at once


def create_database(config: bench.Config) -> None:
    bench.create_database(config, DB_NAME, "pool.sqlite3")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def drain(config: bench.Config, pool: str, n: int) -> list[bench.Figure]:
    """Drain ``n`` no-ops with one warm worker of this pool; its CPU time (children included) per job."""
    from demo.jobs import noop
    from django.db.models import Max

    from django_durable_jobs.models import Job
    from django_durable_jobs.models import Worker as WorkerRow

    bench.reset_tables()
    cmd = [sys.executable, str(bench.MANAGE), "runjobs", "--pool", pool, "-c", str(config.concurrency)]
    spawned = time.time()
    log = config.workdir / f"{pool}.log"
    with bench.process([*cmd, "-v", "0"], bench.worker_env(config), log) as proc:
        bench.wait_ready(proc)  # registered, children started, 50 warm-up jobs done
        ready = time.time() - spawned
        pids = [proc.pid, *(c["pid"] for c in WorkerRow.objects.get(pid=proc.pid).children)]
        last = Job.objects.aggregate(last=Max("id"))["last"]
        before = cpu_seconds(pids[:1]), cpu_seconds(pids[1:])
        noop.enqueue_many([((), {})] * n)
        bench.wait_until(
            lambda: bench.completed(id__gt=last) >= n, timeout=600, proc=proc, what=f"the {pool} drain"
        )
        worker, children = cpu_seconds(pids[:1]) - before[0], cpu_seconds(pids[1:]) - before[1]
    first, end = bench.job_span(id__gt=last)
    target = 2000 if pool == "process" and config.db == "postgres" else None
    label = f"drain --pool {pool} -c {config.concurrency}"
    return [
        bench.Figure(
            f"{label}: throughput",
            n / bench.seconds(first, end),
            "jobs/s",
            target,
            note=f"{n} no-ops, first started_at -> last finished_at",
        ),
        bench.Figure(
            f"{label}: CPU per job",
            (worker + children) / n * 1e6,
            "us",
            higher_is_better=False,
            note=f"worker {worker / n * 1e6:.0f} us (one GIL: <= {n / worker:,.0f}/s) + "
            f"{len(pids) - 1} children {children / n * 1e6:.0f} us; 2 idle CPUs: "
            f"~{min(n / worker, 2 * n / (worker + children)):,.0f}/s",
        ),
        bench.Figure(f"{label}: ready", ready, "s", higher_is_better=False, note="spawn -> warm-up done"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="thread then process, this many times")
    args = parser.parse_args(argv)
    config = bench.Config(db=args.db, concurrency=args.concurrency)
    create_database(config)
    bench.setup_django(config)
    title = bench.describe(config)
    print(f"{title}\nat start: {bench.load_text()}", flush=True)
    figures: list[bench.Figure] = []
    try:
        for _ in range(args.rounds):
            for pool in ("thread", "process"):
                print(f"draining {args.jobs} no-ops with --pool {pool} ...", flush=True)
                figures += drain(config, pool, args.jobs)
    finally:
        for proc in list(bench._live):
            bench.stop_process(proc)
    bench.print_table(title, figures)
    print(f"at end: {bench.load_text()}")
    for finding in bench.scan_logs(config.workdir):
        print(f"worker log warning: {finding}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
