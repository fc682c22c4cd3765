"""Database connection health of the worker's threads (internal).

A database restart must cost a few failed ticks, never a dead worker: every
loop resets its connection after a ``DatabaseError`` and tries again.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connections

logger = logging.getLogger("django_durable_jobs.worker")


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


def reset_connection(using: str) -> None:
    """Close this thread's connection after an error; the next query reconnects."""
    try:
        connections[using].close()
    except DatabaseError:
        pass
