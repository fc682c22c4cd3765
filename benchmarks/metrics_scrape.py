"""How long one ``/jobs/metrics`` scrape takes with 1,000,000 finished jobs (PostgreSQL).

Run: ``python benchmarks/metrics_scrape.py [--finished 1000000] [--days 1 14]``.
Creates the scratch database ``durable_jobs_metrics_bench`` (dropped at the
end unless ``--keep``), bulk-inserts the finished rows with
``generate_series``, a few thousand unfinished ones in three queues, four
workers and per-minute rollups (JobStat: one row per minute, queue and job
name, for each of ``--days``), then times scrapes through the view (a real
request with the bearer token) and prints the figures: first with every
minute unfolded (as before the workers' first fold), then after the fold
into the cumulative totals (what workers keep up once a minute: a scrape
reads a total per queue and name plus the last two or three minutes). It
also times the folds that catch up with those minutes and a steady one-minute fold.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DB = "durable_jobs_metrics_bench"
TOKEN = "bench-token-0123456789abcdef"

FINISHED = """
INSERT INTO durable_jobs_job (name, queue, priority, status, args, kwargs, result, last_error, run_after,
    attempt, max_retries, reclaims, snoozes, delayed, held, paused_by, pause_reason, pause_mode,
    progress_message, created_at, started_at, finished_at, updated_at)
SELECT 'bench.job' || (i %% 2), 'q' || (i %% 3), 0, CASE WHEN i %% 10 = 0 THEN 'failed' ELSE 'completed' END,
    '[]', '{}', 'null', '', now() - i * interval '50 ms', 1, 0, 0, 0, false, false, '', '', '', '',
    now() - i * interval '50 ms', now() - i * interval '50 ms', now() - i * interval '50 ms', now()
FROM generate_series(1, %s) AS i
"""
UNFINISHED = """
INSERT INTO durable_jobs_job (name, queue, priority, status, args, kwargs, last_error, run_after, attempt,
    max_retries, reclaims, snoozes, delayed, held, paused_by, pause_reason, pause_mode, progress_message,
    worker_id, created_at, updated_at)
SELECT 'bench.job' || (i %% 2), 'q' || (i %% 3), 0,
    (ARRAY['pending', 'pending', 'running', 'waiting'])[1 + i %% 4],
    '[]', '{}', '', now() - interval '1 minute', 0, 0, 0, 0, false, false, '', '', '', '',
    CASE WHEN i %% 4 = 2 THEN 'bench-worker-' || (i %% 4) END, now(), now()
FROM generate_series(1, %s) AS i
"""
ROLLUPS = """
INSERT INTO durable_jobs_jobstat (minute, queue, name, completed, failed, retried, cancelled, paused, snoozed,
    run_count, run_seconds_sum, run_seconds_max, wait_count, wait_seconds_sum, wait_buckets, run_buckets)
SELECT date_trunc('minute', now()) - m * interval '1 minute', 'q' || q, 'bench.job' || n,
    360, 40, 5, 1, 0, 0, 405, 40.5, 2.0, 405, 4.05,
    '[10, 20, 40, 80, 100, 80, 40, 20, 10, 5, 0, 0, 0, 0, 0, 0, 0]'::jsonb,
    '[0, 5, 10, 40, 100, 150, 60, 30, 10, 0, 0, 0, 0, 0, 0, 0, 0]'::jsonb
FROM generate_series(0, %s) AS m, generate_series(0, 2) AS q, generate_series(0, 1) AS n
"""


def admin(sql: str) -> None:
    import psycopg

    host, port = os.environ.get("DJJ_PG_HOST", "127.0.0.1"), os.environ.get("DJJ_PG_PORT", "5432")
    user = os.environ.get("DJJ_PG_USER", "postgres")
    with psycopg.connect(f"host={host} port={port} user={user} dbname=postgres", autocommit=True) as conn:
        conn.execute(sql)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--unfinished", type=int, default=4_000)
    parser.add_argument("--days", type=float, nargs="+", default=[1, 14], help="JobStat history to try")
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    os.environ.update(DJJ_DB="postgres", DJJ_DB_NAME=DB, DJANGO_DEBUG="0")
    os.environ["DJJ_EXTRA_SETTINGS"] = f'{{"METRICS_TOKEN": "{TOKEN}"}}'
    sys.path[:0] = [str(ROOT / "testproject"), str(ROOT)]
    os.environ["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
    admin(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    admin(f"CREATE DATABASE {DB}")
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from django_durable_jobs.models import Worker
    from django_durable_jobs.state import stats

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(FINISHED, [args.finished])
        cursor.execute(UNFINISHED, [args.unfinished])
        for i in range(4):
            Worker.objects.create(id=f"bench-worker-{i}", host="bench", pid=i, paused=i == 3)
        cursor.execute("VACUUM ANALYZE durable_jobs_job")
    print(f"{args.finished:,} finished and {args.unfinished:,} unfinished jobs inserted in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    client = Client(headers={"Authorization": f"Bearer {TOKEN}"})
    for days in args.days:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM durable_jobs_jobstat")
            cursor.execute("DELETE FROM durable_jobs_jobstattotal")
            cursor.execute(ROLLUPS, [int(days * 1440) - 1])
            cursor.execute("VACUUM ANALYZE durable_jobs_jobstat")
            cursor.execute("SELECT count(*) FROM durable_jobs_jobstat")
            rollups = cursor.fetchone()[0]
        scrapes(client, args.scrapes, f"{rollups:,} JobStat rows ({days:g} days), none folded")
        now = timezone.now()
        folds, through = [], None
        while through is None or through < stats.minute_of(now) - stats.FOLD_LAG:
            began = time.perf_counter()
            through = stats.fold_totals(connection.alias, now).through
            folds.append((time.perf_counter() - began) * 1000)
        print(
            f"catching up {days:g} days (a fold adds {stats.FOLD_SPAN.total_seconds() / 3600:g} h at most): "
            f"{len(folds)} folds, "
            f"longest {max(folds):.0f} ms, {sum(folds):.0f} ms in all"
        )
        began = time.perf_counter()
        stats.fold_totals(connection.alias, now + timedelta(minutes=1))
        print(
            f"a one-minute fold (once a minute, by a worker): {(time.perf_counter() - began) * 1000:.1f} ms"
        )
        scrapes(client, args.scrapes, f"{rollups:,} JobStat rows ({days:g} days), folded")


def scrapes(client: Any, n: int, what: str) -> None:
    times = []
    for _ in range(n + 3):
        began = time.perf_counter()
        response = client.get("/jobs/metrics")
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.content
    times = sorted(times[3:])  # the first ones warm the connection and caches
    print(
        f"scrape with {what}: median {statistics.median(times):.1f} ms, "
        f"min {times[0]:.1f} ms, p90 {times[int(len(times) * 0.9)]:.1f} ms, "
        f"{len(response.content):,} bytes"
    )


if __name__ == "__main__":
    main()
