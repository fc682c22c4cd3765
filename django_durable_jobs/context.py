"""The job a handler runs for, as the handler sees it.

``current_job()`` returns the :class:`JobContext` of the job the calling code
runs for. ``call()`` and ``fan_out()`` use it to number their steps and to
fence their writes with the execution's lease.

How the worker stops a running handler (threads, tasks, asynchronous
exceptions) is not here: see ``django_durable_jobs.worker.execution``.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from .exceptions import JobInterrupted

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
    #: Next call()/fan_out() step number of this execution (replay order).
    step: int = 0
    #: Why the execution was interrupted ("worker paused", "cancelled", "lost lease", ...), or None.
    interrupted: str | None = None
    #: Checkpoints and fan-outs of the job, loaded at its first call()/fan_out().
    history: Any = None

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
