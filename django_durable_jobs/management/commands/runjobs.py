"""``manage.py runjobs``: run a worker process."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_durable_jobs import validation
from django_durable_jobs.conf import jobs_settings
from django_durable_jobs.exceptions import InvalidValue
from django_durable_jobs.management.arguments import count, refuse
from django_durable_jobs.worker import Pool, Worker


def queue_spec(value: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:CONCURRENCY``."""
    name, _, slots = value.partition(":")
    validation.queue_name(name, "--queue")
    return name, count(f"--queue {name}", slots) if slots else None


def build_pools(specs: list[tuple[str, int | None]], concurrency: int) -> list[Pool]:
    """Queues with a count get their own slots; the others share ``concurrency``."""
    if not specs:
        return [Pool(queues=None, concurrency=concurrency)]
    seen = [name for name, _ in specs]
    duplicates = sorted({n for n in seen if seen.count(n) > 1})
    if duplicates:
        raise CommandError(f"queue given more than once: {', '.join(duplicates)}")
    pools = [Pool(queues=[name], concurrency=count) for name, count in specs if count]
    shared = [name for name, count in specs if not count]
    if shared:
        pools.append(Pool(queues=shared, concurrency=concurrency))
    return pools


class Command(BaseCommand):
    help = "Run a durable-jobs worker: claim and execute jobs until stopped (SIGTERM/SIGINT)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--queue",
            "-q",
            action="append",
            default=[],
            metavar="NAME[:CONCURRENCY]",
            help="Queue to serve, optionally with its own slot count; repeatable. Default: every queue.",
        )
        parser.add_argument(
            "--concurrency",
            "-c",
            default=None,
            help="Slots shared by queues without their own count (default: DURABLE_JOBS['CONCURRENCY']).",
        )
        parser.add_argument("--scheduler", action="store_true", help="Also fire due schedules.")
        parser.add_argument("--burst", action="store_true", help="Exit when no runnable work is left.")
        parser.add_argument("--paused", action="store_true", help="Start paused (resume from the admin).")
        parser.add_argument("--worker-id", default=None, help="Registry id (default: host:pid:random).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            specs = [queue_spec(value) for value in options["queue"]]
            concurrency = (
                count("--concurrency", options["concurrency"])
                if options["concurrency"] is not None
                else jobs_settings.CONCURRENCY
            )
            worker_id = options["worker_id"]
            if worker_id is not None:
                validation.text(
                    "--worker-id", worker_id, max_length=validation.WORKER_ID_LENGTH, required=True
                )
        except InvalidValue as exc:
            raise refuse(exc) from None
        pools = build_pools(specs, concurrency)
        worker = Worker(
            pools,
            worker_id=worker_id,
            scheduler=options["scheduler"],
            burst=options["burst"],
            paused=options["paused"],
        )
        if options["verbosity"] >= 1:
            self.stdout.write(f"worker {worker.id}: {', '.join(map(str, pools))}")
        worker.run()
        if options["verbosity"] >= 1:
            stats = worker.stats
            self.stdout.write(
                f"worker {worker.id} stopped: {stats['completed']} completed, {stats['failed']} failed, "
                f"{stats['retried']} retried"
            )
        if worker.restart_requested:
            # Abandoned threads (handlers stuck in C calls) pile up in a process
            # until it ends: start this command afresh in their place.
            self.stdout.write(f"worker {worker.id}: restarting")
            sys.stdout.flush()
            sys.stderr.flush()
            os.execv(sys.executable, [sys.executable, *sys.argv])
        if worker.stuck_threads():
            # Their jobs are already released or taken over and their writes are
            # fenced off; waiting for a C call (say a long sleep) to return would
            # only delay the exit. Exit without joining those threads.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
