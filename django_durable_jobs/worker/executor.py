"""The executor: runs each claimed job through one pipeline (internal).

Every execution, sync or ``async def``, takes the same steps in a pool
thread::

    start -> resolve the handler -> job_started -> perform -> normalise -> deliver

and hands exactly one outcome to the writer, or none when it was
interrupted (whoever interrupted it owns the job) or suspended on a
fan-out. The only difference between sync and async handlers is how
*perform* calls them: in the pool thread, interruptible by an exception
raised into that thread, or as a task on the worker's event loop,
interruptible by cancelling the task.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import signals, tracing
from ..context import activate, deactivate
from ..exceptions import JobInterrupted
from ..models import Status
from ..registry import JobDefinition, resolve
from ..state.execution import Outcome
from ..workflows import Suspend
from .execution import Execution
from .health import (
    close_thread_connections,
    connections_failed,
    fresh_connections,
    is_connection_error,
    tidy_connections,
)
from .joblog import finished as log_finished
from .joblog import started as log_started
from .outcomes import failure, missing_handler, release, success
from .slots import Slots
from .threads import HandlerThreads
from .writer import Writer

logger = logging.getLogger("django_durable_jobs.worker")


def call_sync(execution: Execution, definition: JobDefinition) -> Any:
    """Call a sync handler in this thread, interruptible while it runs."""
    ctx = execution.ctx
    token = activate(ctx)
    try:
        execution.arm()
        return definition.func(*ctx.args, **ctx.kwargs)
    finally:
        try:  # an interruption raised just as the handler returned may land here, once
            execution.disarm()
        finally:
            deactivate(token)


class Executor:
    """A thread pool for the pipelines and, once needed, one event-loop thread for coroutines."""

    def __init__(
        self, worker_id: str, slots: Slots, writer: Writer, stats: dict[str, int], threads: int
    ) -> None:
        self.worker_id = worker_id
        self._slots = slots
        self._writer = writer
        self._stats = stats
        self._threads = HandlerThreads(threads, "durable-job")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        #: Moving average of handler durations (seconds): the claimer prefetches only for short jobs.
        self.avg_duration: float | None = None

    def submit(self, execution: Execution) -> None:
        self._threads.submit(self._run, execution)

    def abandon(self, execution: Execution) -> None:
        """Give up on the thread of a handler that ignores its interruption (blocked in C)."""
        if execution.runner is not None:
            self._threads.abandon(execution.runner)

    @property
    def abandoned(self) -> int:
        """Abandoned threads whose handler has still not returned."""
        return self._threads.abandoned

    def shutdown(self) -> None:
        """Drop queued pipelines (their executions were withdrawn) and stop the event loop."""
        self._threads.shutdown()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    # ------------------------------------------------------------------ the pipeline

    def _run(self, execution: Execution) -> None:
        fresh_connections()
        if not execution.start():  # withdrawn or taken away before it began
            self._slots.settle(execution)
            return
        log_started(execution.ctx)
        outcome = run = None
        try:
            run = tracing.start_run(execution.ctx)
            outcome = self._perform(execution)
        except Exception:  # never lose a worker thread to our own bug
            logger.exception("worker error while running job %s", execution.ctx.id)
        finally:
            stopped = execution.finish()
            if not stopped:  # before the outcome: a finished job's lease no longer matches
                execution.ctx.flush_progress()
            if stopped and execution.timed_out():  # we stopped it: the attempt fails
                outcome = execution.timeout_outcome()
            elif stopped and outcome is not None:  # interrupt() stopped it: its job is not ours
                self._discard(execution)
                outcome = None
            tracing.end_run(run, execution.ctx, outcome)
            self._deliver(execution, outcome)
            if stopped or (outcome is not None and outcome.kind == "release"):
                # An interruption may have landed inside a database call, leaving
                # the connection mid-command: never reuse it.
                close_thread_connections()
            else:
                tidy_connections()

    def _perform(self, execution: Execution) -> Outcome | None:
        ctx = execution.ctx
        definition = resolve(ctx.name)
        if definition is None:
            return missing_handler(ctx, self.worker_id)
        if signals.job_started.receivers:
            signals.send(signals.job_started, job=execution.job_row(Status.RUNNING))
        perform: Callable[[Execution, JobDefinition], Any] = (
            self._call_async if definition.is_async else call_sync
        )
        try:
            result = perform(execution, definition)
        except JobInterrupted:
            self._discard(execution)
            return None
        except Suspend:  # waiting on a fan-out: the suspension is written already
            return None
        except BaseException as exc:  # noqa: BLE001 - the handler's failure is its outcome
            tracing.record_error(exc)
            if is_connection_error(exc):
                # The database went away under the job (a restart): not the job's
                # fault, so it goes back to pending without counting the attempt.
                logger.warning("job %s lost its database connection; it will run again", ctx.id)
                connections_failed()
                return release(ctx)
            return failure(ctx, exc)
        return success(ctx, result)

    def _deliver(self, execution: Execution, outcome: Outcome | None) -> None:
        duration = time.monotonic() - execution.claimed_at
        avg = self.avg_duration
        self.avg_duration = duration if avg is None else avg * 0.9 + duration * 0.1
        if outcome is None:
            ended = "interrupted" if execution.ctx.interrupted is not None else "suspended"
            log_finished(execution.ctx, ended, execution.started_at)
            self._slots.settle(execution)
        else:
            self._slots.delivered(execution)
            self._writer.put(execution, outcome)

    def _discard(self, execution: Execution) -> None:
        self._stats["discarded"] += 1
        logger.info(
            "job %s stopped (%s); its outcome is discarded", execution.ctx.id, execution.ctx.interrupted
        )

    # ------------------------------------------------------------------ async handlers

    def _call_async(self, execution: Execution, definition: JobDefinition) -> Any:
        """Run an ``async def`` handler on the event loop; this thread waits for it."""
        future = asyncio.run_coroutine_threadsafe(self._coroutine(execution, definition), self._event_loop())
        try:
            return future.result()
        except concurrent.futures.CancelledError:  # the task was cancelled: interrupted
            raise JobInterrupted(execution.ctx.interrupted or "cancelled") from None

    @staticmethod
    async def _coroutine(execution: Execution, definition: JobDefinition) -> Any:
        ctx = execution.ctx
        token = activate(ctx)
        try:
            execution.arm(asyncio.current_task(), asyncio.get_running_loop())
            return await definition.func(*ctx.args, **ctx.kwargs)
        finally:
            execution.disarm()
            deactivate(token)

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="durable-async", daemon=True).start()
                self._loop = loop
            return self._loop
