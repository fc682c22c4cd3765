"""The executions a worker holds, and the slots of its pools they take (internal).

A slot is taken at claim time and given back (:meth:`Slots.settle`) only
once the execution's outcome is committed, so the job keeps its lease,
renewed by heartbeats, for as long as the worker holds it. For claiming,
though, an outcome in the writer's hands no longer counts (:meth:`in_hand`,
up to ``COMMIT_BATCH`` of them): the next claim runs while the last batch
commits, instead of after it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from ..conf import jobs_settings
from .execution import Execution, Pool


class Slots:
    """Executions by job id; every read returns a snapshot taken under the lock."""

    def __init__(self, pools: list[Pool], wake: threading.Event) -> None:
        self.pools = pools
        self._wake = wake
        self._lock = threading.Lock()
        self._executions: dict[int, Execution] = {}
        self._awaiting = 0  # executions that have not handed over an outcome yet

    def add(self, execution: Execution) -> None:
        with self._lock:
            self._executions[execution.ctx.id] = execution
            execution.pool.outstanding += 1
            self._awaiting += 1

    def delivered(self, execution: Execution) -> None:
        """The execution hands its outcome to the writer now (or ends without one)."""
        with self._lock:
            self._mark_delivered(execution)
        self._wake.set()  # its slot counts no more for claiming (in_hand)

    def _mark_delivered(self, execution: Execution) -> None:
        if not execution.delivered:
            execution.delivered = True
            self._awaiting -= 1
            if self._executions.get(execution.ctx.id) is execution:
                execution.pool.committing += 1

    def awaiting(self) -> int:
        """How many executions may still hand an outcome to the writer."""
        return self._awaiting

    def settle(self, execution: Execution) -> None:
        """The execution is over and its outcome (if any) committed: free its slot."""
        with self._lock:
            was_delivered = execution.delivered  # then delivered() woke the claimer already
            self._mark_delivered(execution)
            if self._executions.get(execution.ctx.id) is not execution:
                return
            del self._executions[execution.ctx.id]
            pool = execution.pool
            pool.outstanding -= 1
            pool.committing -= 1
            # Settling a delivered execution frees no slot for claiming, unless more
            # than COMMIT_BATCH were committing (in_hand counted the rest).
            freed = not was_delivered or pool.committing >= jobs_settings.COMMIT_BATCH
            wake = freed and self.in_hand(pool) <= pool.concurrency
        if wake:
            self._wake.set()

    def all(self) -> list[Execution]:
        with self._lock:
            return list(self._executions.values())

    def find(self, job_ids: Iterable[int]) -> list[Execution]:
        with self._lock:
            return [self._executions[i] for i in job_ids if i in self._executions]

    def running(self) -> list[Execution]:
        """Executions whose handler runs and still owns its job."""
        return [e for e in self.all() if e.running]

    def stuck(self) -> int:
        """Handlers started and not finished, interrupted or not."""
        return sum(1 for e in self.all() if e.started and not e.finished)

    def undelivered(self) -> list[Execution]:
        """Finished handlers whose outcome is not yet in the writer's hands."""
        return [e for e in self.all() if e.finished and not e.delivered]

    def owned(self) -> dict[int, str]:
        """Job id -> lease of every execution not interrupted (the leases to renew)."""
        return {e.ctx.id: e.ctx.lease for e in self.all() if e.ctx.interrupted is None}

    def empty(self) -> bool:
        with self._lock:
            return not self._executions

    def in_hand(self, pool: Pool) -> int:
        """What ``pool``'s executions count for claiming: every one not settled, but those whose
        outcome the writer holds (up to ``COMMIT_BATCH``), so that a claim overlaps their commit."""
        return pool.outstanding - min(pool.committing, jobs_settings.COMMIT_BATCH)

    def all_full(self) -> bool:
        return all(self.in_hand(p) >= p.concurrency for p in self.pools)
