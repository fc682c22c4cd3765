"""Small helpers for the SQL the engines write by hand."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def placeholders(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def from_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value
