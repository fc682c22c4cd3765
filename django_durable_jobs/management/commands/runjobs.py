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
from django_durable_jobs.management.arguments import choice, count, refuse, seconds
from django_durable_jobs.worker import Pool, Worker
from django_durable_jobs.worker.processes import KILL_GRACE_SECONDS, ProcessOptions


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


def process_options(options: dict[str, Any]) -> ProcessOptions | None:
    """``--pool process`` and its options; None for the thread pool (which takes neither option)."""
    pool = choice("--pool", options["pool"], ("thread", "process"))
    max_jobs, grace = options["max_jobs_per_child"], options["kill_grace"]
    if pool == "thread":
        for name, value in (("--max-jobs-per-child", max_jobs), ("--kill-grace", grace)):
            if value is not None:
                raise InvalidValue(name, "only applies to --pool process")
        return None
    return ProcessOptions(
        max_jobs_per_child=None if max_jobs is None else count("--max-jobs-per-child", max_jobs, 1, 10**9),
        kill_grace=KILL_GRACE_SECONDS if grace is None else seconds("--kill-grace", grace, 0.0, 3600.0),
    )


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
        parser.add_argument(
            "--pool",
            default="thread",
            metavar="thread|process",
            help="Run handlers in threads (default) or in pre-forked child processes, one per slot.",
        )
        parser.add_argument(
            "--max-jobs-per-child",
            default=None,
            metavar="N",
            help="Process pool: replace a child after it ran N jobs (default: never).",
        )
        parser.add_argument(
            "--kill-grace",
            default=None,
            metavar="SECONDS",
            help=f"Process pool: seconds from SIGTERM to SIGKILL (default {KILL_GRACE_SECONDS:g}).",
        )

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
            processes = process_options(options)
        except InvalidValue as exc:
            raise refuse(exc) from None
        pools = build_pools(specs, concurrency)
        worker = Worker(
            pools,
            worker_id=worker_id,
            scheduler=options["scheduler"],
            burst=options["burst"],
            paused=options["paused"],
            processes=processes,
        )
        if options["verbosity"] >= 1:
            self.stdout.write(f"worker {worker.id}: {', '.join(map(str, pools))} ({worker.pool} pool)")
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
