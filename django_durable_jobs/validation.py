"""The one validation layer: every value a user gives is checked here.

Each check holds a value to the limit the database would enforce (column
lengths, NUL characters, integer and date ranges) and applies it the same way
on SQLite, which would store almost anything, and PostgreSQL, which would
refuse it with a raw ``DataError``. A refusal is an :class:`InvalidValue`
that names the argument and the limit, raised before anything is written.
The API, the Tasks backend, the command line and the admin all call these.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from .exceptions import InvalidType, InvalidValue

#: Column lengths (the models use these too).
NAME_LENGTH = 200
QUEUE_LENGTH = 100
UNIQUE_KEY_LENGTH = 255
BY_LENGTH = 150
#: Not a column limit (a reason is text): a reason longer than a page is a mistake.
REASON_LENGTH = 10_000
WORKER_ID_LENGTH = 200
#: PostgreSQL ``integer`` and ``bigint``; SQLite would take more, so every database gets these.
INT32 = (-(2**31), 2**31 - 1)
JOB_ID = (1, 2**63 - 1)


class TooDeep(InvalidValue):
    """Nested deeper than ``MAX_NESTING`` (a result is then kept as a marker, not refused)."""


def show(value: Any) -> str:
    """``repr(value)``, shortened to stay one readable line."""
    if isinstance(value, str) and len(value) > 60:
        return f"{value[:40]!r}… ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}… ({type(value).__name__})"


def text(field: str, value: Any, *, max_length: int | None = None, required: bool = False) -> str:
    """A string without NUL characters, at most ``max_length`` long, non-empty if ``required``."""
    if not isinstance(value, str):
        raise InvalidType(field, f"{show(value)} is not a string")
    if "\x00" in value:
        raise InvalidValue(field, f"{show(value)} contains a NUL character, which the database cannot store")
    if required and not value.strip():
        raise InvalidValue(field, "must not be empty")
    if max_length is not None and len(value) > max_length:
        raise InvalidValue(field, f"{show(value)} is longer than {max_length} characters")
    return value


def optional_text(field: str, value: Any, *, max_length: int | None = None) -> str | None:
    return None if value is None else text(field, value, max_length=max_length)


def integer(field: str, value: Any, lo: int = INT32[0], hi: int = INT32[1]) -> int:
    """An int (not a bool) within ``lo..hi``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidType(field, f"{show(value)} is not an integer")
    if not lo <= value <= hi:
        raise InvalidValue(field, f"{value} is outside {lo}..{hi}")
    return value


def queue_name(value: Any, field: str = "queue") -> str:
    """A queue name: at most 100 characters, no ``:`` or ``,`` (the ``-q`` syntax), no surrounding spaces."""
    text(field, value, max_length=QUEUE_LENGTH, required=True)
    if ":" in value or "," in value or value != value.strip():
        raise InvalidValue(field, f"{show(value)} may not contain ':' or ',' or surrounding spaces")
    return value


def job_name(value: Any, field: str = "name") -> str:
    return text(field, value, max_length=NAME_LENGTH, required=True)


def job_id(value: Any, field: str = "job_id") -> int:
    """A job's primary key: an int, or a string of decimal digits (as a URL or a form gives it)."""
    if isinstance(value, str) and value.isascii() and value.isdecimal():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, f"{show(value)} is not a job id (a positive integer)")
    if not JOB_ID[0] <= value <= JOB_ID[1]:
        raise InvalidValue(field, f"{value} is not a job id (ids are {JOB_ID[0]}..{JOB_ID[1]})")
    return value


def seconds(field: str, value: Any, lo: float = 0.01, hi: float = 366 * 86400.0) -> float:
    """A duration in seconds (a number or a timedelta) within ``lo..hi``."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidType(field, f"{show(value)} is not a number of seconds or a timedelta")
    if not lo <= value <= hi:
        raise InvalidValue(field, f"{value:g} s is outside {lo:g}..{hi:.0f} s")
    return float(value)


def moment(field: str, value: Any, now: datetime) -> datetime:
    """An aware datetime, or ``now`` plus a timedelta, that a datetime can hold."""
    if isinstance(value, timedelta):
        try:
            return now + value
        except OverflowError:
            raise InvalidValue(field, f"{show(value)} from now is after year 9999") from None
    if isinstance(value, datetime):
        if settings.USE_TZ and timezone.is_naive(value):
            raise InvalidValue(field, f"{show(value)} is a naive datetime; give an aware one")
        return value
    raise InvalidType(field, f"{show(value)} is not a datetime or a timedelta")


def future(field: str, value: Any, now: datetime) -> datetime:
    """A :func:`moment` after ``now`` (a pause ``until`` that has passed would never end it)."""
    when = moment(field, value, now)
    if when <= now:
        raise InvalidValue(field, f"{show(value)} is not in the future")
    return when


def payload(field: str, value: Any, *, max_nesting: int) -> None:
    """Refuse what would not survive a JSON round trip, or that the database cannot store.

    Walks the value without recursion, so a value nested deeper than Python's
    recursion limit gets this error too: non-string dict keys (``{1: "a"}``
    would come back as ``{"1": "a"}``), NaN and infinity, NUL characters,
    types JSON does not have, and nesting beyond ``max_nesting`` (the
    ``MAX_NESTING`` setting, which callers pass: this module reads no settings).
    """
    if size_bound(value, max_nesting) is None:
        _find_problem(field, value, max_nesting)


def size_bound(value: Any, max_nesting: int) -> int | None:
    """An upper bound of ``len(json.dumps(value))``, or None if :func:`payload` would refuse it.

    The fast path of every enqueue: exact types only, no error text. Anything
    unusual (a subclass, a problem) returns None and takes the slow path
    that finds the problem and names it. A character takes at most 12 bytes
    of JSON (a surrogate pair as two ``\\uXXXX`` escapes).
    """
    total = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str:
            if "\x00" in item:
                return None
            total += 12 * len(item) + 2
        elif item is None or kind is bool:
            total += 5
        elif kind is int:
            if not -(2**64) < item < 2**64:
                return None  # let json.dumps decide about huge numbers
            total += 21
        elif kind is float:
            if item - item != 0:  # NaN or infinity
                return None
            total += 24
        elif kind is list or kind is tuple or kind is dict:
            if depth >= max_nesting:
                return None
            total += 2 + 2 * len(item)
            if kind is dict:
                for key, child in item.items():
                    if type(key) is not str or "\x00" in key:
                        return None
                    total += 12 * len(key) + 4
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        else:
            return None
    return total


def _find_problem(field: str, value: Any, max_nesting: int) -> None:
    """Raise the error :func:`payload` names for ``value``, walking it with paths."""
    stack: list[tuple[Any, int, str]] = [(value, 0, field)]
    while stack:
        item, depth, path = stack.pop()
        if item is None or isinstance(item, bool | int):
            continue
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidValue(
                    path, f"{show(item)} contains a NUL character, which the database cannot store"
                )
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidValue(path, f"{item} is not a JSON number")
        elif isinstance(item, dict | list | tuple):
            if depth >= max_nesting:
                raise TooDeep(field, f"is nested more than {max_nesting} levels deep (MAX_NESTING)")
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise InvalidType(
                            path,
                            f"dict key {show(key)} is not a string and would not survive a JSON round trip",
                        )
                    if "\x00" in key:
                        raise InvalidValue(path, f"dict key {show(key)} contains a NUL character")
                    stack.append((child, depth + 1, f"{path}[{key!r:.40}]"))
            else:
                stack.extend((child, depth + 1, f"{path}[{i}]") for i, child in enumerate(item))
        else:
            raise InvalidType(path, f"{type(item).__name__} {show(item)} is not JSON-serialisable")


def dumps(
    field: str,
    value: Any,
    *,
    max_nesting: int,
    max_bytes: int | None = None,
    setting: str = "MAX_RESULT_BYTES",
) -> str:
    """``value`` as JSON, after :func:`payload`; refused over ``max_bytes`` UTF-8 bytes (``setting``)."""
    payload(field, value, max_nesting=max_nesting)
    try:
        encoded = json.dumps(value, allow_nan=False)
    except ValueError as exc:  # e.g. an int with more digits than Python converts
        raise InvalidValue(field, f"cannot be written as JSON: {exc}") from None
    if max_bytes is not None:
        size = len(encoded.encode())
        if size > max_bytes:
            raise InvalidValue(
                field, f"is {size:,} bytes of JSON, over the limit of {max_bytes:,} ({setting})"
            )
    return encoded


def truncate_text(value: str, limit: int) -> str:
    """``value`` cut to at most ``limit`` characters around a marker saying how much went.

    Keeps the start (the error's type and message) and the end (the
    innermost frames of a traceback).
    """
    if len(value) <= limit:
        return value
    marker = f"\n[… {len(value) - limit:,} characters cut …]\n"
    head = max(limit // 4 - len(marker), 0)
    tail = max(limit - head - len(marker), 0)
    return value[:head] + marker + (value[-tail:] if tail else "")
