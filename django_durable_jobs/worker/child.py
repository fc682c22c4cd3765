"""The loop of one process-pool child: runs the jobs its worker sends it (internal).

A child is forked by the fork server (see :mod:`.processes`), with Django
set up already. It receives one job at a time over its pipe, runs the
handler in its main thread (an ``async def`` handler on the child's own
event loop) and sends back how it ended:

- ``("outcome", Outcome)``: computed here by the same pure functions the
  thread pool uses (:mod:`.outcomes`), where the exception object lives; the
  worker records it through its writer;
- ``("suspended",)``: the handler waits on a fan-out (written already);
- ``("interrupted",)``: the worker interrupted it (``SIGUSR1``); the worker
  then retires this child and a fresh one takes the slot.

``SIGUSR1`` raises :class:`JobInterrupted` into the handler (a blocked
``time.sleep()`` returns at once), or cancels an ``async def`` handler's
task; outside a handler it is ignored. ``SIGTERM`` keeps its default action
(the process ends, even inside a C call) and ``SIGINT`` is ignored: a Ctrl-C
reaches the worker, which stops its children itself.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import threading
from dataclasses import fields
from multiprocessing.connection import Connection, wait
from operator import attrgetter
from typing import Any

from django.db import connections

from .. import tracing
from ..context import JobContext, activate, deactivate
from ..exceptions import JobInterrupted
from ..registry import JobDefinition, resolve
from ..workflows import Suspend
from .health import close_thread_connections, is_connection_error, tidy_connections
from .outcomes import failure, missing_handler, release, success

#: The signal the worker interrupts a handler with.
INTERRUPT = signal.SIGUSR1

#: Database connections this process inherited through fork: kept referenced,
#: never closed. Closing one would end the session of the process that opened
#: it (libpq sends a Terminate message over the shared socket); letting it be
#: garbage-collected is not safe with every driver either (psycopg 3 checks
#: the pid before closing, psycopg2 and sqlite3 do not). The child exits with
#: ``os._exit()``, so they are never finalised.
_inherited: list[Any] = []


class _Running:
    """The handler that runs now, as the interruption signal sees it."""

    active = False
    task: asyncio.Task[Any] | None = None
    loop: asyncio.AbstractEventLoop | None = None


_running = _Running()


def forget_inherited_connections() -> None:
    """Make every Django connection of this process open its own socket at its next query."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited.append(conn.connection)
            conn.connection = None


def main(conn: Connection, alive: Connection) -> None:
    """The child's life: set up, say ready, run jobs until told to stop, exit."""
    os.setpgid(0, 0)  # a signal to the worker's process group (Ctrl-C) is the worker's to handle
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(INTERRUPT, _on_interrupt)
    forget_inherited_connections()
    threading.Thread(target=_exit_with_worker, args=(alive,), name="durable-watchdog", daemon=True).start()
    conn.send(("ready", os.getpid()))
    loop: asyncio.AbstractEventLoop | None = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        ctx = JobContext(**dict(zip(_FIELDS, message, strict=True)))
        definition = resolve(ctx.name)
        if definition is not None and definition.is_async and loop is None:
            loop = asyncio.new_event_loop()
        with tracing.resumed(ctx):  # call() spans and fan-outs see the worker's run span
            reply = run(ctx, definition, loop)
        try:
            data = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)  # what Connection.send() does, faster
        except Exception as exc:  # an outcome that cannot be pickled: say why instead
            data = pickle.dumps(("outcome", failure(ctx, exc)), pickle.HIGHEST_PROTOCOL)
        conn.send_bytes(data)
        if reply[0] == "interrupted":
            break
        tidy_connections()
    close_thread_connections()
    os._exit(0)  # no atexit handler or non-daemon thread of user code holds the exit


def _exit_with_worker(alive: Connection) -> None:
    """End this child when its worker is gone (its end of ``alive`` closes), even mid-job."""
    wait([alive])
    os._exit(1)


def run(ctx: JobContext, definition: JobDefinition | None, loop: asyncio.AbstractEventLoop | None) -> tuple:
    """Run one job's handler; the reply to send to the worker."""
    if definition is None:
        return ("outcome", missing_handler(ctx, f"process {os.getpid()}"))
    token = activate(ctx)
    try:
        try:
            if definition.is_async:
                assert loop is not None
                result = _call_async(ctx, definition, loop)
            else:
                _running.active = True
                try:
                    result = definition.func(*ctx.args, **ctx.kwargs)
                finally:
                    _running.active = False
        except (JobInterrupted, asyncio.CancelledError):
            return ("interrupted",)
        except Suspend:
            return ("suspended",)
        except BaseException as exc:  # noqa: BLE001 - the handler's failure is its outcome
            ctx.flush_progress()  # before the outcome: a finished job's lease no longer matches
            if is_connection_error(exc):
                return ("outcome", release(ctx))
            return ("outcome", failure(ctx, exc))
        ctx.flush_progress()
        return ("outcome", success(ctx, result))
    except JobInterrupted:  # landed between the handler's end and the flag's reset
        return ("interrupted",)
    finally:
        deactivate(token)


def _call_async(ctx: JobContext, definition: JobDefinition, loop: asyncio.AbstractEventLoop) -> Any:
    async def perform() -> Any:
        return await definition.func(*ctx.args, **ctx.kwargs)

    task = loop.create_task(perform())
    _running.task, _running.loop = task, loop
    try:
        return loop.run_until_complete(task)
    finally:
        _running.task = _running.loop = None


def _on_interrupt(signum: int, frame: Any) -> None:
    if _running.task is not None and _running.loop is not None:
        _running.loop.call_soon_threadsafe(_running.task.cancel)
    elif _running.active:
        _running.active = False  # one interruption, raised once
        raise JobInterrupted("interrupted by the worker")


#: The fields a JobContext is built from (not its private state: a lock does not pickle).
_FIELDS = tuple(f.name for f in fields(JobContext) if f.init)


_values = attrgetter(*_FIELDS)


def job_message(ctx: JobContext) -> bytes:
    """What the worker sends a child: the context's fields (in ``_FIELDS`` order), pickled."""
    return pickle.dumps(_values(ctx), pickle.HIGHEST_PROTOCOL)
