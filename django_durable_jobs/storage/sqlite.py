"""The SQLite engine: one writer at a time, this process's clock, no notifications.

Internal module. ``BEGIN IMMEDIATE`` (set up by :func:`configure`) takes the
write lock when a transaction starts, so the claim and every other
read-then-write transaction are serialised: no row locks are needed, and one
worker process with many threads is correct. Workers poll.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connections
from django.utils import timezone

from ..stats import minute_of
from .base import Engine
from .metrics import read_moment
from .sql import placeholders
from .stats import Timings

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
    json_array = "json_array"

    def lock_jobs_timed(self, job_ids: list[int]) -> tuple[datetime, Timings]:
        """No lock needed (the transaction holds the database's); times on this process's clock.

        Computed here from the stored timestamps: ``julianday()`` differences
        are off by tens of microseconds, enough to move a time that sits on a
        bucket bound into the next bucket.
        """
        now = timezone.now()
        rows: list[tuple] = []
        if job_ids:
            with self.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, name, queue, started_at, created_at, run_after FROM {self.tables['job']} "
                    f"WHERE id IN ({placeholders(job_ids)})",
                    job_ids,
                )
                rows = cursor.fetchall()
        timings: Timings = {}
        for job_id, name, queue, *moments in rows:
            started, created, run_after = (read_moment(m) for m in moments)
            if started is None:
                timings[job_id] = (name, queue, None, None)
                continue
            ready = created if run_after is None else max(created, run_after)
            timings[job_id] = (
                name,
                queue,
                (started - ready).total_seconds(),
                (now - started).total_seconds(),
            )
        return minute_of(now), timings


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
