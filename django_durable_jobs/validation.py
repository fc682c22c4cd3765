"""Checks on names and values that users give, shared by every entry point."""

from __future__ import annotations

import json
from typing import Any


def validate_queue_name(queue: object) -> str:
    if not isinstance(queue, str) or not queue or len(queue) > 100:
        raise ValueError(f"queue name must be a non-empty string of at most 100 characters, got {queue!r}")
    if ":" in queue or "," in queue or queue != queue.strip():
        raise ValueError(f"queue name {queue!r} may not contain ':' ',' or surrounding spaces")
    return queue


def check_json(job_name: str, what: str, value: Any) -> None:
    """Refuse a value that would not survive a JSON round trip, naming it."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            f"{what} of job {job_name!r} is not JSON-serialisable: {exc} (value: {value!r:.100})"
        ) from None
