"""Aggressive pause latency: ``pause_job`` in this process -> handler stopped in a worker.

Run: ``DJJ_DB=postgres python benchmarks/pause_latency.py [--tries 50]``. Uses the
database named by DJJ_DB_NAME (default durable_jobs_pause_bench, created fresh).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tries", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("DJJ_DB", "postgres")
    os.environ.setdefault("DJJ_DB_NAME", "durable_jobs_pause_bench")
    sys.path[:0] = [str(ROOT / "testproject"), str(ROOT)]
    os.environ["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
    if os.environ["DJJ_DB"] == "postgres":
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {os.environ['DJJ_DB_NAME']} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {os.environ['DJJ_DB_NAME']}")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from demo import jobs as demo

    from django_durable_jobs import PauseMode, pause_job
    from django_durable_jobs.models import Job, Status

    worker = subprocess.Popen(
        [sys.executable, str(ROOT / "testproject" / "manage.py"), "runjobs", "-c", "2"], env=os.environ
    )
    samples = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.tries):
                marker = Path(tmp) / f"stop-{i}"
                job = demo.spin_report.enqueue(str(marker), 30.0)
                while Job.objects.get(pk=job.pk).status != Status.RUNNING:
                    time.sleep(0.005)
                time.sleep(0.05)  # let the handler get into its loop
                asked = time.time()
                pause_job(job.pk, mode=PauseMode.AGGRESSIVE)
                while not marker.exists() or not marker.read_text():
                    time.sleep(0.001)
                samples.append((float(marker.read_text()) - asked) * 1000)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    samples.sort()
    p95 = samples[int(0.95 * (len(samples) - 1))]
    print(f"aggressive pause_job -> handler stopped, {len(samples)} tries on {os.environ['DJJ_DB']}:")
    print(f"  p50 {statistics.median(samples):.1f} ms  p95 {p95:.1f} ms  max {samples[-1]:.1f} ms")
    worker_pause(args.tries // 5 or 1)


def worker_pause(tries: int) -> None:
    """``pause_worker`` from this process -> the worker's last claim, while work streams in."""
    from datetime import UTC, datetime

    from demo import jobs as demo

    from django_durable_jobs import pause_worker, resume_worker
    from django_durable_jobs.models import Job

    worker = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "testproject" / "manage.py"),
            "runjobs",
            "-c",
            "4",
            "--worker-id",
            "bench",
        ],
        env=os.environ,
    )
    delays = []
    try:
        time.sleep(1.0)
        for _ in range(tries):
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:  # a steady stream of work: ~500 jobs/s
                demo.noop.enqueue()
                time.sleep(0.002)
            asked = datetime.now(UTC)
            pause_worker("bench")
            for _ in range(500):  # keep enqueueing for 1 s after the pause
                demo.noop.enqueue()
                time.sleep(0.002)
            last = (
                Job.objects.filter(worker_id="bench")
                .order_by("-started_at")
                .values_list("started_at", flat=True)
                .first()
                or Job.objects.order_by("-started_at").values_list("started_at", flat=True).first()
            )
            delays.append(max((last - asked).total_seconds() * 1000, 0.0))
            resume_worker("bench")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    delays.sort()
    print(f"pause_worker -> last claim by that worker, {len(delays)} tries (0 = none after the call):")
    print(f"  p50 {statistics.median(delays):.1f} ms  max {delays[-1]:.1f} ms")


if __name__ == "__main__":
    main()
