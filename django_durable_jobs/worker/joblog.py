"""One log line when a job starts and one when it finishes, with fields a machine can read (internal).

Logger ``django_durable_jobs.worker``, level INFO. Each record carries in
``extra`` (so a JSON formatter, such as python-json-logger, emits them as
keys): ``job_id``, ``job_name``, ``queue``, ``attempt``; a finish line also
``outcome`` and ``duration_ms`` (the handler's own time, from its start to
its outcome, without the wait for the commit).

``outcome`` is ``completed``, ``failed``, ``retried``, ``snoozed`` or
``paused`` (as the statistics count them), ``released`` (given back unrun,
the attempt not counted), ``discarded`` (the execution had lost its job:
cancelled, paused or reclaimed meanwhile), ``interrupted`` (stopped while it
ran, no outcome) or ``suspended`` (waiting on a fan-out).
"""

from __future__ import annotations

import logging
import time

from ..context import JobContext
from ..stats import outcome_of

logger = logging.getLogger("django_durable_jobs.worker")


def _fields(ctx: JobContext) -> dict[str, object]:
    return {"job_id": ctx.id, "job_name": ctx.name, "queue": ctx.queue, "attempt": ctx.attempt}


def started(ctx: JobContext) -> None:
    if logger.isEnabledFor(logging.INFO):
        logger.info("job %s (%s) started, attempt %d", ctx.id, ctx.name, ctx.attempt, extra=_fields(ctx))


def outcome_label(kind: str, status: str | None) -> str:
    """What a finish line says of an outcome of ``kind`` that left its job in ``status`` (None: discarded)."""
    if status is None:
        return "discarded"
    return outcome_of(kind, status) or "released"


def finished(ctx: JobContext, outcome: str, started_at: float | None, ended_at: float | None = None) -> None:
    """Log the end of an execution; ``started_at``/``ended_at`` are ``time.monotonic()`` readings."""
    if not logger.isEnabledFor(logging.INFO):
        return
    ended_at = time.monotonic() if ended_at is None else ended_at
    duration_ms = round((ended_at - started_at) * 1000, 3) if started_at is not None else None
    extra = {**_fields(ctx), "outcome": outcome, "duration_ms": duration_ms}
    logger.info("job %s (%s) %s after %s ms", ctx.id, ctx.name, outcome, duration_ms, extra=extra)
