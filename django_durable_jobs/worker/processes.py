"""The process pool: handlers run in pre-forked child processes (internal).

``runjobs --pool process`` keeps the worker's claim and write pipeline
(claimer, slots, writer, control loop) and changes one step: the pipeline
thread of each slot sends its job to an idle child over a pipe and waits for
the child's reply (see :mod:`.child`), which becomes the execution's outcome
as in the thread pool. What a process buys over a thread is that it can be
stopped anywhere: an interruption (cancel, aggressive pause, timeout, the
shutdown grace running out) sends the child ``SIGUSR1`` (the handler gets
:class:`~django_durable_jobs.exceptions.JobInterrupted`, which also ends a
``time.sleep()``), then ``SIGTERM`` after :data:`INTERRUPT_SECONDS`, then
``SIGKILL`` after the kill grace. An interrupted child is retired and a
fresh one takes its slot; so is a child that ran ``max_jobs_per_child``
jobs, or died (its attempt fails, and the retry policy applies).

Start method: **forkserver**, on purpose. The worker is multi-threaded when
it replaces a child (claimer, writer, control loop, listener, pipeline
threads), and ``fork()`` from a multi-threaded process copies whatever locks
those threads hold at that instant into a child that can never release
them (Python 3.12 warns about it; 3.14 made forkserver the default on
Linux). It would also copy the worker's database sockets and its ends of
every other child's pipe. The fork server is a fresh single-threaded
interpreter started by the worker; it sets Django up once
(:mod:`django_durable_jobs.forkserver`) and forks each child from that
state, so a child starts in milliseconds with no socket of the worker's.
Whatever database connection the server itself may have opened is dropped,
not closed, in the child (:func:`.child.forget_inherited_connections`).
The price: a child has the settings and registered jobs that
``DJANGO_SETTINGS_MODULE`` gives, not changes the worker made at run time.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from .. import signals
from ..models import Status
from ..registry import resolve
from ..state.execution import Outcome
from .child import INTERRUPT, job_message
from .child import main as child_main
from .execution import Execution
from .executor import Executor
from .outcomes import failure, missing_handler, release
from .slots import Slots
from .writer import Writer

logger = logging.getLogger("django_durable_jobs.worker")

#: How long an interrupted handler has to stop before its child gets SIGTERM
#: (short: a handler stuck in a C call stops within a second of a pause).
INTERRUPT_SECONDS = 0.25
#: How often a pipeline thread waiting for its child looks for an interruption.
POLL_SECONDS = 0.02
#: How long a child may take to start (Django is set up in the fork server already).
START_SECONDS = 60.0
#: Default of ``--kill-grace``: from SIGTERM to SIGKILL.
KILL_GRACE_SECONDS = 3.0
#: Hands the worker's ``sys.path`` to the fork server (read by :mod:`django_durable_jobs.forkserver`).
SYS_PATH = "DJANGO_DURABLE_JOBS_SYS_PATH"


@dataclass(frozen=True)
class ProcessOptions:
    """How the process pool runs: ``--max-jobs-per-child`` and ``--kill-grace``."""

    max_jobs_per_child: int | None = None
    kill_grace: float = KILL_GRACE_SECONDS


class ChildDied(Exception):
    """A child process ended in the middle of a job (the OOM killer, a segfault, ``os._exit()``)."""


class ChildStartError(RuntimeError):
    """A child process could not start (say Django's setup fails in the fork server)."""


def describe_exit(pid: int, code: int | None) -> str:
    """``child process 1234 died: killed by SIGKILL`` (or ``exit code N``)."""
    if code is None:
        return f"child process {pid} died"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"child process {pid} died: killed by {name}"
    return f"child process {pid} died: exit code {code}"


class Child:
    """One child process, the worker's end of its pipe, and what it runs."""

    def __init__(self, process: multiprocessing.process.BaseProcess, conn: Connection, pid: int) -> None:
        self.process = process
        self.conn = conn
        self.pid = pid
        #: The job it runs now, and how many it ran.
        self.job: int | None = None
        self.jobs = 0
        #: Its end of the pipe closed: it exited (its pid may be reused once it is reaped).
        self.dead = False
        #: Readable when it replies or dies (or its fork server dies): built once, polled per job.
        self._poll = select.poll()
        self._fd = conn.fileno()
        self._poll.register(self._fd, select.POLLIN)
        self._poll.register(process.sentinel, select.POLLIN)

    def ready(self, timeout: float) -> tuple[bool, bool]:
        """Wait up to ``timeout`` seconds: (the pipe is readable or closed, the sentinel alone is)."""
        ready = {fd for fd, _ in self._poll.poll(timeout * 1000)}
        replied = self._fd in ready
        return replied, bool(ready) and not replied

    def forget_sentinel(self) -> None:
        """The fork server died (the child did not): stop watching its socket."""
        self._poll.unregister(self.process.sentinel)

    def entry(self) -> dict[str, Any]:
        """Its entry in the worker registry row's ``children``."""
        return {"pid": self.pid, "job": self.job, "jobs": self.jobs}

    def send_signal(self, sig: int) -> None:
        if not self.dead:  # never signal a pid that may be reused already
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def exit_code(self) -> int | None:
        """How it ended (minus the signal that killed it), as the fork server reports it."""
        self.process.join(5.0)
        return self.process.exitcode

    def stop(self) -> None:
        """Ask it to exit once idle (it exits at once if its worker's end closes)."""
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.conn.close()


class Children:
    """Up to ``size`` children: idle ones wait for a job, busy ones run one."""

    def __init__(self, size: int, options: ProcessOptions) -> None:
        self.size = size
        self.options = options
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["django_durable_jobs.forkserver"])
        os.environ[SYS_PATH] = json.dumps(sys.path)  # read when the server starts
        # Every child waits on ``alive``: when the worker dies, its end closes and they exit.
        self._alive, self._alive_end = self._context.Pipe(duplex=False)
        self._lock = threading.Lock()
        self._idle: list[Child] = []
        self._live: dict[int, Child] = {}
        self._retired: list[Child] = []

    def start(self) -> None:
        """Pre-fork one child per slot (all started at once, then each awaited)."""
        launched = [self._launch() for _ in range(self.size - len(self._live))]
        try:
            for process, conn in launched:
                child = self._ready(process, conn)
                with self._lock:
                    self._idle.append(child)
        except ChildStartError:  # none may outlive the worker's exit (it would wait for them)
            for process, _ in launched:
                process.kill()
                process.join(5.0)
            self._alive_end.close()
            raise

    def _spawn(self) -> Child:
        return self._ready(*self._launch())

    def _launch(self) -> tuple[multiprocessing.process.BaseProcess, Connection]:
        conn, child_end = self._context.Pipe()
        process = self._context.Process(
            target=child_main, args=(child_end, self._alive), name="durable-child", daemon=False
        )
        process.start()
        child_end.close()
        return process, conn

    def _ready(self, process: multiprocessing.process.BaseProcess, conn: Connection) -> Child:
        """The child once it says it is ready; ChildStartError if it dies (or hangs) first."""
        wait([conn, process.sentinel], START_SECONDS)
        try:
            _, pid = conn.recv() if conn.poll() else (None, None)
        except (EOFError, OSError):
            pid = None
        if pid is None:
            process.join(1.0)
            process.kill()
            message = describe_exit(process.pid or 0, process.exitcode).replace("died", "could not start")
            raise ChildStartError(f"{message} (see its output above)")
        child = Child(process, conn, pid)
        with self._lock:
            self._live[pid] = child
        return child

    def acquire(self) -> Child:
        """An idle child, or a new one (each slot's thread holds at most one)."""
        with self._lock:
            self._reap()
            if self._idle:
                return self._idle.pop()
        return self._spawn()

    def release(self, child: Child, reusable: bool) -> None:
        """The job is over: keep the child for the next one, or retire it."""
        child.job = None
        limit = self.options.max_jobs_per_child
        if reusable and (limit is None or child.jobs < limit) and not child.dead:
            with self._lock:
                self._idle.append(child)
            return
        child.stop()
        with self._lock:
            self._live.pop(child.pid, None)
            self._retired.append(child)

    def _reap(self) -> None:
        self._retired = [c for c in self._retired if c.process.exitcode is None]

    def running(self, job_id: int) -> Child | None:
        with self._lock:
            return next((c for c in self._live.values() if c.job == job_id), None)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [c.entry() for c in sorted(self._live.values(), key=lambda c: c.pid)]

    def shutdown(self, grace: float) -> None:
        """Stop idle children, give busy ones ``grace`` seconds, then kill what is left."""
        with self._lock:
            idle, self._idle = self._idle, []
            everyone = [*self._live.values(), *self._retired]
        for child in idle:
            child.stop()
        deadline = time.monotonic() + grace
        for child in everyone:
            child.process.join(max(deadline - time.monotonic(), 0.0))
            if child.process.exitcode is None:
                child.send_signal(signal.SIGKILL)
                child.process.join(1.0)
        self._alive_end.close()


class ProcessExecutor(Executor):
    """The executor's pipeline, with :meth:`_perform` done by a child process."""

    def __init__(
        self,
        worker_id: str,
        slots: Slots,
        writer: Writer,
        stats: dict[str, int],
        threads: int,
        options: ProcessOptions,
    ) -> None:
        super().__init__(worker_id, slots, writer, stats, threads)
        self.options = options
        self._children = Children(threads, options)

    def start(self) -> None:
        self._children.start()

    def children(self) -> list[dict[str, Any]]:
        """One entry per child: ``{"pid": ..., "job": id or None, "jobs": n run}``."""
        return self._children.entries()

    def abandon(self, execution: Execution) -> None:
        """The handler outlived ``INTERRUPT_GRACE_SECONDS`` after its interruption: kill its child now.

        Its pipeline thread then sees the child die and ends the execution as usual.
        """
        found = self._children.running(execution.ctx.id)
        if found is not None and not found.dead:
            logger.warning(
                "job %s: child %s did not stop within INTERRUPT_GRACE_SECONDS of its interruption: SIGKILL",
                execution.ctx.id,
                found.pid,
            )
            found.send_signal(signal.SIGKILL)

    @property
    def abandoned(self) -> int:
        return 0  # a process is killed, never abandoned

    def shutdown(self) -> None:
        super().shutdown()
        self._children.shutdown(INTERRUPT_SECONDS + self.options.kill_grace + 1.0)

    def _perform(self, execution: Execution) -> Outcome | None:
        ctx = execution.ctx
        if resolve(ctx.name) is None:
            return missing_handler(ctx, self.worker_id)
        if signals.job_started.receivers:
            signals.send(signals.job_started, job=execution.job_row(Status.RUNNING))
        try:
            child = self._children.acquire()
        except ChildStartError as exc:
            logger.error("job %s: %s", ctx.id, exc)
            return failure(ctx, exc)
        if ctx.interrupted is not None:  # stopped while a child was found
            self._children.release(child, reusable=True)
            self._discard(execution)
            return None
        child.job = ctx.id
        try:
            child.conn.send_bytes(job_message(ctx))
        except OSError:  # it died while idle: the job never started
            self._children.release(child, reusable=False)
            return release(ctx)
        reply, signalled = self._await(child, execution)
        if reply[0] == "died":
            self._children.release(child, reusable=False)
            if ctx.interrupted is not None:
                self._discard(execution)
                return None
            message = describe_exit(child.pid, reply[1])
            logger.warning("job %s: %s", ctx.id, message)
            return failure(ctx, ChildDied(message))
        child.jobs += 1
        self._children.release(child, reusable=not signalled and reply[0] != "interrupted")
        if reply[0] == "interrupted":
            self._discard(execution)
            return None
        return reply[1] if reply[0] == "outcome" else None  # "suspended": waits on a fan-out

    def _await(self, child: Child, execution: Execution) -> tuple[tuple, bool]:
        """The child's reply (or ``("died", exit code)``), stopping it if the execution is interrupted.

        Also says whether the child was signalled: it is not reused then.
        """
        interrupted_at = terminated_at = None
        while True:
            replied, server_died = child.ready(POLL_SECONDS)
            if replied:
                try:
                    return child.conn.recv(), interrupted_at is not None
                except (EOFError, OSError):  # only the child held the other end: it is gone
                    child.dead = True
                    return ("died", child.exit_code()), True
            if server_died:  # the sentinel alone: the child died (a process it forked holds its
                # end of the pipe), or the fork server died (exit code 255) and the child goes on
                code = child.exit_code()
                if code != 255:
                    child.dead = True
                    return ("died", code), True
                logger.warning("the process pool's fork server died; child %s goes on", child.pid)
                child.forget_sentinel()
            if execution.ctx.interrupted is None:
                continue
            now = time.monotonic()
            if interrupted_at is None:
                child.send_signal(INTERRUPT)
                interrupted_at = now
            elif terminated_at is None and now - interrupted_at >= INTERRUPT_SECONDS:
                child.send_signal(signal.SIGTERM)
                terminated_at = now
            elif terminated_at is not None and now - terminated_at >= self.options.kill_grace:
                child.send_signal(signal.SIGKILL)
