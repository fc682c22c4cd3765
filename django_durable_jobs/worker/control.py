"""The control loop: heartbeats, pauses, housekeeping and schedules (internal).

Every ``CONTROL_POLL_SECONDS`` it reads the worker's pause state, checks
that its executions still own their jobs and releases claimed-ahead jobs of
paused queues. On its own timers it renews leases and the registry row
(``HEARTBEAT_SECONDS``); reclaims dead workers' jobs, wakes stranded
parents, resumes queues whose pause expired and fails timed-out fan-outs
(``RECLAIM_SECONDS``), and records the queue depth samples once a
minute; prunes expired finished jobs (``PRUNE_SECONDS``, a short slice
at a time, the next one a tenth of a second later while a backlog
lasts); and, with ``--scheduler``, fires due schedules.

The same tick runs at once when the listener (PostgreSQL) passes on a
control wake-up (:meth:`ControlLoop.poke`); polling is the fallback. Each
tick also gives up on handlers that ignore their interruption for longer
than ``INTERRUPT_GRACE_SECONDS``: their slot goes to the next job and their
thread is abandoned (a thread cannot be killed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import DatabaseError, close_old_connections

from ..conf import jobs_settings
from ..exceptions import WorkerNotFound
from ..models import PauseMode
from ..scheduling import firing
from ..state import control as transitions
from ..state import execution as run_state
from ..state import fanouts, pauses, retention, stats
from .execution import TIMED_OUT, Execution
from .health import Outage
from .slots import Slots

#: A pruning slice lasts about this long (it ends with the batch that spends it),
#: in batches of at most PRUNE_SLICE_BATCH jobs, and while a backlog lasts the
#: next one comes this soon. Every PRUNE_SECONDS a whole period's expired jobs
#: are due at once: short slices with pauses between them spread their deletes
#: out, so that no slice holds the database's CPU long enough to stall claims
#: (README, Performance: what it changed in a sustained run).
PRUNE_SLICE = 0.1
PRUNE_SLICE_BATCH = 2_000
PRUNE_SLICE_PAUSE = 0.1

logger = logging.getLogger("django_durable_jobs.worker")


class ControlLoop:
    def __init__(
        self,
        worker_id: str,
        using: str,
        *,
        slots: Slots,
        wake: threading.Event,
        stopping: threading.Event,
        scheduler: bool,
        apply_pause_state: Callable[[PauseMode | None], None],
        release_unstarted: Callable[[set[str], set[str]], None],
        interrupt: Callable[[list[int], str], None],
        abandon: Callable[[Execution], None],
        abandoned: Callable[[], int],
        children: Callable[[], list[dict] | None] = lambda: None,
    ) -> None:
        self.worker_id = worker_id
        self.using = using
        self._slots = slots
        self._wake = wake
        self._stopping = stopping
        self._scheduler = scheduler
        self._apply_pause_state = apply_pause_state
        self._release_unstarted = release_unstarted
        self._interrupt = interrupt
        self._abandon = abandon
        self._abandoned = abandoned
        self._children = children  # the process pool's children, for the registry row
        self._poke = threading.Event()
        self._stopped = threading.Event()
        self._next_prune = 0.0
        self._prune_from = 0  # the job id a pruning slice cut short goes on from
        self._sampled_minute = 0  # the last minute (since the epoch) this process sampled queues in
        self._paused: tuple[set[str], set[str]] | None = None  # what the rows were last held for

    def run(self) -> None:
        """Tick until :meth:`stop`: also while the worker stops, its running jobs keep their
        leases and a cancel or an aggressive pause still reaches them; only the fleet's
        chores (housekeeping, pruning, schedules) end when the worker starts to stop."""
        next_heartbeat = next_housekeeping = next_schedule = 0.0
        outage = Outage("control loop", self.using)
        while not self._stopped.is_set():
            self._abandon_overdue()
            now = time.monotonic()
            wait = jobs_settings.CONTROL_POLL_SECONDS
            chores = not self._stopping.is_set()
            try:
                self._poll()
                if now >= next_heartbeat:
                    self._heartbeat()
                    next_heartbeat = now + jobs_settings.HEARTBEAT_SECONDS
                if chores and now >= next_housekeeping:
                    self._housekeeping()
                    next_housekeeping = now + jobs_settings.RECLAIM_SECONDS
                if chores and now >= self._next_prune and self._prune(now):
                    wait = min(wait, PRUNE_SLICE_PAUSE)
                if chores and self._scheduler and now >= next_schedule:
                    next_schedule = now + self._fire_schedules()
                outage.ok()
            except DatabaseError as exc:
                wait = min(outage.failed(exc), wait)
            except Exception:
                logger.exception("control loop error")
            self._poke.wait(wait)
            self._poke.clear()
        close_old_connections()

    def stop(self) -> None:
        """End :meth:`run` (the worker has stopped: no job of it runs any more)."""
        self._stopped.set()
        self._poke.set()

    def poke(self) -> None:
        """Run a tick now: another process paused, resumed or cancelled something."""
        self._poke.set()

    def _abandon_overdue(self) -> None:
        grace = jobs_settings.INTERRUPT_GRACE_SECONDS
        for execution in self._slots.all():
            if execution.past_timeout():
                execution.interrupt(TIMED_OUT)
            elif execution.overdue(grace):
                self._abandon(execution)

    # ------------------------------------------------------------------ every tick

    def _poll(self) -> None:
        """The polling fallback for everything a control message also tells."""
        self._read_pause_state()
        owned = self._slots.owned()
        if owned:
            lost = set(owned) - run_state.still_owned(self.using, owned)
            if lost:
                self._interrupt(sorted(lost), "no longer owns the job")
        queues, names = set(pauses.paused_queues()), set(pauses.paused_job_types())
        if queues or names:
            self._release_unstarted(queues, names)
        if (queues, names) != self._paused:
            done = pauses.hold_paused_rows(queues, names) < pauses.HOLD_PER_CALL
            self._paused = (queues, names) if done else None  # more to hold: next tick

    def _read_pause_state(self) -> None:
        try:
            mode = transitions.worker_pause_state(self.worker_id)
        except WorkerNotFound:  # the row was deleted: keep the state we have
            return
        self._apply_pause_state(mode)

    # ------------------------------------------------------------------ on timers

    def _heartbeat(self) -> None:
        run_state.renew_leases(self.using, self._slots.owned())  # losses are found by _poll()
        transitions.heartbeat(self.worker_id, abandoned_threads=self._abandoned(), children=self._children())

    def _housekeeping(self) -> None:
        reclaimed = run_state.reclaim_expired(self.using)
        if reclaimed:
            logger.warning("reclaimed %d job(s) of dead workers: %s", len(reclaimed), reclaimed[:20])
            self._wake.set()
        if run_state.wake_stranded_parents(self.using):
            self._wake.set()
        if pauses.resume_due_pauses():
            self._wake.set()
        if self._paused:
            pauses.hold_paused_rows(*self._paused)
        if pauses.release_stray_rows():
            self._wake.set()
        if fanouts.expire_timed_out(self.using):
            self._wake.set()
        self._sample_queues()

    def _sample_queues(self) -> None:
        """Once a minute, queue depth samples and ``/metrics`` totals: the fleet's first worker does them."""
        minute = int(time.time() // 60)
        if minute != self._sampled_minute:
            self._sampled_minute = minute  # also after an error: the next try is next minute
            stats.sample_queues(self.using)
            stats.fold_totals(self.using)

    def _prune(self, now: float) -> bool:
        """Delete a slice of the expired finished jobs, unless another worker is at it.

        True when a backlog is left: the next slice then comes after
        :data:`PRUNE_SLICE_PAUSE`, from where this one stopped.
        """
        self._next_prune = now + jobs_settings.PRUNE_SECONDS  # also after an error
        budget = min(PRUNE_SLICE, jobs_settings.HEARTBEAT_SECONDS / 2)
        pruned = retention.prune_expired(
            self.using, budget=budget, start=self._prune_from, batch_size=PRUNE_SLICE_BATCH
        )
        self._prune_from = pruned.resume if pruned.more else 0
        if pruned.jobs:
            logger.info(
                "pruned %d expired job(s), %d checkpoint(s), %d fan-out(s)",
                pruned.jobs,
                pruned.checkpoints,
                pruned.fanouts,
            )
        if pruned.more:
            self._next_prune = now
        return pruned.more

    def _fire_schedules(self) -> float:
        """Fire due schedules; returns the seconds until the next look (0.05 to 1)."""
        if firing.run_due(self.using):
            self._wake.set()
        wait = firing.seconds_until_next_due()
        return min(max(wait if wait is not None else 1.0, 0.05), 1.0)
