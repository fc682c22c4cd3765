"""What tracing costs a bulk enqueue: ``enqueue_many`` of 10,000 jobs, with and without OpenTelemetry.

Run: ``python benchmarks/tracing_enqueue.py [--db sqlite] [--jobs 10000] [--runs 7]``.
Uses the scratch database ``durable_jobs_tracing_bench`` (PostgreSQL,
dropped at the end) or a temporary SQLite file. Three cases, each the
median of ``--runs``:

- *no OpenTelemetry*: ``django_durable_jobs.tracing`` as without
  ``opentelemetry-api`` (the code path of an enqueue before tracing existed,
  plus one ``is None`` test per ``enqueue_many``);
- *no span*: the SDK installed and configured, no span active;
- *recording span*: inside a recording span, so every job stores its context.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB = "durable_jobs_tracing_bench"


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(sql)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT / "testproject"), str(ROOT)]
    os.environ.update(DJANGO_SETTINGS_MODULE="testproject.settings", DJJ_DB=args.db, DJANGO_DEBUG="0")
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "postgres":
            os.environ["DJJ_DB_NAME"] = DB
            admin(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
            admin(f"CREATE DATABASE {DB}")
        else:
            os.environ["DJJ_DB_NAME"] = str(Path(tmp) / "bench.sqlite3")
        try:
            run(args)
        finally:
            from django.db import connections

            connections.close_all()
            if args.db == "postgres":
                admin(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from demo import jobs as demo
    from django.core.management import call_command
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from django_durable_jobs import tracing
    from django_durable_jobs.models import Job

    call_command("migrate", verbosity=0)
    trace.set_tracer_provider(TracerProvider())  # no exporter: spans are recorded, then dropped
    calls = [((), {})] * args.jobs
    api = tracing.trace

    def timed(case: str, in_span: bool, otel: bool) -> None:
        tracing.trace = api if otel else None
        times = []
        for _ in range(args.runs):
            Job.objects.all().delete()
            began = time.perf_counter()
            if in_span:
                with trace.get_tracer("bench").start_as_current_span("request"):
                    demo.noop.enqueue_many(calls)
            else:
                demo.noop.enqueue_many(calls)
            times.append(time.perf_counter() - began)
        stored = Job.objects.exclude(trace_context=None).count()
        print(
            f"{case:<18} {statistics.median(times) * 1000:7.1f} ms median of {args.runs} "
            f"(min {min(times) * 1000:.1f}), {stored:,} jobs with a trace context"
        )

    print(f"enqueue_many of {args.jobs:,} jobs on {args.db}:")
    for _ in range(2):  # interleaved twice: the machine's load drifts
        timed("no OpenTelemetry", False, False)
        timed("no span", False, True)
        timed("recording span", True, True)


if __name__ == "__main__":
    main()
