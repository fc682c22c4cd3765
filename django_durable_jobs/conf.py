"""Settings: one ``DURABLE_JOBS`` dict over typed defaults, read lazily.

``jobs_settings.LEASE_SECONDS`` reads ``settings.DURABLE_JOBS`` the first time
it is needed and is reset on ``setting_changed``, so ``override_settings``
works in tests. A bad value (an unknown key, a wrong type, a number out of
its range, see ``_RANGES``) is an ``ImproperlyConfigured`` error on first use,
and a system check error ``durable_jobs.E001``… that ``manage.py check``,
``runserver``, ``migrate`` and ``runjobs`` report with a hint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .limits import RateLimit
from .statuses import TERMINAL
from .validation import queue_name

#: How long finished jobs are kept by default, per status (``None``: forever).
DEFAULT_RETENTION: dict[str, timedelta | None] = {
    "completed": timedelta(days=7),
    "failed": timedelta(days=30),
    "cancelled": timedelta(days=30),
}


@dataclass(frozen=True)
class JobsSettings:
    #: Queue used when a job does not name one.
    DEFAULT_QUEUE: str = "default"
    #: Extra attempts after the first when a job does not say.
    DEFAULT_RETRIES: int = 0
    #: Backoff before retry n is ``min(BASE * 2**(n-1), MAX)`` seconds, plus jitter.
    BACKOFF_BASE: float = 1.0
    BACKOFF_MAX: float = 3600.0
    #: Fraction of the delay added or removed at random (0 disables jitter).
    BACKOFF_JITTER: float = 0.25
    #: A running job's lease; a dead worker's jobs are reclaimed after it expires.
    LEASE_SECONDS: float = 30.0
    #: How often a worker renews its leases and its registry row.
    HEARTBEAT_SECONDS: float = 5.0
    #: A job whose worker died this many times is failed instead of run again.
    MAX_RECLAIMS: int = 5
    #: How often a worker looks for expired leases of dead workers.
    RECLAIM_SECONDS: float = 5.0
    #: Poll interval when no notification wakes the worker (and on SQLite).
    POLL_SECONDS: float = 1.0
    #: How often a worker re-reads control state (pauses) when not notified.
    CONTROL_POLL_SECONDS: float = 0.5
    #: Default thread-pool size of ``runjobs``.
    CONCURRENCY: int = 8
    #: Jobs a worker may claim beyond its free slots (released on pause/stop).
    PREFETCH: int = 96
    #: Seconds SIGTERM/SIGINT waits for running jobs before releasing them.
    SHUTDOWN_GRACE_SECONDS: float = 30.0
    #: Seconds an interrupted handler (cancel, aggressive pause) may take to stop
    #: before its thread is abandoned and its slot given to the next job.
    INTERRUPT_GRACE_SECONDS: float = 5.0
    #: A worker with more abandoned threads than this restarts itself.
    MAX_ABANDONED_THREADS: int = 8
    #: Group commit: flush finished jobs after this many, or this many seconds.
    COMMIT_BATCH: int = 200
    COMMIT_INTERVAL: float = 0.002
    #: A worker whose heartbeat is older than this is shown as dead.
    WORKER_DEAD_SECONDS: float = 60.0
    #: Database alias the job tables live in.
    DATABASE: str = "default"
    #: Alias in ``DATABASES`` whose connection parameters the worker's dedicated
    #: LISTEN connection uses: a direct connection to the job database, needed
    #: when ``DATABASE`` goes through PgBouncer in transaction mode (which loses
    #: notifications). ``""`` (the default): ``DATABASE``'s own parameters.
    #: ``None``: no LISTEN; the worker polls every ``POLL_SECONDS`` and says so.
    LISTEN_DATABASE: str | None = ""
    #: Per-queue options: ``{"emails": {"rate_limit": "50/s", "retention": {"completed": 3600}}}``
    #: (a job's own ``rate_limit`` replaces its queue's; a queue's ``retention``
    #: replaces ``RETENTION`` for the statuses it names).
    QUEUES: dict = field(default_factory=dict)
    #: How long finished jobs are kept, per status: a timedelta, a number of
    #: seconds, or None to keep them forever. Statuses left out keep their
    #: default (``DEFAULT_RETENTION``). Workers prune what has expired.
    RETENTION: dict = field(default_factory=lambda: dict(DEFAULT_RETENTION))
    #: How often a worker looks for expired finished jobs to prune.
    PRUNE_SECONDS: float = 60.0
    #: Seconds an execution may run before it is interrupted and fails (None: no limit).
    DEFAULT_TIMEOUT: float | None = None
    #: A job that snoozes more often than this fails (it would wait forever).
    MAX_SNOOZES: int = 100
    #: Largest job arguments (args and kwargs as JSON, in bytes), checked at enqueue.
    MAX_ARGS_BYTES: int = 1024 * 1024
    #: Deepest nesting of lists and dicts in arguments and results.
    MAX_NESTING: int = 64
    #: A larger result is stored as a truncated preview with a marker.
    MAX_RESULT_BYTES: int = 1024 * 1024
    #: A longer error text (message and traceback) is stored cut in the middle.
    MAX_ERROR_CHARS: int = 64 * 1024
    #: Per-minute statistics (``JobStat``) written with each outcome batch, and queue depth samples.
    STATS: bool = True
    #: How long statistics are kept: a timedelta or seconds (None: forever).
    STATS_RETENTION: timedelta | float | None = timedelta(days=14)
    #: A secret that may read ``/metrics`` as ``Authorization: Bearer <token>`` (None: logged-in users).
    METRICS_TOKEN: str | None = None


#: Seconds settings are capped at a year: longer would overflow a datetime somewhere.
_YEAR = 366 * 24 * 3600.0
#: (low, high) of each number; a float's bounds are inclusive, and it must be finite.
_RANGES: dict[str, tuple[float, float]] = {
    "DEFAULT_RETRIES": (0, 2**31 - 1),
    "BACKOFF_BASE": (0, _YEAR),
    "BACKOFF_MAX": (0, _YEAR),
    "BACKOFF_JITTER": (0, 1),
    "LEASE_SECONDS": (0.1, _YEAR),
    "HEARTBEAT_SECONDS": (0.01, _YEAR),
    "MAX_RECLAIMS": (0, 2**31 - 1),
    "RECLAIM_SECONDS": (0.01, _YEAR),
    "POLL_SECONDS": (0.01, _YEAR),
    "CONTROL_POLL_SECONDS": (0.01, _YEAR),
    "CONCURRENCY": (1, 1000),
    "PREFETCH": (0, 10_000),
    "SHUTDOWN_GRACE_SECONDS": (0, _YEAR),
    "INTERRUPT_GRACE_SECONDS": (0, _YEAR),
    "MAX_ABANDONED_THREADS": (0, 1000),
    "COMMIT_BATCH": (1, 100_000),
    "COMMIT_INTERVAL": (0, 10),
    "WORKER_DEAD_SECONDS": (0.01, _YEAR),
    "PRUNE_SECONDS": (0.1, _YEAR),
    "MAX_ARGS_BYTES": (1, 2**30),
    "MAX_SNOOZES": (0, 2**31 - 1),
    "DEFAULT_TIMEOUT": (0.01, _YEAR),
    "MAX_NESTING": (1, 200),
    "MAX_RESULT_BYTES": (1024, 2**30),
    "MAX_ERROR_CHARS": (1000, 2**24),
}


@dataclass(frozen=True)
class Problem:
    """One bad ``DURABLE_JOBS`` value: what ``manage.py check`` reports."""

    id: str
    msg: str
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.msg} {self.hint}".strip()


def problems(user: Any = None) -> list[Problem]:
    """Every problem of ``settings.DURABLE_JOBS`` (or ``user``), as the system checks report them."""
    if user is None:
        user = getattr(settings, "DURABLE_JOBS", {}) or {}
    if not isinstance(user, dict):
        return [Problem("durable_jobs.E001", f"DURABLE_JOBS must be a dict, not {type(user).__name__}.")]
    known = {f.name: f for f in fields(JobsSettings)}
    found = []
    unknown = sorted(set(user) - set(known))
    if unknown:
        found.append(
            Problem(
                "durable_jobs.E002",
                f"Unknown DURABLE_JOBS key(s): {', '.join(map(repr, unknown))}.",
                f"Known keys: {', '.join(sorted(known))}.",
            )
        )
    for key, value in user.items():
        if key in known and (problem := _value_problem(key, value, known[key].type)):
            found.append(problem)
    queue = user.get("DEFAULT_QUEUE", JobsSettings.DEFAULT_QUEUE)
    if isinstance(queue, str):
        try:
            queue_name(queue, "DURABLE_JOBS['DEFAULT_QUEUE']")
        except ValueError as exc:
            found.append(Problem("durable_jobs.E008", f"{exc}.", "Use a name like 'default' or 'emails'."))
    database = user.get("DATABASE", JobsSettings.DATABASE)
    if isinstance(database, str) and database not in settings.DATABASES:
        found.append(
            Problem(
                "durable_jobs.E009",
                f"DURABLE_JOBS['DATABASE'] is {database!r}, which is not an alias in DATABASES.",
                f"Use one of: {', '.join(map(repr, settings.DATABASES))}.",
            )
        )
    listen = user.get("LISTEN_DATABASE", JobsSettings.LISTEN_DATABASE)
    if isinstance(listen, str) and listen and listen not in settings.DATABASES:
        found.append(
            Problem(
                "durable_jobs.E011",
                f"DURABLE_JOBS['LISTEN_DATABASE'] is {listen!r}, which is not an alias in DATABASES.",
                "Name a direct (not pooled) connection to the job database, '' for DATABASE's own, "
                f"or None to poll. Aliases: {', '.join(map(repr, settings.DATABASES))}.",
            )
        )
    if found:
        return found  # the relations below need every value to be sound
    loaded = JobsSettings(**user)
    if loaded.LEASE_SECONDS <= 2 * loaded.HEARTBEAT_SECONDS:
        found.append(
            Problem(
                "durable_jobs.E006",
                f"DURABLE_JOBS['LEASE_SECONDS'] ({loaded.LEASE_SECONDS}) must be longer than two "
                f"heartbeats (HEARTBEAT_SECONDS = {loaded.HEARTBEAT_SECONDS}).",
                "Otherwise one late heartbeat loses a live job's lease and the job runs twice.",
            )
        )
    if loaded.WORKER_DEAD_SECONDS <= 2 * loaded.HEARTBEAT_SECONDS:
        found.append(
            Problem(
                "durable_jobs.E007",
                f"DURABLE_JOBS['WORKER_DEAD_SECONDS'] ({loaded.WORKER_DEAD_SECONDS}) must be longer than "
                f"two heartbeats (HEARTBEAT_SECONDS = {loaded.HEARTBEAT_SECONDS}).",
                "Otherwise live workers are shown as dead between two heartbeats.",
            )
        )
    return found


def _value_problem(key: str, value: Any, expected: str) -> Problem | None:
    name = f"DURABLE_JOBS[{key!r}]"
    if value is None and expected == "float | None":
        return None
    if key == "QUEUES":
        return _queues_problem(value)
    if key == "STATS":
        bad = not isinstance(value, bool)
        return Problem("durable_jobs.E003", f"{name} must be True or False, not {value!r}.") if bad else None
    if key == "STATS_RETENTION":
        message = period_problem(value, name, "statistics")
        hint = "A timedelta, a number of seconds, or None to keep statistics forever."
        return Problem("durable_jobs.E014", message, hint) if message else None
    if key == "METRICS_TOKEN" and value is not None and (not isinstance(value, str) or len(value) < 16):
        hint = "Generate one: python -c 'import secrets; print(secrets.token_urlsafe(32))'."
        return Problem("durable_jobs.E015", f"{name} must be None or a string of at least 16 chars.", hint)
    if key == "RETENTION":
        message = retention_problem(value, name)
        return Problem("durable_jobs.E013", message, _RETENTION_HINT) if message else None
    if expected == "str":
        if not isinstance(value, str):
            return Problem("durable_jobs.E003", f"{name} must be a string, not {value!r}.")
        return None
    if expected == "str | None":
        if value is not None and not isinstance(value, str):
            return Problem("durable_jobs.E003", f"{name} must be a string or None, not {value!r}.")
        return None
    if expected == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return Problem(
            "durable_jobs.E003", f"{name} must be an integer, not {value!r}.", "Write it without a point."
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Problem("durable_jobs.E003", f"{name} must be a number, not {value!r}.")
    if not math.isfinite(value):
        return Problem("durable_jobs.E004", f"{name} must be a finite number, not {value!r}.")
    low, high = _RANGES[key]
    if not low <= value <= high:
        return Problem(
            "durable_jobs.E005",
            f"{name} is {value!r}, outside {_number(low)}..{_number(high)}.",
            _HINTS.get(key, ""),
        )
    return None


def _queues_problem(value: Any) -> Problem | None:
    """``QUEUES``: queue name -> options: ``rate_limit`` and ``retention``."""
    hint = 'For example {"emails": {"rate_limit": "50/s", "retention": {"completed": 86400}}}.'
    if not isinstance(value, dict):
        return Problem("durable_jobs.E012", f"DURABLE_JOBS['QUEUES'] must be a dict, not {value!r}.", hint)
    for queue, options in value.items():
        try:
            queue_name(queue, "DURABLE_JOBS['QUEUES'] key")
            if not isinstance(options, dict) or set(options) - {"rate_limit", "retention"}:
                raise ValueError(
                    f"DURABLE_JOBS['QUEUES'][{queue!r}]: {options!r} "
                    "may only set 'rate_limit' and 'retention'"
                )
            if options.get("rate_limit") is not None:
                RateLimit(options["rate_limit"]).parsed()
        except ValueError as exc:
            return Problem("durable_jobs.E012", f"{exc}.", hint)
        if "retention" in options:
            message = retention_problem(
                options["retention"], f"DURABLE_JOBS['QUEUES'][{queue!r}]['retention']"
            )
            if message:
                return Problem("durable_jobs.E013", message, _RETENTION_HINT)
    return None


_RETENTION_HINT = (
    'For example {"completed": timedelta(days=7), "failed": 86400, "cancelled": None}: '
    "a timedelta, a number of seconds, or None to keep jobs in that status forever."
)


def retention_problem(value: Any, name: str) -> str:
    """What is wrong with a ``RETENTION`` dict (``""``: nothing)."""
    if not isinstance(value, dict):
        return f"{name} must be a dict of status -> period, not {value!r}."
    unknown = sorted(map(repr, set(value) - set(TERMINAL)))
    if unknown:
        known = ", ".join(repr(str(s)) for s in TERMINAL)
        return f"{name} names unknown status(es) {', '.join(unknown)}: only {known} are pruned."
    for status, period in value.items():
        if message := period_problem(period, f"{name}[{status!r}]"):
            return message
    return ""


def period_problem(period: Any, where: str, what: str = "jobs") -> str:
    """What is wrong with a period to keep ``what`` (``""``: nothing; None is forever)."""
    if period is not None:
        if isinstance(period, bool) or not isinstance(period, timedelta | int | float):
            return f"{where} must be a timedelta, a number of seconds or None, not {period!r}."
        if not isinstance(period, timedelta) and not math.isfinite(period):
            return f"{where} must be a finite number of seconds, not {period!r}."
        seconds = period.total_seconds() if isinstance(period, timedelta) else period
        if seconds < 0:
            return f"{where} is negative ({period!r}): a period to keep {what} must be 0 or more."
        if seconds > _MAX_RETENTION:
            return f"{where} ({period!r}) is longer than 1,000 years: use None to keep {what} forever."
    return ""


#: Longer would overflow a datetime when subtracted from now.
_MAX_RETENTION = 1000 * 366 * 24 * 3600.0


def retention_period(period: timedelta | float | None) -> timedelta | None:
    """A checked ``RETENTION`` value as a timedelta (``None``: keep forever)."""
    if period is None or isinstance(period, timedelta):
        return period
    return timedelta(seconds=period)


def _number(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


_HINTS = {
    "CONCURRENCY": "A worker runs this many threads; start more runjobs processes for more.",
    "POLL_SECONDS": "A shorter interval makes an idle worker spin; notifications wake it sooner anyway.",
    "CONTROL_POLL_SECONDS": "A shorter interval makes an idle worker spin.",
}


def _load() -> JobsSettings:
    found = problems()
    if found:
        raise ImproperlyConfigured(" ".join(f"{p} ({p.id})" for p in found))
    return JobsSettings(**getattr(settings, "DURABLE_JOBS", {}) or {})


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The system check (``manage.py check``, ``runserver``, ``migrate``, ``runjobs``)."""
    return [checks.Error(p.msg, hint=p.hint or None, id=p.id) for p in problems()]


class _LazySettings:
    _cached: JobsSettings | None = None

    def __getattr__(self, name: str) -> Any:
        if self._cached is None:
            self._cached = _load()
        return getattr(self._cached, name)

    def reload(self) -> None:
        self._cached = None


jobs_settings = _LazySettings()


def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == "DURABLE_JOBS":
        jobs_settings.reload()


setting_changed.connect(_reset)
