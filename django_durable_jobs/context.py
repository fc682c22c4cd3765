"""The running execution of a job, as seen from inside its handler.

``current_job()`` returns the :class:`JobContext` of the job the calling code
runs for. ``call()`` and ``fan_out()`` use it to number their steps and to
fence their writes with the execution's lease.
"""

from __future__ import annotations

import contextvars
import ctypes
import threading
from dataclasses import dataclass, field
from typing import Any

from .exceptions import JobInterrupted

_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "durable_jobs_current", default=None
)


@dataclass(eq=False)
class JobContext:
    id: int
    name: str
    queue: str
    attempt: int
    max_retries: int
    lease: str
    args: list[Any]
    kwargs: dict[str, Any]
    fanout_id: int | None = None
    #: Next call()/fan_out() step number of this execution (replay order).
    step: int = 0
    #: Why the execution was interrupted ("paused", "cancelled", ...), or None.
    interrupted: str | None = None
    #: Checkpoints and fan-outs of the job, loaded at its first call()/fan_out().
    history: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread_id: int | None = field(default=None, repr=False)
    _task: Any = field(default=None, repr=False)
    _loop: Any = field(default=None, repr=False)
    _started: bool = field(default=False, repr=False)
    _done: bool = field(default=False, repr=False)

    def raise_if_interrupted(self) -> None:
        """Stop here if the job was paused aggressively, cancelled or lost its lease."""
        if self.interrupted is not None:
            raise JobInterrupted(self.interrupted)

    def next_step(self) -> int:
        self.raise_if_interrupted()
        step = self.step
        self.step += 1
        return step

    # -- used by the worker -------------------------------------------------

    def start(self) -> bool:
        """Mark the handler as started; False if it was released before it began."""
        with self._lock:
            if self.interrupted is not None:
                return False
            self._started = True
            self._thread_id = threading.get_ident()
            return True

    def finish(self) -> None:
        """The handler returned: no further asynchronous interruption may land."""
        with self._lock:
            self._done = True
            if self._thread_id is not None:
                _set_async_exc(self._thread_id, None)

    def interrupt(self, reason: str) -> bool:
        """Stop the execution. Returns True if the handler had started."""
        with self._lock:
            if self.interrupted is not None:
                return self._started
            self.interrupted = reason
            if not self._started or self._done:
                return self._started
            if self._task is not None and self._loop is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)
            elif self._thread_id is not None:
                _set_async_exc(self._thread_id, JobInterrupted)
            return True


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in another thread at its next bytecode (None clears it)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )


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
