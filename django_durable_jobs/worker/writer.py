"""The writer: commits the outcomes of many executions per transaction (internal).

Group commit: once a first outcome arrives, the writer waits up to
``COMMIT_INTERVAL`` seconds for more, or until it holds ``COMMIT_BATCH`` of
them, whichever comes first, and records the batch with one
:func:`~django_durable_jobs.state.execution.record`. Only then are the
executions' slots freed, their finish logged (:mod:`.joblog`) and their
signals sent. The per-minute statistics are written by ``record`` itself,
in the same transaction as the outcomes (``state.stats``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from django.db import DatabaseError, connections

from .. import signals
from ..conf import jobs_settings
from ..models import PauseMode, Status
from ..state import execution as run_state
from ..state.execution import Outcome
from .execution import Execution
from .health import Outage, reachable, reset_connection
from .joblog import finished as log_finished
from .joblog import outcome_label
from .slots import Slots

logger = logging.getLogger("django_durable_jobs.worker")

#: An execution, its outcome, and when it was handed over (``time.monotonic()``).
Finished = tuple[Execution, Outcome, float]


class Writer:
    """Runs in its own thread (:meth:`run`) until :meth:`stop` is called."""

    def __init__(self, using: str, slots: Slots, wake: threading.Event, stats: dict[str, int]) -> None:
        self.using = using
        self._slots = slots
        self._wake = wake
        self._stats = stats
        self._queue: queue.SimpleQueue[Finished | None] = queue.SimpleQueue()
        self._busy = threading.Event()

    def put(self, execution: Execution, outcome: Outcome) -> None:
        """Hand over an outcome; the execution's slot stays taken (and leased) until it commits."""
        self._queue.put((execution, outcome, time.monotonic()))

    def stop(self) -> None:
        """Write what was handed over so far, then return from :meth:`run`."""
        self._queue.put(None)

    @property
    def idle(self) -> bool:
        return not self._busy.is_set() and self._queue.empty()

    def run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            self._busy.set()
            batch, stop = self._collect(first)
            if batch:
                self._write(batch)
            self._busy.clear()
        connections.close_all()  # this thread's connection: the writer is done

    def _collect(self, first: Finished | None) -> tuple[list[Finished], bool]:
        """The batch that starts with ``first``, and whether to stop after it."""
        if first is None:
            return [], True
        batch = [first]
        deadline = time.monotonic() + jobs_settings.COMMIT_INTERVAL
        while len(batch) < jobs_settings.COMMIT_BATCH:
            # Once every execution has handed over its outcome, waiting cannot grow the batch.
            timeout = max(deadline - time.monotonic(), 0.0) if self._more_to_come() else 0.0
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _more_to_come(self) -> bool:
        """Whether some execution may still hand over an outcome (always, without slots)."""
        return self._slots is None or self._slots.awaiting() > 0

    def _write(self, batch: list[Finished]) -> None:
        """Commit many outcomes in one transaction, then free their slots and send their signals.

        While the database is away the writer waits for it (the jobs keep
        their slots, and their leases if it comes back in time). An error with
        the database up is retried a few times, one outcome at a time, so that
        one bad row cannot sink the others.
        """
        outage = Outage("writer", self.using)
        errors = 0
        while True:
            try:
                statuses = run_state.record(self.using, [item[1] for item in batch])
                outage.ok()
                break
            except DatabaseError as exc:
                if not reachable(self.using):
                    time.sleep(outage.failed(exc))
                    continue
                logger.exception("writing %d outcome(s) failed (try %d)", len(batch), errors + 1)
                reset_connection(self.using)
                if len(batch) > 1:
                    for item in batch:
                        self._write([item])
                    return
                errors += 1
                if errors == 5:
                    execution = batch[0][0]
                    logger.error(
                        "gave up writing the outcome of job %s; its lease will expire", execution.ctx.id
                    )
                    self._slots.settle(execution)
                    return
                time.sleep(0.2 * errors)
        for (execution, outcome, ended_at), status in zip(batch, statuses, strict=True):
            self._slots.settle(execution)
            log_finished(execution.ctx, outcome_label(outcome.kind, status), execution.started_at, ended_at)
            self._after_commit(execution, outcome, status)
        self._wake.set()  # slots are free, and a finished child may have made its parent runnable

    def _after_commit(self, execution: Execution, outcome: Outcome, status: str | None) -> None:
        if status is None:  # the execution no longer owned its job (logged as "discarded")
            self._stats["discarded"] += 1
            return
        extra: dict[str, Any] = {}
        if status == Status.COMPLETED:
            self._stats["completed"] += 1
            signal = signals.job_completed
        elif status == Status.FAILED:
            self._stats["failed"] += 1
            signal = signals.job_failed
        elif status == Status.PAUSED:
            signal, extra = signals.job_paused, {"mode": PauseMode.GRACEFUL}
        elif outcome.kind == "retry":
            self._stats["retried"] += 1
            signal = signals.job_retrying
        else:
            return
        if signal.receivers:
            job = execution.job_row(status, result=outcome.result, last_error=outcome.error)
            signals.send(signal, job=job, **extra)
