"""The worker process behind ``manage.py runjobs``.

Threads, each with one job:

- the claimer (the thread that calls :meth:`Worker.run`) claims batches of
  runnable jobs into free slots and hands them to
- a thread pool for sync handlers and one event-loop thread for ``async def``
  handlers; finished executions go to
- the writer, which commits outcomes of many jobs per transaction (group
  commit) and then sends their signals;
- the control loop renews leases, refreshes the registry row, applies pauses
  it reads from the database, reclaims dead workers' jobs, resumes queues
  whose pause expired, times out fan-outs and (with ``--scheduler``) fires
  schedules;
- on PostgreSQL a listener holds LISTEN for new work and control messages so
  nothing waits for a poll.

Execution is a straight pipeline: claim -> resolve handler -> perform ->
normalise the outcome -> one fenced write.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue as queue_mod
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone

from . import db, signals
from .conf import jobs_settings
from .context import JobContext, activate, deactivate
from .exceptions import (
    JobInterrupted,
    NoRetry,
    RetryAfter,
    WorkerAlreadyPaused,
    WorkerNotFound,
    WorkerNotPaused,
)
from .models import FanOut, Job, PauseMode, Status
from .registry import JobDefinition, resolve
from .retry import backoff_seconds, describe_error, should_retry
from .state import control as transitions
from .state import execution as run_state
from .state import fanouts
from .validation import check_json
from .workflows import Suspend

logger = logging.getLogger("django_durable_jobs.worker")

#: ``--burst`` does not exit while a pending job is due within this many seconds.
BURST_WAIT_SECONDS = 5.0


@dataclass
class Pool:
    """Slots for a set of queues (``None``: every queue)."""

    queues: list[str] | None
    concurrency: int
    outstanding: int = 0  # claimed and not yet finished

    def __str__(self) -> str:
        return f"{','.join(self.queues) if self.queues else '*'}:{self.concurrency}"


@dataclass
class Outcome:
    kind: str  # complete | retry | fail | fail_now | release
    ctx: JobContext
    result: Any = None
    error: str = ""
    run_after: Any = None


@dataclass
class _Execution:
    ctx: JobContext
    pool: Pool
    definition: JobDefinition | None
    started: float = field(default_factory=time.monotonic)


def tidy_connections() -> None:
    """After a job: drop connections a handler broke or left in a transaction.

    Unlike ``close_old_connections()`` this keeps healthy connections open
    whatever ``CONN_MAX_AGE`` says: a worker thread is not a request, and
    reconnecting per job would cost more than the job.
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        if conn.in_atomic_block or not conn.get_autocommit():
            logger.warning("a job left a transaction open on %r; closing it", conn.alias)
            conn.close()
        elif conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()


class Worker:
    def __init__(
        self,
        pools: list[Pool],
        *,
        worker_id: str | None = None,
        scheduler: bool = False,
        burst: bool = False,
        paused: bool = False,
    ) -> None:
        if not pools:
            raise ValueError("a worker needs at least one pool of slots")
        self.pools = pools
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id = worker_id or f"{self.host}:{self.pid}:{uuid.uuid4().hex[:6]}"
        self.scheduler = scheduler
        self.burst = burst
        self.using = db.alias()
        self._start_paused = paused
        self._paused = False
        self._pause_mode: PauseMode | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._executions: dict[int, _Execution] = {}
        self._outcomes: queue_mod.SimpleQueue[Outcome | None] = queue_mod.SimpleQueue()
        self._writer_idle = threading.Event()
        self._writer_idle.set()
        self._avg_duration: float | None = None
        total = sum(p.concurrency for p in pools)
        self._executor = ThreadPoolExecutor(max_workers=total, thread_name_prefix="durable-job")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self.stats = {"claimed": 0, "completed": 0, "failed": 0, "retried": 0, "discarded": 0}

    # ------------------------------------------------------------------ public control

    @property
    def is_paused(self) -> bool:
        return self._paused

    @property
    def pause_mode(self) -> PauseMode | None:
        return self._pause_mode if self._paused else None

    def pause(self, mode: PauseMode | str = PauseMode.GRACEFUL, *, by: str = "", reason: str = "") -> None:
        """Stop claiming (durably, visible to admins); aggressive also stops running jobs."""
        self._paused, self._pause_mode = True, PauseMode(mode)  # no claim from here on
        try:
            transitions.pause_worker(self.id, mode, by=by, reason=reason)
        except WorkerAlreadyPaused:
            pass
        self._apply_pause(PauseMode(mode))

    def resume(self, *, by: str = "") -> None:
        try:
            transitions.resume_worker(self.id, by=by)
        except WorkerNotPaused:
            pass
        self._apply_resume()

    def stop(self) -> None:
        """Ask the worker to shut down gracefully (what SIGTERM does)."""
        self._stopping.set()
        self._wake.set()

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> None:
        """Register, start the helper threads and claim until stopped."""
        self._register()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self.stop())
            signal.signal(signal.SIGINT, lambda *_: self.stop())
        self._spawn(self._writer_loop, "durable-writer")
        self._spawn(self._control_loop, "durable-control")
        if db.is_postgres(self.using):
            self._spawn(self._listen_loop, "durable-listen")
        logger.info("worker %s started: pools %s", self.id, ", ".join(map(str, self.pools)))
        try:
            self._claim_loop()
        finally:
            self._shutdown()

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _register(self) -> None:
        mode = transitions.register_worker(
            self.id,
            host=self.host,
            pid=self.pid,
            queues=sorted({q for p in self.pools for q in (p.queues or [])}),
            concurrency=sum(p.concurrency for p in self.pools),
            paused=self._start_paused,
        )
        if mode is not None:
            self._paused, self._pause_mode = True, mode

    def _shutdown(self) -> None:
        logger.info("worker %s stopping", self.id)
        self._release_unstarted()
        deadline = time.monotonic() + jobs_settings.SHUTDOWN_GRACE_SECONDS
        while self._started_executions() and time.monotonic() < deadline:
            time.sleep(0.02)
        for execution in self._started_executions():
            if execution.ctx.interrupt("worker shutting down"):
                self._outcomes.put(Outcome("release", execution.ctx))
        self._outcomes.put(None)
        for thread in self._threads:
            if thread.name == "durable-writer":
                thread.join(timeout=10)
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        try:
            transitions.mark_stopped(self.id)
        except DatabaseError:
            logger.exception("could not mark worker %s stopped", self.id)
        close_old_connections()

    # ------------------------------------------------------------------ claiming

    def _prefetch(self) -> int:
        """Claim ahead only while jobs are short; long jobs would be hoarded."""
        if self._avg_duration is None or self._avg_duration > 0.05:
            return 0
        return jobs_settings.PREFETCH

    def _claim_loop(self) -> None:
        idle_checks = 0
        while not self._stopping.is_set():
            self._wake.clear()
            claimed = 0
            if not self._paused:
                try:
                    claimed = self._claim_all()
                except DatabaseError:
                    logger.exception("claim failed; retrying")
                    self._reset_connection()
                    time.sleep(0.5)
                    continue
            if self.burst and not self._paused:
                if claimed == 0 and self._idle() and not self._due_soon():
                    idle_checks += 1
                    if idle_checks >= 2:  # twice: outcomes just written may have woken parents
                        return
                    continue
                idle_checks = 0
            if claimed == 0 or self._all_full():
                self._wake.wait(jobs_settings.POLL_SECONDS)

    def _due_soon(self) -> bool:
        """Burst mode waits for retries due within a few seconds instead of leaving them."""
        soon = (
            Job.objects.using(self.using)
            .filter(
                status=Status.PENDING, run_after__lte=timezone.now() + timedelta(seconds=BURST_WAIT_SECONDS)
            )
            .exclude(queue__in=transitions.paused_queues())
        )
        if all(p.queues is not None for p in self.pools):
            soon = soon.filter(queue__in=[q for p in self.pools for q in p.queues or []])
        return soon.exists()

    def _all_full(self) -> bool:
        return all(p.outstanding >= p.concurrency for p in self.pools)

    def _idle(self) -> bool:
        with self._lock:
            busy = bool(self._executions)
        return not busy and self._outcomes.empty() and self._writer_idle.is_set()

    def _claim_all(self) -> int:
        total = 0
        prefetch = self._prefetch()
        for pool in self.pools:
            if pool.outstanding >= pool.concurrency:
                continue
            limit = pool.concurrency + prefetch - pool.outstanding
            jobs = run_state.claim(self.using, self.id, pool.queues, limit)
            total += len(jobs)
            for claimed in jobs:
                self._dispatch(claimed, pool)
        self.stats["claimed"] += total
        return total

    def _dispatch(self, claimed: db.ClaimedJob, pool: Pool) -> None:
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
        )
        definition = self._resolve(claimed.name)
        execution = _Execution(ctx, pool, definition)
        with self._lock:
            self._executions[ctx.id] = execution
            pool.outstanding += 1
        if definition is not None and definition.is_async:
            asyncio.run_coroutine_threadsafe(self._run_async(execution), self._event_loop())
        else:
            self._executor.submit(self._run_sync, execution)

    def _resolve(self, name: str) -> JobDefinition | None:
        return resolve(name)

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="durable-async", daemon=True)
            thread.start()
            self._loop = loop
        return self._loop

    # ------------------------------------------------------------------ executing

    def _run_sync(self, execution: _Execution) -> None:
        ctx = execution.ctx
        if not ctx.start():  # released or taken away before it began
            self._settle(ctx)
            return
        outcome = None
        try:
            outcome = self._perform_sync(execution)
        except JobInterrupted:
            self._discard(ctx)
        except Exception:  # never lose a worker thread to our own bug
            logger.exception("worker error while running job %s", ctx.id)
        finally:
            self._deliver(execution, outcome)
            tidy_connections()

    def _perform_sync(self, execution: _Execution) -> Outcome | None:
        ctx, definition = execution.ctx, execution.definition
        if definition is None:
            return self._missing_handler(ctx)
        self._send_started(ctx)
        token = activate(ctx)
        try:
            try:
                result = definition.func(*ctx.args, **ctx.kwargs)
            finally:
                ctx.finish()
        except JobInterrupted:
            self._discard(ctx)
            return None
        except Suspend:
            return None
        except BaseException as exc:  # noqa: BLE001 - the handler's failure is the outcome
            return self._failure(ctx, exc)
        finally:
            deactivate(token)
        return self._success(ctx, result)

    async def _run_async(self, execution: _Execution) -> None:
        ctx, definition = execution.ctx, execution.definition
        ctx._loop = asyncio.get_running_loop()
        ctx._task = asyncio.current_task()
        if not ctx.start():
            self._settle(ctx)
            return
        outcome = None
        try:
            if definition is None:
                outcome = self._missing_handler(ctx)
                return
            if signals.job_started.receivers:  # receivers may use the ORM: not on the loop
                await sync_to_async(self._send_started)(ctx)
            token = activate(ctx)
            try:
                result = await definition.func(*ctx.args, **ctx.kwargs)
            except (asyncio.CancelledError, JobInterrupted):
                self._discard(ctx)
                return
            except Suspend:
                return
            except Exception as exc:  # noqa: BLE001
                outcome = self._failure(ctx, exc)
                return
            finally:
                ctx.finish()
                deactivate(token)
            outcome = self._success(ctx, result)
        finally:
            self._deliver(execution, outcome)

    def _success(self, ctx: JobContext, result: Any) -> Outcome:
        try:
            check_json(ctx.name, "the result", result)
        except (TypeError, ValueError) as exc:
            return Outcome("fail_now", ctx, error=describe_error(exc))
        return Outcome("complete", ctx, result=result)

    def _failure(self, ctx: JobContext, exc: BaseException) -> Outcome:
        error = describe_error(exc)
        if isinstance(exc, NoRetry) or not should_retry(ctx.attempt, ctx.max_retries):
            return Outcome("fail_now" if isinstance(exc, NoRetry) else "fail", ctx, error=error)
        delay = exc.seconds if isinstance(exc, RetryAfter) else backoff_seconds(ctx.attempt)
        return Outcome("retry", ctx, error=error, run_after=timezone.now() + timedelta(seconds=delay))

    def _missing_handler(self, ctx: JobContext) -> Outcome:
        message = (
            f"no handler is registered for job {ctx.name!r} in worker {self.id}: deploy the code "
            "that defines it (an installed app's jobs.py), then retry the job"
        )
        return Outcome("fail_now", ctx, error=f"django_durable_jobs.exceptions.UnknownJob: {message}")

    def _discard(self, ctx: JobContext) -> None:
        self.stats["discarded"] += 1
        logger.info("job %s stopped (%s); its outcome is discarded", ctx.id, ctx.interrupted)

    def _send_started(self, ctx: JobContext) -> None:
        if signals.job_started.receivers:
            signals.send(signals.job_started, job=self._job_row(ctx, Status.RUNNING))

    def _deliver(self, execution: _Execution, outcome: Outcome | None) -> None:
        """Hand the outcome to the writer; the slot stays taken (and leased) until it commits."""
        duration = time.monotonic() - execution.started
        avg = self._avg_duration
        self._avg_duration = duration if avg is None else avg * 0.9 + duration * 0.1
        if outcome is None:
            self._settle(execution.ctx)
        else:
            self._outcomes.put(outcome)

    def _settle(self, ctx: JobContext) -> None:
        """The execution is over and its outcome (if any) committed: free its slot."""
        with self._lock:
            execution = self._executions.get(ctx.id)
            if execution is None or execution.ctx is not ctx:
                return
            del self._executions[ctx.id]
            execution.pool.outstanding -= 1
            wake = execution.pool.outstanding <= execution.pool.concurrency
        if wake:
            self._wake.set()

    def _started_executions(self) -> list[_Execution]:
        """Executions whose handler runs and still owns its job (interrupted ones are discarded)."""
        with self._lock:
            return [
                e
                for e in self._executions.values()
                if e.ctx._started and not e.ctx._done and e.ctx.interrupted is None
            ]

    def stuck_threads(self) -> int:
        """Handlers interrupted but still inside a C call (a long sleep): they block a clean exit."""
        with self._lock:
            return sum(1 for e in self._executions.values() if e.ctx._started and not e.ctx._done)

    # ------------------------------------------------------------------ pausing

    def _apply_pause(self, mode: PauseMode) -> None:
        self._paused, self._pause_mode = True, mode
        self._release_unstarted()
        if mode == PauseMode.AGGRESSIVE:
            # pause_worker already put these jobs back to pending; stop the code.
            for execution in self._started_executions():
                execution.ctx.interrupt("worker paused")
        logger.info("worker %s paused (%s)", self.id, mode)

    def _apply_resume(self) -> None:
        if self._paused:
            logger.info("worker %s resumed", self.id)
        self._paused, self._pause_mode = False, None
        self._wake.set()

    def _release_unstarted(self, queues: set[str] | None = None) -> None:
        """Give back jobs claimed ahead but not started (all, or of these queues)."""
        with self._lock:
            executions = list(self._executions.values())
        for execution in executions:
            ctx = execution.ctx
            if queues is not None and ctx.queue not in queues:
                continue
            if not ctx._started and not ctx.interrupt("released"):
                self._outcomes.put(Outcome("release", ctx))

    def _interrupt(self, job_ids: list[int], reason: str) -> None:
        with self._lock:
            executions = [self._executions[i] for i in job_ids if i in self._executions]
        for execution in executions:
            execution.ctx.interrupt(reason)

    # ------------------------------------------------------------------ writer

    def _writer_loop(self) -> None:
        while True:
            first = self._outcomes.get()
            self._writer_idle.clear()
            batch: list[Outcome] = []
            stop = first is None
            if first is not None:
                batch.append(first)
            while len(batch) < jobs_settings.COMMIT_BATCH:
                try:
                    item = self._outcomes.get_nowait()
                except queue_mod.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            if batch:
                self._write(batch)
            if self._outcomes.empty():
                self._writer_idle.set()
            if stop:
                return

    def _write(self, batch: list[Outcome]) -> None:
        """Commit many outcomes in one transaction, then send their signals."""
        batch = sorted(batch, key=lambda o: o.ctx.id)
        for attempt in range(5):
            try:
                written = self._write_batch(batch)
                break
            except DatabaseError:
                logger.exception("writing %d outcomes failed (try %d)", len(batch), attempt + 1)
                self._reset_connection()
                if len(batch) > 1:  # one bad row (or a deadlock) must not sink the others
                    for outcome in batch:
                        self._write([outcome])
                    return
                time.sleep(0.2 * (attempt + 1))
        else:
            logger.error("gave up writing the outcome of job %s; its lease will expire", batch[0].ctx.id)
            self._settle(batch[0].ctx)
            return
        for outcome, status in written:
            self._settle(outcome.ctx)
            self._after_commit(outcome, status)
        self._wake.set()  # slots are free, and a finished child may have made its parent runnable

    def _write_batch(self, batch: list[Outcome]) -> list[tuple[Outcome, str | None]]:
        rows = [
            run_state.Outcome(o.kind, o.ctx.id, o.ctx.lease, o.ctx.fanout_id, o.result, o.error, o.run_after)
            for o in batch
        ]
        return list(zip(batch, run_state.record(self.using, rows), strict=True))

    def _after_commit(self, outcome: Outcome, status: str | None) -> None:
        ctx = outcome.ctx
        if status is None:
            self.stats["discarded"] += 1
            logger.info("job %s: outcome %r discarded, the execution no longer owns it", ctx.id, outcome.kind)
            return
        if status == Status.COMPLETED:
            self.stats["completed"] += 1
            signal, extra = signals.job_completed, {}
        elif status == Status.FAILED:
            self.stats["failed"] += 1
            signal, extra = signals.job_failed, {}
        elif status == Status.PAUSED:
            signal, extra = signals.job_paused, {"mode": PauseMode.GRACEFUL}
        elif outcome.kind == "retry":
            self.stats["retried"] += 1
            signal, extra = signals.job_retrying, {}
        else:
            return
        if signal.receivers:
            job = self._job_row(ctx, status, result=outcome.result, last_error=outcome.error)
            signals.send(signal, job=job, **extra)

    def _job_row(self, ctx: JobContext, status: str, **fields: Any) -> Job:
        """A Job instance for signal receivers, built without a query."""
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
            worker_id=self.id,
            **fields,
        )

    # ------------------------------------------------------------------ control

    def _control_loop(self) -> None:
        next_heartbeat = next_reclaim = next_schedule = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            try:
                self._poll_control()
                if now >= next_heartbeat:
                    self._heartbeat()
                    next_heartbeat = now + jobs_settings.HEARTBEAT_SECONDS
                if now >= next_reclaim:
                    self._housekeeping()
                    next_reclaim = now + jobs_settings.RECLAIM_SECONDS
                if self.scheduler and now >= next_schedule:
                    next_schedule = now + self._fire_schedules()
            except DatabaseError:
                logger.exception("control loop database error; retrying")
                self._reset_connection()
            except Exception:
                logger.exception("control loop error")
            self._stopping.wait(jobs_settings.CONTROL_POLL_SECONDS)
        close_old_connections()

    def _poll_control(self) -> None:
        """The polling fallback for everything NOTIFY also tells us."""
        self._read_pause_state()
        with self._lock:
            owned = {e.ctx.id: e.ctx.lease for e in self._executions.values() if e.ctx.interrupted is None}
        if owned:
            lost = set(owned) - run_state.still_owned(self.using, owned)
            if lost:
                self._interrupt(sorted(lost), "no longer owns the job")
        paused = set(transitions.paused_queues())
        if paused:
            self._release_unstarted(paused)

    def _read_pause_state(self) -> None:
        """Follow the registry row: paused in its mode, or running."""
        try:
            mode = transitions.worker_pause_state(self.id)
        except WorkerNotFound:  # the row was deleted: keep the state we have
            return
        if mode is None:
            if self._paused:
                self._apply_resume()
        elif not self._paused or (mode == PauseMode.AGGRESSIVE and self._pause_mode != PauseMode.AGGRESSIVE):
            self._apply_pause(mode)

    def _heartbeat(self) -> None:
        with self._lock:
            owned = {e.ctx.id: e.ctx.lease for e in self._executions.values() if e.ctx.interrupted is None}
        run_state.renew_leases(self.using, owned)  # losses are found by _poll_control's read
        transitions.heartbeat(self.id)

    def _housekeeping(self) -> None:
        reclaimed = run_state.reclaim_expired(self.using)
        if reclaimed:
            logger.warning("reclaimed %d job(s) of dead workers: %s", len(reclaimed), reclaimed[:20])
            self._wake.set()
        if run_state.wake_stranded_parents(self.using):
            self._wake.set()
        if transitions.resume_due_queues():
            self._wake.set()
        if (
            FanOut.objects.using(self.using)
            .filter(state=FanOut.State.RUNNING, timeout_at__isnull=False)
            .exists()
        ):
            if fanouts.expire_timed_out(self.using):
                self._wake.set()

    def _fire_schedules(self) -> float:
        from .scheduling import firing as scheduling

        if scheduling.run_due(self.using):
            self._wake.set()
        wait = scheduling.seconds_until_next_due()
        return min(max(wait if wait is not None else 1.0, 0.05), 1.0)

    def _reset_connection(self) -> None:
        try:
            connections[self.using].close()
        except DatabaseError:
            pass

    # ------------------------------------------------------------------ listening (PostgreSQL)

    def _listen_loop(self) -> None:
        import psycopg

        params = connections[self.using].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params.pop("prepare_threshold", None)
        my_queues = (
            None
            if any(p.queues is None for p in self.pools)
            else {q for p in self.pools for q in p.queues or []}
        )
        while not self._stopping.is_set():
            try:
                with psycopg.connect(**params, autocommit=True) as conn:
                    conn.execute(f"LISTEN {db.WORK_CHANNEL}")
                    conn.execute(f"LISTEN {db.CONTROL_CHANNEL}")
                    self._wake.set()  # anything missed while not listening
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if note.channel == db.WORK_CHANNEL:
                                if my_queues is None or note.payload in my_queues:
                                    self._wake.set()
                            else:
                                self._on_control(json.loads(note.payload))
            except Exception:
                if self._stopping.is_set():
                    return
                logger.exception("LISTEN connection lost; reconnecting")
                time.sleep(1.0)

    def _on_control(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "interrupt":
            self._interrupt(message.get("jobs", []), message.get("reason", "interrupted"))
        elif kind == "worker" and message.get("worker") == self.id:
            self._read_pause_state()
            close_old_connections()
        elif kind == "queue" and message.get("paused"):
            self._release_unstarted({message["queue"]})
