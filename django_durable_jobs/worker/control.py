"""The control loop: heartbeats, pauses, housekeeping and schedules (internal).

Every ``CONTROL_POLL_SECONDS`` it reads the worker's pause state, checks
that its executions still own their jobs and releases claimed-ahead jobs of
paused queues. On its own timers it renews leases and the registry row
(``HEARTBEAT_SECONDS``); reclaims dead workers' jobs, wakes stranded
parents, resumes queues whose pause expired and fails timed-out fan-outs
(``RECLAIM_SECONDS``); and, with ``--scheduler``, fires due schedules.

The same decisions are taken at once when the listener (PostgreSQL) passes
a control message to :meth:`ControlLoop.on_message`; polling is the fallback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, close_old_connections

from ..conf import jobs_settings
from ..exceptions import WorkerNotFound
from ..models import PauseMode
from ..scheduling import firing
from ..state import control as transitions
from ..state import execution as run_state
from ..state import fanouts
from .health import reset_connection
from .slots import Slots

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
        release_unstarted: Callable[[set[str]], None],
        interrupt: Callable[[list[int], str], None],
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

    def run(self) -> None:
        next_heartbeat = next_housekeeping = next_schedule = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            try:
                self._poll()
                if now >= next_heartbeat:
                    self._heartbeat()
                    next_heartbeat = now + jobs_settings.HEARTBEAT_SECONDS
                if now >= next_housekeeping:
                    self._housekeeping()
                    next_housekeeping = now + jobs_settings.RECLAIM_SECONDS
                if self._scheduler and now >= next_schedule:
                    next_schedule = now + self._fire_schedules()
            except DatabaseError:
                logger.exception("control loop database error; retrying")
                reset_connection(self.using)
            except Exception:
                logger.exception("control loop error")
            self._stopping.wait(jobs_settings.CONTROL_POLL_SECONDS)
        close_old_connections()

    def on_message(self, message: dict[str, Any]) -> None:
        """A control message from another process (see ``state.common.interrupt_running``)."""
        kind = message.get("type")
        if kind == "interrupt":
            self._interrupt(message.get("jobs", []), message.get("reason", "interrupted"))
        elif kind == "worker" and message.get("worker") == self.worker_id:
            self._read_pause_state()
            close_old_connections()
        elif kind == "queue" and message.get("paused"):
            self._release_unstarted({message["queue"]})

    # ------------------------------------------------------------------ every tick

    def _poll(self) -> None:
        """The polling fallback for everything a control message also tells."""
        self._read_pause_state()
        owned = self._slots.owned()
        if owned:
            lost = set(owned) - run_state.still_owned(self.using, owned)
            if lost:
                self._interrupt(sorted(lost), "no longer owns the job")
        paused = set(transitions.paused_queues())
        if paused:
            self._release_unstarted(paused)

    def _read_pause_state(self) -> None:
        try:
            mode = transitions.worker_pause_state(self.worker_id)
        except WorkerNotFound:  # the row was deleted: keep the state we have
            return
        self._apply_pause_state(mode)

    # ------------------------------------------------------------------ on timers

    def _heartbeat(self) -> None:
        run_state.renew_leases(self.using, self._slots.owned())  # losses are found by _poll()
        transitions.heartbeat(self.worker_id)

    def _housekeeping(self) -> None:
        reclaimed = run_state.reclaim_expired(self.using)
        if reclaimed:
            logger.warning("reclaimed %d job(s) of dead workers: %s", len(reclaimed), reclaimed[:20])
            self._wake.set()
        if run_state.wake_stranded_parents(self.using):
            self._wake.set()
        if transitions.resume_due_queues():
            self._wake.set()
        if fanouts.expire_timed_out(self.using):
            self._wake.set()

    def _fire_schedules(self) -> float:
        """Fire due schedules; returns the seconds until the next look (0.05 to 1)."""
        if firing.run_due(self.using):
            self._wake.set()
        wait = firing.seconds_until_next_due()
        return min(max(wait if wait is not None else 1.0, 0.05), 1.0)
