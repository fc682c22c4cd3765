"""The job a handler runs for, as the handler sees it.

``current_job()`` returns the :class:`JobContext` of the job the calling code
runs for. ``call()`` and ``fan_out()`` use it to number their steps and to
fence their writes with the execution's lease; ``set_progress()`` reports how
far the handler got (throttled, fenced the same way).

How the worker stops a running handler (threads, tasks, asynchronous
exceptions) is not here: see ``django_durable_jobs.worker.execution``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections

from .exceptions import JobInterrupted

logger = logging.getLogger("django_durable_jobs.worker")

#: At most one progress write per job in this many seconds (the last report is never lost).
PROGRESS_INTERVAL = 1.0

_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "durable_jobs_current", default=None
)


@dataclass(eq=False)
class JobContext:
    """One execution of a job: what its handler may read, and its replay position."""

    id: int
    name: str
    queue: str
    attempt: int
    max_retries: int
    lease: str
    args: list[Any]
    kwargs: dict[str, Any]
    fanout_id: int | None = None
    #: Times the job snoozed before this execution.
    snoozes: int = 0
    #: Seconds this execution may run before it is interrupted and fails, or None.
    timeout: float | None = None
    #: The enqueuing span's W3C trace context, or None (see ``tracing``).
    trace_context: dict[str, str] | None = None
    #: The W3C context of this execution's ``run`` span, for a handler in a child process.
    run_context: dict[str, str] | None = None
    #: Next call()/fan_out() step number of this execution (replay order).
    step: int = 0
    #: Why the execution was interrupted ("worker paused", "cancelled", "lost lease", ...), or None.
    interrupted: str | None = None
    #: Checkpoints and fan-outs of the job, loaded at its first call()/fan_out().
    history: Any = None
    #: The last progress report the throttle held back (unwritten), and when one was last written.
    _progress: Any = field(default=None, init=False, repr=False)
    _progress_written: float | None = field(default=None, init=False, repr=False)
    _progress_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def raise_if_interrupted(self) -> None:
        """Stop here if the job was paused aggressively, cancelled or lost its lease."""
        if self.interrupted is not None:
            raise JobInterrupted(self.interrupted)

    def next_step(self) -> int:
        """The step number of the next ``call()``/``fan_out()`` (a cooperative interruption point)."""
        self.raise_if_interrupted()
        step = self.step
        self.step += 1
        return step

    # -- progress

    def set_progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """Report how far the handler got: ``done`` items of ``total`` (None: unknown), and a message.

        The admin shows it: a bar on the jobs list, done/total, the message and
        the rate on the job page. At most one write per second per job: a
        report within the second after a write is held back, then written by
        the next report after that second or when the handler returns, so the
        last report always lands. Only the execution that holds the job's
        lease writes; one that lost it gets :class:`JobInterrupted`, as from
        ``call()``. A count that is not a non-negative integer, a ``total``
        below ``done`` or a message that is not text raises ``InvalidValue``;
        a message over 1,000 characters is cut. Use :meth:`aset_progress` in
        an ``async def`` handler.
        """
        report = _checked(done, total, message)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("set_progress() blocks on the database: in async code, await aset_progress()")
        report = self._due(report)
        if report is not None:
            self._write(report)

    async def aset_progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """:meth:`set_progress` for ``async def`` handlers (the write runs in a thread)."""
        report = self._due(_checked(done, total, message))
        if report is not None:
            await sync_to_async(self._write, thread_sensitive=False)(report, close=True)

    def flush_progress(self) -> None:
        """Write the report the throttle held back, if any; never raises.

        The worker calls it when the handler returns, before the outcome is
        recorded (a finished job's lease no longer matches).
        """
        with self._progress_lock:
            report, self._progress = self._progress, None
        if report is None or self.interrupted is not None:
            return
        try:
            self._write(report)
        except JobInterrupted:
            pass
        except Exception:  # a report is never worth the job's outcome
            logger.warning("job %s: its last progress report was not saved", self.id, exc_info=True)

    def _due(self, report: Any) -> Any:
        """Keep ``report``; return it if a write is due now (it is then no longer held back)."""
        self.raise_if_interrupted()
        with self._progress_lock:
            now = time.monotonic()
            if self._progress_written is not None and now - self._progress_written < PROGRESS_INTERVAL:
                self._progress = report
                return None
            self._progress, self._progress_written = None, now
            return report

    def _write(self, report: Any, *, close: bool = False) -> None:
        from . import storage

        using = storage.alias()
        try:
            saved = _progress_state().save(using, self.id, self.lease, report)
        finally:
            if close:  # a thread of asgiref's pool: leave no connection behind in it
                connections[using].close()
        if not saved:
            self.interrupted = self.interrupted or "lost lease"
            raise JobInterrupted(self.interrupted)


@functools.cache
def _progress_state() -> ModuleType:
    """``state.progress``, imported at first use: the state machine needs Django's
    models, which are not ready when this module is first imported (and an
    import statement in the function itself would cost every report microseconds)."""
    from .state import progress

    return progress


def _checked(done: Any, total: Any, message: Any) -> Any:
    return _progress_state().checked(done, total, message)


def current_job() -> JobContext:
    """The context of the job this code runs for; RuntimeError outside a job."""
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("current_job() is only available inside a running job handler")
    return ctx


def activate(ctx: JobContext | None) -> contextvars.Token:
    return _current.set(ctx)


def deactivate(token: contextvars.Token) -> None:
    _current.reset(token)
