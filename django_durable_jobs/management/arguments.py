"""Command-line values, checked by the validation layer.

The commands take their values as plain strings and check them here, so a
bad value ends the command with one line naming the problem and exit status
2 (:func:`refuse`), never a traceback or a usage dump.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.management.base import CommandError

from .. import validation
from ..exceptions import InvalidValue

_DURATION = re.compile(r"^(\d{1,12})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def refuse(exc: InvalidValue) -> CommandError:
    """The CommandError that reports ``exc`` on one line and exits with status 2."""
    return CommandError(str(exc), returncode=2)


def count(field: str, value: str, lo: int = 1, hi: int = 1000) -> int:
    """A whole number within ``lo..hi`` (slot counts: more than 1,000 threads per worker is a typo)."""
    value = value.strip()
    if not (value.isascii() and value.isdecimal()):
        raise InvalidValue(field, f"{validation.show(value)} is not a whole number")
    return validation.integer(field, int(value), lo, hi)


def choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise InvalidValue(field, f"{validation.show(value)} is not one of: {', '.join(choices)}")
    return value


def seconds(field: str, value: str, lo: float = 0.0, hi: float = 3600.0) -> float:
    """A number of seconds within ``lo..hi``, like ``5`` or ``0.5``."""
    try:
        number = float(value.strip())
    except ValueError:
        raise InvalidValue(field, f"{validation.show(value)} is not a number of seconds") from None
    if not lo <= number <= hi:  # also refuses nan
        raise InvalidValue(field, f"{value.strip()} s is outside {lo:g}..{hi:g} s")
    return number


def duration(field: str, value: str) -> timedelta:
    """``30s``, ``30m``, ``2h`` or ``1d``; zero is refused (a pause until now would not end)."""
    match = _DURATION.match(value.strip())
    if not match:
        raise InvalidValue(field, f"{validation.show(value)} is not a duration like 30s, 30m, 2h or 1d")
    amount = int(match.group(1))
    if amount == 0:
        raise InvalidValue(field, f"{value!r} is not a positive duration")
    try:
        return timedelta(**{_UNITS[match.group(2)]: amount})
    except OverflowError:
        raise InvalidValue(field, f"{value!r} is longer than a timedelta can hold") from None
