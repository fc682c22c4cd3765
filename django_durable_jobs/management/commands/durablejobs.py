"""``manage.py durablejobs``: pause, resume and inspect from the command line."""

from __future__ import annotations

import argparse
import getpass
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from django_durable_jobs import (
    cancel_job,
    pause_job,
    pause_job_type,
    pause_queue,
    pause_schedule,
    pause_worker,
    resume_job,
    resume_job_type,
    resume_queue,
    resume_schedule,
    resume_worker,
    retry_job,
    stats,
)
from django_durable_jobs.conf import jobs_settings
from django_durable_jobs.exceptions import DurableJobsError, InvalidValue
from django_durable_jobs.management.arguments import duration, refuse
from django_durable_jobs.models import Job, JobTypeState, QueueState, Worker
from django_durable_jobs.scheduling.manual import run_schedule_now
from django_durable_jobs.state import retention
from django_durable_jobs.statuses import PauseMode, Status
from django_durable_jobs.validation import job_id, queue_name

#: The minutes of statistics the p95 wait of ``status`` is taken over.
WAIT_WINDOW = timedelta(minutes=5)


def show_seconds(seconds: float | None) -> str:
    """A duration for a narrow column: ``-``, ``12ms``, ``3.4s``, ``2.5m`` (``>1h``: past the last bucket)."""
    if seconds is None:
        return "-"
    if seconds >= stats.WAIT_BUCKETS[-1]:
        return ">1h"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.1f}s" if seconds < 60 else f"{seconds / 60:.1f}m"


class Command(BaseCommand):
    help = "Pause, resume, cancel or retry jobs, queues and workers; show their status."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        def pausing(p: argparse.ArgumentParser) -> None:
            p.add_argument("--mode", choices=[m.value for m in PauseMode], default=PauseMode.GRACEFUL)
            p.add_argument("--reason", default="")

        for name, target in [
            ("pause-job", "job"),
            ("resume-job", "job"),
            ("cancel-job", "job"),
            ("retry-job", "job"),
            ("pause-queue", "queue"),
            ("resume-queue", "queue"),
            ("pause-job-type", "name"),
            ("resume-job-type", "name"),
            ("pause-schedule", "schedule"),
            ("resume-schedule", "schedule"),
            ("run-schedule", "schedule"),
            ("pause-worker", "worker"),
            ("resume-worker", "worker"),
        ]:
            p = sub.add_parser(name, help=f"{name.replace('-', ' ')}")
            p.add_argument(target)
            p.add_argument("--by", default=getpass.getuser(), help="Who does it (default: you).")
            if name == "pause-schedule":  # a schedule has nothing running to take back: no --mode
                p.add_argument("--reason", default="")
            elif name.startswith("pause-"):
                pausing(p)
            if name in ("pause-queue", "pause-job-type"):
                p.add_argument("--until", help="Auto-resume after e.g. 30m.")
        sub.add_parser("status", help="Queues with counts per status, and live workers.")
        prune = sub.add_parser("prune", help="Delete expired finished jobs now (workers also do it).")
        prune.add_argument("--older-than", help="Finished longer ago than e.g. 7d (default: RETENTION).")
        prune.add_argument("--status", action="append", help="completed, failed or cancelled (repeatable).")
        prune.add_argument("--queue", action="append", help="Only this queue (repeatable).")
        prune.add_argument("--dry-run", action="store_true", help="Count what would go; delete nothing.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "status":
            return self.status()
        if action == "prune":
            return self.prune(**options)
        by = options["by"]
        try:
            if "job" in options:
                options["job"] = job_id(options["job"], field="job")
            if action == "pause-job":
                job = pause_job(options["job"], options["mode"], by=by, reason=options["reason"])
                self.ok(f"job {job.pk}: {job.status}{' (pause requested)' if job.pause_requested else ''}")
            elif action == "resume-job":
                self.ok(f"job {options['job']}: {resume_job(options['job'], by=by).status}")
            elif action == "cancel-job":
                self.ok(f"job {options['job']}: {cancel_job(options['job'], by=by).status}")
            elif action == "retry-job":
                self.ok(f"job {options['job']}: {retry_job(options['job'], by=by).status}")
            elif action == "pause-queue":
                until = duration("--until", options["until"]) if options["until"] is not None else None
                pause_queue(options["queue"], options["mode"], by=by, reason=options["reason"], until=until)
                self.ok(f"queue {options['queue']!r} paused ({options['mode']})")
            elif action == "resume-queue":
                resume_queue(options["queue"], by=by)
                self.ok(f"queue {options['queue']!r} resumed")
            elif action == "pause-job-type":
                until = duration("--until", options["until"]) if options["until"] is not None else None
                pause_job_type(options["name"], options["mode"], by=by, reason=options["reason"], until=until)
                self.ok(f"job type {options['name']!r} paused ({options['mode']})")
            elif action == "resume-job-type":
                resume_job_type(options["name"], by=by)
                self.ok(f"job type {options['name']!r} resumed")
            elif action == "pause-schedule":
                pause_schedule(options["schedule"], by=by, reason=options["reason"])
                self.ok(f"schedule {options['schedule']!r} paused")
            elif action == "resume-schedule":
                resume_schedule(options["schedule"], by=by)
                self.ok(f"schedule {options['schedule']!r} resumed")
            elif action == "run-schedule":
                job = run_schedule_now(options["schedule"], by=by)
                self.ok(f"schedule {options['schedule']!r}: job {job.pk} enqueued")
            elif action == "pause-worker":
                pause_worker(options["worker"], options["mode"], by=by, reason=options["reason"])
                self.ok(f"worker {options['worker']!r} paused ({options['mode']})")
            elif action == "resume-worker":
                resume_worker(options["worker"], by=by)
                self.ok(f"worker {options['worker']!r} resumed")
        except InvalidValue as exc:
            raise refuse(exc) from None
        except DurableJobsError as exc:
            raise CommandError(str(exc)) from None

    def ok(self, message: str) -> None:
        self.stdout.write(self.style.SUCCESS(message))

    def status(self) -> None:
        using = jobs_settings.DATABASE
        counts = Job.objects.using(using).queue_counts()
        states = {s.queue: s for s in QueueState.objects.using(using).all()}
        now = timezone.now()
        done, waits = stats.throughput(now, using=using), stats.totals(now - WAIT_WINDOW, using=using)
        columns = [s.value for s in Status]
        self.stdout.write(
            f"{'QUEUE':<20} {'STATE':<10} " + " ".join(f"{c:>9}" for c in columns) + "  DONE/MIN  P95_WAIT"
        )
        for queue in sorted(set(counts) | set(states) | set(done) | set(waits)):
            state = states.get(queue)
            paused = "paused" if state and state.paused else "running"
            row = counts.get(queue, {})
            p95 = waits[queue].wait_percentile(0.95) if queue in waits else None
            self.stdout.write(
                f"{queue:<20} {paused:<10} "
                + " ".join(f"{row.get(c, 0):>9}" for c in columns)
                + f"  {done.get(queue, 0):>8.0f}  {show_seconds(p95):>8}"
            )
            if state and state.paused:
                until = f" until {state.paused_until:%Y-%m-%d %H:%M:%S}" if state.paused_until else ""
                self.stdout.write(
                    f"    paused by {state.paused_by or '?'} ({state.pause_mode}){until}: {state.reason}"
                )
        for paused in JobTypeState.objects.using(using).filter(paused=True):
            until = f" until {paused.paused_until:%Y-%m-%d %H:%M:%S}" if paused.paused_until else ""
            self.stdout.write(
                f"job type {paused.name} paused by {paused.paused_by or '?'} ({paused.pause_mode}){until}: "
                f"{paused.reason}"
            )
        self.stdout.write(
            "DONE/MIN: executions finished in the last 60 s. "
            f"P95_WAIT: 95th percentile of the wait for a worker, last {WAIT_WINDOW.seconds // 60} minutes."
        )
        self.stdout.write("")
        self.stdout.write(f"{'WORKER':<40} {'HOST':<16} {'PID':>7} {'RUNNING':>8} {'HEARTBEAT':>10}  STATE")
        running = Job.objects.using(using).running_per_worker()
        now = timezone.now()
        workers = Worker.objects.using(using).filter(stopped_at__isnull=True).order_by("-heartbeat_at")
        for worker in workers:
            age = (now - worker.heartbeat_at).total_seconds()
            state = "dead" if not worker.is_alive(now) else ("paused" if worker.paused else "running")
            self.stdout.write(
                f"{worker.id:<40} {worker.host[:16]:<16} {worker.pid:>7} "
                f"{running.get(worker.id, 0):>8} {age:>9.0f}s  {state}"
            )

    def prune(
        self,
        *,
        older_than: str | None,
        status: list[str] | None,
        queue: list[str] | None,
        dry_run: bool,
        **options: Any,
    ) -> None:
        """Delete (or count) expired finished jobs, with a progress bar on a terminal."""
        try:
            chosen = {
                "statuses": retention.parse_statuses(status or [], "--status") or None,
                "queues": [queue_name(q, "--queue") for q in queue or []] or None,
                "older_than": duration("--older-than", older_than) if older_than is not None else None,
            }
        except InvalidValue as exc:
            raise refuse(exc) from None
        bar = _ProgressBar(self.stdout, retention.count(**chosen)) if self.stdout.isatty() else None
        pruned = retention.prune(**chosen, dry_run=dry_run, progress=bar)
        if bar:
            bar.close()
        verb = "would delete" if dry_run else "deleted"
        self.ok(
            f"{verb} {pruned.jobs:,} jobs, {pruned.checkpoints:,} checkpoints, {pruned.fanouts:,} fan-outs"
        )


class _ProgressBar:
    """``[#####.....]  40,000/100,000 jobs`` redrawn in place after each batch."""

    def __init__(self, out: Any, total: int, width: int = 30) -> None:
        self.out, self.total, self.width = out, total, width

    def __call__(self, pruned: Any) -> None:
        done = min(pruned.jobs, self.total) if self.total else 0
        filled = self.width * done // self.total if self.total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        self.out.write(f"\r[{bar}] {pruned.jobs:,}/{max(self.total, pruned.jobs):,} jobs", ending="")
        self.out.flush()

    def close(self) -> None:
        self.out.write("")
