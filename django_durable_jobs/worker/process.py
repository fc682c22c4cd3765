"""The worker process: its lifecycle and its in-process control (internal).

:class:`Worker` wires the parts together and owns what concerns the whole
process: registering in the worker registry, signal handlers, the pause
state, and the graceful shutdown.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable

from django.db import DatabaseError, close_old_connections

from ..conf import jobs_settings
from ..exceptions import WorkerAlreadyPaused, WorkerNotPaused
from ..models import PauseMode
from ..state import control as transitions
from .claimer import Claimer
from .control import ControlLoop
from .execution import Execution, Pool
from .executor import Executor
from .health import Outage
from .listener import Listener
from .outcomes import release
from .processes import ProcessExecutor, ProcessOptions
from .slots import Slots
from .writer import Writer

logger = logging.getLogger("django_durable_jobs.worker")

#: At shutdown, how long to wait for finished handlers to hand their outcome to the writer.
DELIVERY_WAIT_SECONDS = 5.0


class Worker:
    """One ``runjobs`` process: claims, runs and records jobs until stopped.

    Control it in-process with :meth:`pause`, :meth:`resume` and :meth:`stop`
    (what SIGTERM does), or from anywhere through the worker registry
    (``pause_worker(worker.id)``).
    """

    def __init__(
        self,
        pools: list[Pool],
        *,
        worker_id: str | None = None,
        scheduler: bool = False,
        burst: bool = False,
        paused: bool = False,
        processes: ProcessOptions | None = None,
    ) -> None:
        """``processes``: run handlers in child processes (``runjobs --pool process``), not threads."""
        if not pools:
            raise ValueError("a worker needs at least one pool of slots")
        self.pools = pools
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id = worker_id or f"{self.host}:{self.pid}:{uuid.uuid4().hex[:6]}"
        self.scheduler = scheduler
        self.burst = burst
        self.using = jobs_settings.DATABASE
        self.stats = {
            "claimed": 0,
            "completed": 0,
            "failed": 0,
            "retried": 0,
            "discarded": 0,
            "abandoned": 0,
        }
        #: Set when too many threads were abandoned: ``runjobs`` starts afresh after run() returns.
        self.restart_requested = False
        self._start_paused = paused
        self._paused = False
        self._pause_mode: PauseMode | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._slots = Slots(pools, self._wake)
        self._writer = Writer(self.using, self._slots, self._wake, self.stats)
        threads = sum(p.concurrency for p in pools)
        self.pool = "thread" if processes is None else "process"
        self._processes = (
            None
            if processes is None
            else ProcessExecutor(self.id, self._slots, self._writer, self.stats, threads, processes)
        )
        self._executor = self._processes or Executor(self.id, self._slots, self._writer, self.stats, threads)
        self._claimer = Claimer(
            self.id,
            self.using,
            slots=self._slots,
            executor=self._executor,
            writer=self._writer,
            stats=self.stats,
            wake=self._wake,
            stopping=self._stopping,
            is_paused=lambda: self._paused,
            burst=burst,
        )
        self._control = ControlLoop(
            self.id,
            self.using,
            slots=self._slots,
            wake=self._wake,
            stopping=self._stopping,
            scheduler=scheduler,
            apply_pause_state=self._apply_pause_state,
            release_unstarted=self._release_unstarted,
            interrupt=self._interrupt,
            abandon=self._abandon,
            abandoned=lambda: self._executor.abandoned,
            children=self._children,
        )

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
        self._control.poke()

    def stuck_threads(self) -> int:
        """Handlers interrupted but still inside a C call (a long sleep): they block a clean exit."""
        return self._slots.stuck() + self._executor.abandoned

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> None:
        """Register, start the helper threads and claim until stopped."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self.stop())
            signal.signal(signal.SIGINT, lambda *_: self.stop())
        if self._processes is not None:
            self._processes.start()  # pre-forked: the registry row lists the children
        if not self._register():
            self._executor.shutdown()
            return
        writer = self._spawn(self._writer.run, "durable-writer")
        control = self._spawn(self._control.run, "durable-control")
        if Listener.available(self.using):
            every_queue = any(p.queues is None for p in self.pools)
            queues = None if every_queue else {q for p in self.pools for q in p.queues or []}
            listen = Listener(
                self.using,
                queues,
                wake=self._wake,
                stopping=self._stopping,
                on_control=self._control.poke,
            )
            self._spawn(listen.run, "durable-listen")
        logger.info("worker %s started: pools %s", self.id, ", ".join(map(str, self.pools)))
        try:
            self._claimer.run()
        finally:
            self._shutdown(writer, control)

    @staticmethod
    def _spawn(target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def _register(self) -> bool:
        """Register in the worker registry, waiting for the database if it is not up yet.

        False if the worker was stopped while it waited.
        """
        outage = Outage(f"worker {self.id}", self.using)
        while not self._stopping.is_set():
            try:
                mode = transitions.register_worker(
                    self.id,
                    host=self.host,
                    pid=self.pid,
                    queues=sorted({q for p in self.pools for q in (p.queues or [])}),
                    concurrency=sum(p.concurrency for p in self.pools),
                    paused=self._start_paused,
                    pool=self.pool,
                    children=self._children(),
                )
            except DatabaseError as exc:
                self._stopping.wait(outage.failed(exc))
                continue
            outage.ok()
            if mode is not None:
                self._paused, self._pause_mode = True, mode
            return True
        return False

    def _shutdown(self, writer: threading.Thread, control: threading.Thread) -> None:
        """Stop claiming, let running jobs finish within the grace period, release the rest.

        The control loop goes on meanwhile: it renews the leases of the jobs
        that finish, and interrupts those cancelled or taken away (a waiting
        parent's fan-out that timed out, say), so the grace is not spent on them.
        """
        logger.info("worker %s stopping", self.id)
        self._release_unstarted()
        deadline = time.monotonic() + jobs_settings.SHUTDOWN_GRACE_SECONDS
        while self._slots.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        for execution in self._slots.running():
            # Only a handler this call stopped is released: one that finished in
            # the meantime hands its own outcome to the writer.
            if execution.interrupt("worker shutting down"):
                self._slots.delivered(execution)
                self._writer.put(execution, release(execution.ctx))
        self._wait(lambda: not self._slots.undelivered(), DELIVERY_WAIT_SECONDS)
        self._writer.stop()
        writer.join(timeout=10)
        self._control.stop()
        control.join(timeout=10)
        self._executor.shutdown()
        try:
            transitions.mark_stopped(self.id)
        except DatabaseError:
            logger.exception("could not mark worker %s stopped", self.id)
        close_old_connections()

    def _children(self) -> list[dict] | None:
        """The process pool's children (pid, job, jobs run), for the registry row; None for threads."""
        return None if self._processes is None else self._processes.children()

    @staticmethod
    def _wait(done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            time.sleep(0.01)

    # ------------------------------------------------------------------ pausing

    def _apply_pause_state(self, mode: PauseMode | None) -> None:
        """Follow the registry row: paused in ``mode``, or running (None)."""
        if mode is None:
            if self._paused:
                self._apply_resume()
        elif not self._paused or (mode == PauseMode.AGGRESSIVE and self._pause_mode != PauseMode.AGGRESSIVE):
            self._apply_pause(mode)

    def _apply_pause(self, mode: PauseMode) -> None:
        self._paused, self._pause_mode = True, mode
        self._release_unstarted()
        if mode == PauseMode.AGGRESSIVE:
            # pause_worker already put these jobs back to pending; stop the code.
            for execution in self._slots.running():
                execution.interrupt("worker paused")
        logger.info("worker %s paused (%s)", self.id, mode)

    def _apply_resume(self) -> None:
        if self._paused:
            logger.info("worker %s resumed", self.id)
        self._paused, self._pause_mode = False, None
        self._wake.set()

    def _release_unstarted(self, queues: Iterable[str] | None = None, names: Iterable[str] = ()) -> None:
        """Give back jobs claimed ahead but not started (all, or of these queues or job names)."""
        every = queues is None
        queues, names = set(queues or ()), set(names)
        for execution in self._slots.all():
            if not every and execution.ctx.queue not in queues and execution.ctx.name not in names:
                continue
            if execution.withdraw("released"):
                self._slots.delivered(execution)
                self._writer.put(execution, release(execution.ctx))

    def _abandon(self, execution: Execution) -> None:
        """The handler ignored its interruption for too long (blocked in C): free its slot."""
        if self._processes is not None:  # a process is killed, not abandoned: its pipeline ends the job
            self._processes.abandon(execution)
            return
        self._executor.abandon(execution)
        if execution.timed_out():  # its job is still ours: the attempt fails
            self._slots.delivered(execution)
            self._writer.put(execution, execution.timeout_outcome())
        else:
            self._slots.settle(execution)
        self.stats["abandoned"] += 1
        abandoned = self._executor.abandoned
        logger.warning(
            "job %s: its handler did not stop within %g s of being interrupted (%s); abandoning its "
            "thread and giving its slot to the next job (%d abandoned thread(s) in this worker)",
            execution.ctx.id,
            jobs_settings.INTERRUPT_GRACE_SECONDS,
            execution.ctx.interrupted,
            abandoned,
        )
        if abandoned > jobs_settings.MAX_ABANDONED_THREADS and not self.restart_requested:
            logger.error(
                "worker %s: %d abandoned threads (more than MAX_ABANDONED_THREADS): restarting",
                self.id,
                abandoned,
            )
            self.restart_requested = True
            self.stop()

    def _interrupt(self, job_ids: list[int], reason: str) -> None:
        for execution in self._slots.find(job_ids):
            execution.interrupt(reason)
