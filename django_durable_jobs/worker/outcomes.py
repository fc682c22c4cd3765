"""How an execution ended, as the one :class:`Outcome` the writer commits (internal).

Pure functions: they decide (complete, retry, fail), the state machine writes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from .. import validation
from ..conf import jobs_settings
from ..context import JobContext
from ..exceptions import NoRetry, Snooze
from ..registry import resolve
from ..retry import describe_error, retry_at, should_retry
from ..state.execution import Outcome

#: The key that marks a stored result as a preview of one too large to keep.
TRUNCATED = "__truncated__"
PREVIEW_CHARS = 1000


def _outcome(kind: str, ctx: JobContext, **fields: Any) -> Outcome:
    definition = resolve(ctx.name)
    if definition is not None and definition.concurrency is not None:
        fields["frees_limit_in"] = ctx.queue
    return Outcome(kind, ctx.id, ctx.lease, ctx.fanout_id, **fields)


def success(ctx: JobContext, result: Any) -> Outcome:
    """The handler returned ``result``: complete, unless the result cannot be stored.

    A result the database cannot hold as given (not JSON, a NUL character)
    fails the job at once, with an error saying why: the handler has run, and
    running it again would give the same. A result that is merely too large
    or too deep is stored as a preview (:func:`stored_result`).
    """
    try:
        result = stored_result(result)
    except ValueError as exc:
        return _outcome("fail_now", ctx, error=describe_error(exc))
    return _outcome("complete", ctx, result=result)


def stored_result(result: Any) -> Any:
    """``result``, or a marked stand-in if it is over ``MAX_RESULT_BYTES`` or ``MAX_NESTING``."""
    try:
        encoded = validation.dumps("result", result, max_nesting=jobs_settings.MAX_NESTING)
    except validation.TooDeep:
        return {
            TRUNCATED: f"the result was nested more than {jobs_settings.MAX_NESTING} levels deep "
            "(MAX_NESTING) and was not kept"
        }
    limit = jobs_settings.MAX_RESULT_BYTES
    if len(encoded) * 4 <= limit or len(encoded.encode()) <= limit:
        return result
    return {
        TRUNCATED: (
            f"the result was {len(encoded.encode()):,} bytes of JSON, over MAX_RESULT_BYTES ({limit:,}); "
            f"'preview' holds its first {PREVIEW_CHARS:,} characters"
        ),
        "preview": encoded[:PREVIEW_CHARS],
    }


def failure(ctx: JobContext, exc: BaseException) -> Outcome:
    """The handler raised ``exc``: retry after a backoff while attempts are left, else fail.

    ``fail`` may still become ``paused`` if a graceful pause waits for this
    attempt; ``NoRetry`` fails at once (``fail_now``).
    """
    if isinstance(exc, Snooze):
        if ctx.snoozes >= jobs_settings.MAX_SNOOZES:
            message = f"Snooze: the job snoozed {ctx.snoozes} times already (MAX_SNOOZES): failed"
            return _outcome("fail_now", ctx, error=message)
        return _outcome("snooze", ctx, run_after=timezone.now() + timedelta(seconds=exc.seconds))
    error = describe_error(exc)
    if isinstance(exc, NoRetry):
        return _outcome("fail_now", ctx, error=error)
    if not should_retry(ctx.attempt, ctx.max_retries):
        return _outcome("fail", ctx, error=error)
    return _outcome("retry", ctx, error=error, run_after=retry_at(exc, ctx.attempt, timezone.now()))


def missing_handler(ctx: JobContext, worker_id: str) -> Outcome:
    """No handler is registered under the job's name in this process: fail, retryable by hand."""
    message = (
        f"no handler is registered for job {ctx.name!r} in worker {worker_id}: deploy the code "
        "that defines it (an installed app's jobs.py), then retry the job"
    )
    return _outcome("fail_now", ctx, error=f"django_durable_jobs.exceptions.UnknownJob: {message}")


def release(ctx: JobContext) -> Outcome:
    """Give a job this worker will not run (any more) back to pending, attempt not counted."""
    return _outcome("release", ctx)
