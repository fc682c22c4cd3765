"""The claimer: claims runnable jobs into free slots and hands them to the executor (internal).

It runs in the thread that called :meth:`Worker.run` and sleeps on the
worker's wake event between claims: new work (NOTIFY), freed slots, a
resume or the poll interval wake it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from django.db import DatabaseError
from django.utils import timezone

from ..conf import jobs_settings
from ..context import JobContext
from ..models import Job, Status
from ..registry import any_limits
from ..state import execution as run_state
from ..state import pauses
from .execution import Execution, Pool
from .executor import Executor
from .health import Outage
from .slots import Slots
from .writer import Writer

logger = logging.getLogger("django_durable_jobs.worker")

#: ``--burst`` does not exit while a pending job is due within this many seconds.
BURST_WAIT_SECONDS = 5.0

#: Prefetch only while jobs take less than this (seconds): long jobs would be hoarded.
PREFETCH_BELOW = 0.05


class Claimer:
    def __init__(
        self,
        worker_id: str,
        using: str,
        *,
        slots: Slots,
        executor: Executor,
        writer: Writer,
        stats: dict[str, int],
        wake: threading.Event,
        stopping: threading.Event,
        is_paused: Callable[[], bool],
        burst: bool,
    ) -> None:
        self.worker_id = worker_id
        self.using = using
        self._slots = slots
        self._executor = executor
        self._writer = writer
        self._stats = stats
        self._wake = wake
        self._stopping = stopping
        self._is_paused = is_paused
        self._burst = burst

    def run(self) -> None:
        """Claim until the worker stops or, in burst mode, until no runnable work is left."""
        idle_checks = 0
        outage = Outage("claimer", self.using)
        while not self._stopping.is_set():
            self._wake.clear()
            claimed = 0
            paused = self._is_paused()
            if not paused:
                try:
                    claimed = self._claim_all()
                    outage.ok()
                except DatabaseError as exc:
                    self._stopping.wait(outage.failed(exc))
                    continue
            if self._burst and not paused:
                if claimed == 0 and self._idle() and not self._due_soon():
                    idle_checks += 1
                    if idle_checks >= 2:  # twice: outcomes just written may have woken parents
                        return
                    continue
                idle_checks = 0
            if claimed == 0 or self._slots.all_full():
                self._wake.wait(self._idle_wait())

    def _idle_wait(self) -> float:
        """A poll interval, or less while rate-limited work waits for its next permit.

        Waking when the permit frees, not a permit's spacing later, keeps a
        sliding window full: each late start would push every later one back.
        """
        if self._slots.all_full() or not any_limits():
            return jobs_settings.POLL_SECONDS
        try:
            permits = [run_state.next_permit_in(self.using, pool.queues) for pool in self._slots.pools]
        except DatabaseError:
            return jobs_settings.POLL_SECONDS
        waits = [p for p in permits if p is not None]
        return min([jobs_settings.POLL_SECONDS, *[max(w, 0.005) for w in waits]])

    def _prefetch(self) -> int:
        """Jobs to claim beyond the free slots, so that claims outgrow the concurrency."""
        avg = self._executor.avg_duration
        return jobs_settings.PREFETCH if avg is not None and avg <= PREFETCH_BELOW else 0

    def _claim_all(self) -> int:
        total = 0
        prefetch = self._prefetch()
        for pool in self._slots.pools:
            in_hand = self._slots.in_hand(pool)
            if in_hand >= pool.concurrency:
                continue
            limit = pool.concurrency + prefetch - in_hand
            jobs = run_state.claim(self.using, self.worker_id, pool.queues, limit)
            total += len(jobs)
            for claimed in jobs:
                self._dispatch(claimed, pool)
        self._stats["claimed"] += total
        return total

    def _dispatch(self, claimed: run_state.ClaimedJob, pool: Pool) -> None:
        ctx = JobContext(
            id=claimed.id,
            name=claimed.name,
            queue=claimed.queue,
            attempt=claimed.attempt,
            max_retries=claimed.max_retries,
            lease=claimed.lease,
            args=claimed.args,
            kwargs=claimed.kwargs,
            fanout_id=claimed.fanout_id,
            snoozes=claimed.snoozes,
            timeout=claimed.timeout,
            trace_context=claimed.trace_context,
        )
        execution = Execution(ctx, pool, self.worker_id)
        self._slots.add(execution)
        self._executor.submit(execution)

    def _idle(self) -> bool:
        return self._slots.empty() and self._writer.idle

    def _due_soon(self) -> bool:
        """Burst mode waits for retries due within a few seconds instead of leaving them."""
        soon = (
            Job.objects.using(self.using)
            .filter(
                status=Status.PENDING, run_after__lte=timezone.now() + timedelta(seconds=BURST_WAIT_SECONDS)
            )
            .exclude(queue__in=pauses.paused_queues())
            .exclude(name__in=pauses.paused_job_types())
        )
        if all(p.queues is not None for p in self._slots.pools):
            soon = soon.filter(queue__in=[q for p in self._slots.pools for q in p.queues or []])
        return soon.exists()
