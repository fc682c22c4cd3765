"""Reads for ``/metrics`` that must not touch every finished job (internal).

:class:`Metrics` is a base of :class:`~.base.Engine`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from ..models import JobStatTotal
from ..stats import Rollup

#: The fields a :class:`Rollup` takes from a total (all of them but ``minute``).
TOTAL_FIELDS = [f.name for f in fields(Rollup) if f.name != "minute"]
#: (queue, {status: jobs}, oldest due ``run_after`` of its pending jobs or None)
QueueRow = tuple[str, dict[str, int], datetime | None]


class Metrics:
    """Metrics reads, for :class:`~.base.Engine` (which defines the members used here)."""

    alias: str
    tables: dict[str, str]
    cursor: Any
    now: Any
    atomic: Any
    vendor: str
    sum_stats: Any

    @contextmanager
    def metrics_reads(self) -> Iterator[None]:
        """One transaction for a scrape's reads; on PostgreSQL without JIT compilation.

        The planner's estimates for the per-queue subqueries and the rollup
        sums cross ``jit_above_cost`` although they run in milliseconds, and
        compiling them took longer (over 100 ms) than running them.
        """
        with self.atomic():
            if self.vendor == "postgresql":
                with self.cursor() as cursor:
                    cursor.execute("SET LOCAL jit = off")
            yield

    def queue_overview(self, statuses: Sequence[str]) -> list[QueueRow]:
        """Every queue name of the job table, with its jobs in ``statuses`` counted, in one statement.

        ``SELECT DISTINCT queue`` would read the whole ``(queue, status)``
        index, an entry per job, finished ones included; here a skip scan
        finds the names (a recursive query descends the index once per
        queue), and correlated subqueries count each (queue, status) range of
        the same index: a join would let the planner scan the table instead.
        """
        job = self.tables["job"]
        now, now_params = self.now()
        counts = ", ".join(
            f"(SELECT COUNT(*) FROM {job} j WHERE j.queue = q.queue AND j.status = %s)" for _ in statuses
        )
        with self.cursor() as cursor:
            cursor.execute(
                f"""WITH RECURSIVE queues(queue) AS (
                        SELECT MIN(queue) FROM {job}
                        UNION ALL
                        SELECT (SELECT MIN(queue) FROM {job} WHERE queue > queues.queue)
                        FROM queues WHERE queues.queue IS NOT NULL
                    )
                    SELECT q.queue, {counts},
                        (SELECT MIN(run_after) FROM {job} j
                         WHERE j.queue = q.queue AND j.status = 'pending' AND j.run_after <= {now})
                    FROM queues q WHERE q.queue IS NOT NULL ORDER BY q.queue""",
                [*statuses, *now_params],
            )
            return [
                (row[0], dict(zip(statuses, row[1:-1], strict=True)), read_moment(row[-1]))
                for row in cursor.fetchall()
            ]

    def finished_totals(self) -> list[Rollup]:
        """One :class:`Rollup` per (queue, name) since statistics began, in (queue, name) order.

        The :class:`~django_durable_jobs.models.JobStatTotal` rows plus the
        minutes after their ``through`` (the few not folded yet), which are
        read by the ``through`` the totals themselves carry: a fold
        committing between the two reads moves nothing in or out twice.
        Pruning deletes only folded minutes, so these never shrink.
        """
        found: dict[tuple[str, str], Rollup] = {}
        through: datetime | None = None
        for total in JobStatTotal.objects.using(self.alias).order_by():
            found[total.queue, total.name] = Rollup(**{f: getattr(total, f) for f in TOTAL_FIELDS})
            through = total.through if through is None else max(through, total.through)
        for minutes in self.sum_stats(through):
            found.setdefault((minutes.queue, minutes.name), Rollup(None, minutes.queue, minutes.name)).add(
                minutes
            )
        return [found[key] for key in sorted(found)]


def read_moment(value: Any) -> datetime | None:
    """A datetime read by a raw statement (SQLite gives Django's UTC, as text or a naive datetime)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    return parsed.replace(tzinfo=UTC) if parsed and parsed.tzinfo is None else parsed
