"""Retry policy: pure functions that decide, never write."""

from __future__ import annotations

import math
import random
import traceback
from datetime import datetime, timedelta

from .conf import jobs_settings
from .exceptions import RetryAfter
from .validation import truncate_text

#: The longest delay a retry may ask for; longer ones (``RetryAfter(10**12)``)
#: are cut to it rather than overflow a datetime.
MAX_RETRY_DELAY = timedelta(days=366)


def backoff_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Delay before the retry that follows failed attempt number ``attempt`` (1-based).

    Exponential (``BACKOFF_BASE * 2**(attempt-1)``, capped at ``BACKOFF_MAX``)
    with +/- ``BACKOFF_JITTER`` of random spread so that failed jobs do not
    come back in lockstep.
    """
    base = jobs_settings.BACKOFF_BASE * 2.0 ** min(max(attempt - 1, 0), 1000)  # 2**1024 overflows a float
    delay = min(base, jobs_settings.BACKOFF_MAX)
    jitter = jobs_settings.BACKOFF_JITTER
    if jitter:
        delay *= 1 + (rng or random).uniform(-jitter, jitter)
    return max(delay, 0.0)


def should_retry(attempt: int, max_retries: int) -> bool:
    """``retries=N`` means N extra attempts after the first."""
    return attempt <= max_retries


def retry_at(exc: BaseException, attempt: int, now: datetime) -> datetime:
    """When to run again after ``exc`` ended attempt number ``attempt``.

    ``RetryAfter(seconds)`` decides for itself, within ``MAX_RETRY_DELAY``;
    anything else follows the backoff.
    """
    seconds = exc.seconds if isinstance(exc, RetryAfter) else backoff_seconds(attempt)
    if not math.isfinite(seconds) or seconds > MAX_RETRY_DELAY.total_seconds():
        return now + MAX_RETRY_DELAY
    return now + timedelta(seconds=max(seconds, 0.0))


def describe_error(exc: BaseException) -> str:
    """``"module.Class: message"`` then the traceback: what ``Job.last_error`` keeps.

    A NUL character (which PostgreSQL cannot store in text) is written as
    ``\\x00``, so the same error reads the same on every database; a text
    longer than ``MAX_ERROR_CHARS`` is cut in the middle, with a marker.
    """
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    tb = "".join(traceback.format_exception(exc))
    text = f"{name}: {exc}\n\n{tb}".replace("\x00", "\\x00")
    return truncate_text(text, jobs_settings.MAX_ERROR_CHARS)
