"""Fleet-wide concurrency limits: ``@job(concurrency=3)`` or ``Limit(1, key="customer:{customer_id}")``.

A limit is checked when a job is claimed, across every worker: jobs with the
same key never run more than ``n`` at once. The key is formatted from the
job's arguments (defaults included), so one key per customer, tenant or
account; without ``key`` the limit holds for every job of that name.
"""

from __future__ import annotations

import inspect
import re
import string
from dataclasses import dataclass
from typing import Any

from . import validation
from .exceptions import InvalidValue


@dataclass(frozen=True)
class Limit:
    """At most ``n`` jobs with the same ``key`` (a format string over the job's arguments) at once."""

    n: int
    key: str | None = None

    def __post_init__(self) -> None:
        validation.integer("concurrency", self.n, 1, validation.INT32[1])
        if self.key is not None:
            validation.text(
                "concurrency key", self.key, max_length=validation.UNIQUE_KEY_LENGTH, required=True
            )

    def fields(self) -> list[str]:
        """The argument names the key uses."""
        if self.key is None:
            return []
        try:
            return [name for _, name, _, _ in string.Formatter().parse(self.key) if name is not None]
        except ValueError as exc:
            raise InvalidValue("concurrency key", f"{self.key!r} is not a format string: {exc}") from None

    def check(self, job_name: str, signature: inspect.Signature) -> None:
        """At definition time: every name the key uses is a parameter of the job."""
        for name in self.fields():
            if not name or name.split(".")[0].split("[")[0] not in signature.parameters:
                raise InvalidValue(
                    "concurrency key",
                    f"{self.key!r} uses {{{name}}}, which is not an argument of job {job_name!r}",
                )

    def key_for(self, job_name: str, signature: inspect.Signature, args: Any, kwargs: Any) -> str:
        """The stored key of one call: the job's name, then the formatted key if any."""
        if self.key is None:
            return job_name
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        formatted = self.key.format(**bound.arguments)
        return validation.text(
            "concurrency key", f"{job_name}|{formatted}", max_length=validation.UNIQUE_KEY_LENGTH
        )


def as_limit(concurrency: int | Limit | None) -> Limit | None:
    """``@job(concurrency=...)``: a number is a limit for every job of that name."""
    if concurrency is None or isinstance(concurrency, Limit):
        return concurrency
    return Limit(concurrency)


_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_RATE = re.compile(r"^(\d{1,10})\s*/\s*(\d+(?:\.\d+)?)?\s*(sec|min|s|m|h|d)$")


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` starts per ``period`` seconds per key, fleet-wide: ``RateLimit("10/s")``.

    ``rate`` is ``"N/s"``, ``"N/m"``, ``"N/h"``, ``"N/d"`` or ``"N/Xs"`` (e.g. ``"5/10s"``).
    ``key`` is formatted from the job's arguments like a :class:`Limit`'s.
    """

    rate: str
    key: str | None = None

    def __post_init__(self) -> None:
        self.parsed()  # refuse a bad rate where it is written
        Limit(1, self.key)  # the same key rules

    def parsed(self) -> tuple[int, float]:
        """``(count, period in seconds)``."""
        match = _RATE.match(str(self.rate).strip())
        scale = float(match.group(2) or 1) if match else 0.0
        if not match or int(match.group(1)) < 1 or not 0 < scale <= 1e6:
            raise InvalidValue("rate_limit", f"{self.rate!r} is not a rate like '100/m', '10/s' or '5/10s'")
        permits = validation.integer("rate_limit", int(match.group(1)), 1, validation.INT32[1])
        return permits, scale * _UNITS[match.group(3)]

    def key_for(self, job_name: str, signature: inspect.Signature, args: Any, kwargs: Any) -> str:
        return Limit(1, self.key).key_for(job_name, signature, args, kwargs)


def as_rate_limit(rate_limit: str | RateLimit | None) -> RateLimit | None:
    """``@job(rate_limit="100/m")``: a string is one rate for every job of that name."""
    if rate_limit is None or isinstance(rate_limit, RateLimit):
        return rate_limit
    return RateLimit(rate_limit)
