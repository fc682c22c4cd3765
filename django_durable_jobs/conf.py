"""Settings: one ``DURABLE_JOBS`` dict over typed defaults, read lazily.

``jobs_settings.LEASE_SECONDS`` reads ``settings.DURABLE_JOBS`` the first time
it is needed and is reset on ``setting_changed``, so ``override_settings``
works in tests. An unknown key is an ``ImproperlyConfigured`` error.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed


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
    PREFETCH: int = 32
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


_INTS = {
    "DEFAULT_RETRIES",
    "CONCURRENCY",
    "PREFETCH",
    "COMMIT_BATCH",
    "MAX_RECLAIMS",
    "MAX_ABANDONED_THREADS",
}


def _load() -> JobsSettings:
    user: Any = getattr(settings, "DURABLE_JOBS", {}) or {}
    if not isinstance(user, dict):
        raise ImproperlyConfigured("DURABLE_JOBS must be a dict.")
    known = {f.name: f for f in fields(JobsSettings)}
    unknown = sorted(set(user) - set(known))
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown DURABLE_JOBS key(s): {', '.join(unknown)}. Known keys: {', '.join(sorted(known))}."
        )
    for key, value in user.items():
        expected = known[key].type
        if expected == "str" and not isinstance(value, str):
            raise ImproperlyConfigured(f"DURABLE_JOBS[{key!r}] must be a string, got {value!r}.")
        if expected in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ImproperlyConfigured(f"DURABLE_JOBS[{key!r}] must be a number, got {value!r}.")
            if key in _INTS and value != int(value):
                raise ImproperlyConfigured(f"DURABLE_JOBS[{key!r}] must be an integer.")
            if value < 0:
                raise ImproperlyConfigured(f"DURABLE_JOBS[{key!r}] must not be negative.")
    loaded = JobsSettings(**user)
    if loaded.HEARTBEAT_SECONDS >= loaded.LEASE_SECONDS:
        raise ImproperlyConfigured(
            "DURABLE_JOBS['HEARTBEAT_SECONDS'] must be shorter than LEASE_SECONDS, "
            "or live jobs would lose their lease."
        )
    return loaded


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
