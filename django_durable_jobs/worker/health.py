"""Database connection health of the worker's threads (internal).

A database restart must cost a few failed ticks, never a dead worker and
never a job's attempt: every loop resets its connection after a
``DatabaseError`` and tries again with backoff (:class:`Outage`, one log line
per outage), and a handler thread starts each job on a connection that is
not known to be stale (:func:`fresh_connections`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connections

logger = logging.getLogger("django_durable_jobs.worker")

#: Longest wait between two tries of a loop while the database is away.
MAX_BACKOFF = 2.0


def tidy_connections() -> None:
    """After a job: drop connections a handler broke or left in a transaction.

    Unlike ``close_old_connections()`` this keeps healthy connections open
    whatever ``CONN_MAX_AGE`` says: a worker thread is not a request, and
    reconnecting per job would cost more than the job.
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        if conn.in_atomic_block or not conn.get_autocommit():
            logger.warning("a job left a transaction open on %r; closing it", conn.alias)
            conn.close()
        elif conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()


def reachable(using: str) -> bool:
    """Can this thread talk to the database ``using`` (after closing a connection that failed)?"""
    reset_connection(using)
    try:
        connections[using].ensure_connection()
    except DatabaseError:
        return False
    return True


def reset_connection(using: str) -> None:
    """Close this thread's connection after an error; the next query reconnects."""
    try:
        connections[using].close()
    except DatabaseError:
        pass


#: Bumped whenever a worker loop finds the database gone. A handler thread
#: that last ran on an older generation closes its connections before its
#: next job: they may point at a server session that no longer exists.
_generation = 0
_generation_lock = threading.Lock()
_local = threading.local()


def connections_failed() -> None:
    """Some connection of this process failed: every thread's connections are suspect."""
    global _generation
    with _generation_lock:
        _generation += 1


def close_thread_connections() -> None:
    """Close every database connection of this thread; the next query reconnects."""
    for conn in connections.all(initialized_only=True):
        try:
            conn.close()
        except DatabaseError:
            conn.connection = None  # already broken: just forget it


def fresh_connections() -> None:
    """Before a job: make sure this thread does not start it on a connection known to be stale."""
    if getattr(_local, "generation", 0) != _generation:
        close_thread_connections()
        _local.generation = _generation


#: SQLSTATEs of a session the server ended (admin shutdown, crash shutdown, cannot
#: connect now), besides class 08 (connection exception).
SESSION_ENDED = frozenset({"57P01", "57P02", "57P03"})


def is_connection_error(exc: BaseException) -> bool:
    """Did ``exc`` come from a lost database connection (rather than from the job's own query)?

    A restart or a terminated session surfaces as an ``OperationalError`` or
    ``InterfaceError`` after which this thread's connection is no longer
    usable; a failing query on a healthy connection is the job's own error.
    The server's own word (the SQLSTATE) is read first: when the error
    escaped a ``transaction.atomic()`` block, Django has already closed the
    connection whose rollback failed and opened a new one, so no broken
    connection is left to see.
    """
    chain = list(_chain(exc))
    if any(_session_ended(error) for error in chain):
        return True
    if any(isinstance(error, InterfaceError | OperationalError) for error in chain):
        return any(_broken(conn) for conn in connections.all(initialized_only=True))
    return False


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the errors it was raised from or while handling, each once."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        yield error
        seen.add(id(error))
        error = error.__cause__ or error.__context__


def _session_ended(error: BaseException) -> bool:
    state = getattr(error, "sqlstate", None)  # psycopg's errors carry the server's SQLSTATE
    return isinstance(state, str) and (state.startswith("08") or state in SESSION_ENDED)


def _broken(conn: Any) -> bool:
    raw = conn.connection
    if raw is None:
        return False
    if getattr(raw, "closed", False) or getattr(raw, "broken", False):  # psycopg knows already
        return True
    return not conn.is_usable()


class Outage:
    """Retries of one loop against a database that is away: backoff, and one log line per outage."""

    def __init__(self, what: str, using: str) -> None:
        self.what = what
        self.using = using
        self._since: float | None = None
        self._delay = 0.1

    def failed(self, exc: BaseException) -> float:
        """Note a failure (closing this thread's connection); returns the seconds to wait."""
        reset_connection(self.using)
        connections_failed()
        if self._since is None:
            self._since = time.monotonic()
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            logger.warning("%s: database unavailable (%s); waiting for the database", self.what, first_line)
        delay, self._delay = self._delay, min(self._delay * 2, MAX_BACKOFF)
        return delay

    def ok(self) -> None:
        """Note a success: an outage, if any, is over."""
        if self._since is not None:
            logger.warning("%s: database back after %.1f s", self.what, time.monotonic() - self._since)
            self._since, self._delay = None, 0.1
