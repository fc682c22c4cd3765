"""One claimed job inside a worker, and how to stop its handler (internal).

An :class:`Execution` goes CLAIMED -> RUNNING (``start()``) -> FINISHED
(``finish()``), or is withdrawn while still CLAIMED. Its handler can be
interrupted only while *armed*, that is while user code runs: a sync
handler by an exception raised into its thread, an ``async def`` handler by
cancelling its task. Everything here is guarded by one lock, so that
:meth:`Execution.interrupt` and :meth:`Execution.finish` are ordered:

- ``interrupt()`` returns True only if it stopped a RUNNING handler; the
  execution then hands no outcome to the writer, and whoever interrupted it
  decides what happens to the job (release it, or nothing if the job was
  taken away already);
- it returns False if the handler had not started (it never will) or had
  already finished (its outcome goes to the writer as usual).
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..context import JobContext
from ..exceptions import JobInterrupted
from ..models import Job
from ..state.execution import Outcome
from .outcomes import failure

CLAIMED, RUNNING, FINISHED = "claimed", "running", "finished"


@dataclass
class Pool:
    """Slots for a set of queues (``None``: every queue)."""

    queues: list[str] | None
    concurrency: int
    outstanding: int = 0  # claimed and not yet settled
    committing: int = 0  # of those, the ones whose outcome the writer holds

    def __str__(self) -> str:
        return f"{','.join(self.queues) if self.queues else '*'}:{self.concurrency}"


#: The interruption reason of an execution that ran past its timeout.
TIMED_OUT = "timeout"


class Execution:
    """A claimed job, the slot it takes and the handler that runs it."""

    def __init__(self, ctx: JobContext, pool: Pool, worker_id: str) -> None:
        self.ctx = ctx
        self.pool = pool
        self.worker_id = worker_id
        self.claimed_at = time.monotonic()
        #: The execution handed its outcome to the writer, or ended without one
        #: (set under the lock of :class:`~.slots.Slots`).
        self.delivered = False
        self._lock = threading.Lock()
        self._state = CLAIMED
        self._stopped = False  # interrupt() stopped the running handler
        self._thread_id: int | None = None
        #: The handler thread that runs the pipeline, and when interrupt() stopped it.
        self.runner: int | None = None
        self.stopped_at: float | None = None
        #: When the handler started (monotonic): its timeout counts from here.
        self.started_at: float | None = None
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<Execution of job {self.ctx.id} ({self._state})>"

    @property
    def started(self) -> bool:
        return self._state != CLAIMED

    @property
    def running(self) -> bool:
        """The handler runs and still owns its job."""
        return self._state == RUNNING and self.ctx.interrupted is None

    @property
    def finished(self) -> bool:
        return self._state == FINISHED

    # -- the pipeline's side ------------------------------------------------------

    def start(self) -> bool:
        """CLAIMED -> RUNNING; False if it was withdrawn or interrupted before it began."""
        with self._lock:
            if self._state != CLAIMED or self.ctx.interrupted is not None:
                return False
            self._state = RUNNING
            self.runner = threading.get_ident()
            self.started_at = time.monotonic()
            return True

    def arm(
        self, task: asyncio.Task[Any] | None = None, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """User code starts now: from here an interruption may land in it.

        Without ``task`` the calling thread is the one to raise into.
        Raises :class:`JobInterrupted` if the execution was stopped already.
        """
        with self._lock:
            self.ctx.raise_if_interrupted()
            if task is None:
                self._thread_id = threading.get_ident()
            else:
                self._task, self._loop = task, loop

    def disarm(self) -> None:
        """User code is over: no interruption may land from here on."""
        with self._lock:
            self._disarm()

    def finish(self) -> bool:
        """RUNNING -> FINISHED. True if :meth:`interrupt` stopped it first: drop its outcome."""
        with self._lock:
            self._disarm()
            if self._state == RUNNING:
                self._state = FINISHED
            return self._stopped

    def _disarm(self) -> None:
        if self._thread_id is not None:
            _set_async_exc(self._thread_id, None)  # one raised but not yet landed is dropped
        self._thread_id = self._task = self._loop = None

    # -- everybody else's side ----------------------------------------------------

    def interrupt(self, reason: str) -> bool:
        """Stop the execution's handler. True only if it was running (and is now stopped).

        A CLAIMED execution is marked so that it never starts (False); a
        FINISHED one is left alone (False): its outcome stands.
        """
        with self._lock:
            if self.ctx.interrupted is not None or self._state == FINISHED:
                return False
            self.ctx.interrupted = reason
            if self._state == CLAIMED:
                return False
            self._stopped = True
            self.stopped_at = time.monotonic()
            if self._task is not None and self._loop is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)
            elif self._thread_id is not None:
                _set_async_exc(self._thread_id, JobInterrupted)
            return True

    @property
    def stopped(self) -> bool:
        """interrupt() stopped its running handler (its outcome, if any, is dropped)."""
        return self._stopped

    def timed_out(self) -> bool:
        """It was stopped because it ran past its timeout: its attempt fails (the job is still ours)."""
        return self.ctx.interrupted == TIMED_OUT

    def timeout_outcome(self) -> Outcome:
        return failure(self.ctx, TimeoutError(f"exceeded {self.ctx.timeout:g} s"))

    def past_timeout(self) -> bool:
        """Running longer than the job's timeout (and not stopped already)."""
        timeout, started = self.ctx.timeout, self.started_at
        return (
            timeout is not None
            and started is not None
            and self.running
            and time.monotonic() - started > timeout
        )

    def overdue(self, grace: float) -> bool:
        """Stopped more than ``grace`` seconds ago, and its handler has still not returned."""
        with self._lock:
            return (
                self._state == RUNNING
                and self.stopped_at is not None
                and time.monotonic() - self.stopped_at > grace
            )

    def withdraw(self, reason: str) -> bool:
        """Make sure a CLAIMED execution never starts. True if it was CLAIMED: release its job."""
        with self._lock:
            if self._state != CLAIMED or self.ctx.interrupted is not None:
                return False
            self.ctx.interrupted = reason
            return True

    def job_row(self, status: str, **fields: Any) -> Job:
        """A Job instance for signal receivers, built without a query."""
        ctx = self.ctx
        return Job(
            pk=ctx.id,
            name=ctx.name,
            queue=ctx.queue,
            status=status,
            attempt=ctx.attempt,
            max_retries=ctx.max_retries,
            args=ctx.args,
            kwargs=ctx.kwargs,
            fanout_id=ctx.fanout_id,
            worker_id=self.worker_id,
            **fields,
        )


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in another thread at its next bytecode (None clears it).

    It lands between bytecodes: a handler inside a C call (a long sleep)
    finishes that call first; lease fencing makes its late writes harmless.
    """
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )
