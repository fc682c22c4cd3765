"""Checks on names and values that users give, shared by every entry point."""

from __future__ import annotations

import json
import re
from typing import Any


def validate_queue_name(queue: object) -> str:
    if not isinstance(queue, str) or not queue or len(queue) > 100:
        raise ValueError(f"queue name must be a non-empty string of at most 100 characters, got {queue!r}")
    if ":" in queue or "," in queue or queue != queue.strip():
        raise ValueError(f"queue name {queue!r} may not contain ':' ',' or surrounding spaces")
    return queue


#: A NUL character as JSON writes it (``\u0000`` after an even run of backslashes).
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def check_json(job_name: str, what: str, value: Any) -> str:
    """Refuse a value that would not survive a JSON round trip, naming it; returns the JSON.

    A NUL character in a string is refused too: PostgreSQL's jsonb cannot
    store it, and the same value must behave the same on every database.
    """
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            f"{what} of job {job_name!r} is not JSON-serialisable: {exc} (value: {value!r:.100})"
        ) from None
    if "\\u0000" in text and _JSON_NUL.search(text):
        raise ValueError(
            f"{what} of job {job_name!r} contains a NUL character (\\x00), which the database "
            f"cannot store (value: {value!r:.100})"
        )
    return text
