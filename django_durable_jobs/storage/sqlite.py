"""The SQLite engine: one writer at a time, this process's clock, no notifications.

Internal module. ``BEGIN IMMEDIATE`` (set up by :func:`configure`) takes the
write lock when a transaction starts, so the claim and every other
read-then-write transaction are serialised: no row locks are needed, and one
worker process with many threads is correct. Workers poll.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connections
from django.utils import timezone

from .base import Engine
from .sql import placeholders

#: Set on the job database's SQLite connection unless the project chose
#: otherwise: WAL lets readers run beside the one writer, the busy timeout
#: makes writers queue instead of failing with "database is locked".
PRAGMAS = "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=30000"


class SQLiteEngine(Engine):
    vendor = "sqlite"
    #: Ids one holding statement names at most: SQLite caps the parameters of a statement.
    HOLD_BATCH = 500

    def now(self) -> tuple[str, list[Any]]:
        return "%s", [self.adapt(timezone.now())]

    def seconds_ago(self, column: str) -> str:
        """Django stores SQLite datetimes as UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``: so this.

        ``%%``: the statement goes through parameter substitution.
        """
        return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-' || ({column}) || ' seconds')"

    def seconds_since(self, column: str) -> str:
        return f"(julianday('now') - julianday({column})) * 86400.0"

    def now_plus(self, seconds: float) -> tuple[str, list[Any]]:
        return "%s", [self.adapt(timezone.now() + timedelta(seconds=seconds))]

    greatest = "MAX"

    def timed_jobs_sql(self, job_ids: list[int]) -> tuple[str, list[Any]]:
        """No lock needed (the transaction holds the database's); no clock: the minute is NULL."""
        return (
            "SELECT id, name, queue, "
            "(julianday(started_at) - julianday(MAX(created_at, run_after))) * 86400.0, "
            f"(julianday(%s) - julianday(started_at)) * 86400.0, NULL FROM {self.tables['job']} "
            f"WHERE id IN ({placeholders(job_ids)})",
            [self.adapt(timezone.now()), *job_ids],
        )

    def merge_buckets(self, column: str) -> str:
        return (
            "(SELECT json_group_array(v) FROM (SELECT COALESCE(o.value, 0) + n.value AS v "
            f"FROM json_each(excluded.{column}) AS n LEFT JOIN json_each(s.{column}) AS o ON o.key = n.key "
            "ORDER BY n.key))"
        )


def configure(alias: str) -> None:
    """Make the SQLite database ``alias`` safe for a worker with several threads.

    Only the options the project left unset are filled in.
    """
    settings_dict = connections.settings[alias]
    if settings_dict.get("ENGINE") != "django.db.backends.sqlite3":
        return
    options = settings_dict.setdefault("OPTIONS", {})
    options.setdefault("transaction_mode", "IMMEDIATE")
    options.setdefault("timeout", 30)
    options.setdefault("init_command", PRAGMAS)
