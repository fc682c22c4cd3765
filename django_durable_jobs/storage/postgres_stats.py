"""The PostgreSQL side of the per-minute statistics (internal; see ``storage.stats``).

A batch of nothing but completions is counted by the statement that
completes it, through :data:`COUNT_COMPLETED`, a PL/pgSQL function the
migrations create; other batches are counted in Python from the timings
:meth:`PostgresStats.lock_jobs_timed` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from django.utils import timezone

from ..stats import RUN_BUCKETS, WAIT_BUCKETS, minute_of
from .stats import SUMMED, Timings

#: The function that counts a batch of completions (see ``count_completed_function``).
COUNT_COMPLETED = "durable_jobs_count_completed"
#: Its signature, as ``to_regprocedure`` and ``DROP FUNCTION`` name it.
COUNT_COMPLETED_SIGNATURE = f"{COUNT_COMPLETED}(text[], text[], float8[], float8[])"


class PostgresStats:
    """Statistics members of :class:`~.postgres.PostgresEngine` (which defines the others used here)."""

    tables: dict[str, str]
    cursor: Any
    upserting: Any
    function_exists: Any
    _complete_sql: Any

    json_param = "%s::jsonb"
    casts = {
        "minute": "::timestamptz",
        **dict.fromkeys(("queue", "name"), "::text"),
        **dict.fromkeys(SUMMED, "::integer"),
        **dict.fromkeys(("run_seconds_sum", "wait_seconds_sum", "run_seconds_max"), "::float8"),
        **dict.fromkeys(("wait_buckets", "run_buckets"), "::jsonb"),
    }

    @cached_property
    def counts_completions(self) -> bool:  # type: ignore[override]
        """Whether :data:`COUNT_COMPLETED` exists; asked once per process.

        Code deployed before its migrations ran counts in Python, as before,
        rather than failing every batch of completions.
        """
        return self.function_exists(COUNT_COMPLETED_SIGNATURE)

    def lock_jobs_timed(self, job_ids: list[int]) -> tuple[datetime, Timings]:
        """The times computed by the server, on its clock: the minute is that of its ``now()``."""
        rows: list[tuple] = []
        if job_ids:
            with self.cursor() as cursor:
                cursor.execute(
                    "SELECT id, name, queue, "
                    "EXTRACT(EPOCH FROM started_at - GREATEST(created_at, run_after))::float8, "
                    "EXTRACT(EPOCH FROM now() - started_at)::float8, "
                    "EXTRACT(EPOCH FROM date_trunc('minute', now()))::float8 "  # a float per row loads faster
                    f"FROM {self.tables['job']} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
                    [sorted(job_ids)],
                )
                rows = cursor.fetchall()
        minute = datetime.fromtimestamp(rows[0][5], UTC) if rows else minute_of(timezone.now())
        return minute, {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}

    def complete_many_counted(self, items: list[tuple[int, str, Any]]) -> set[int]:
        """The completions and their rollups in one statement: no timings read, nothing counted in Python.

        The completing ``UPDATE`` returns each owned job's queue, name, wait
        and run time, and :data:`COUNT_COMPLETED` (a function the migrations
        create) adds them up and upserts the rollups. Only the jobs still
        owned are counted, as ``state.stats`` would count them.
        """
        # A claimed job has its started_at: neither time is NULL (GREATEST would make it 0).
        wait = "EXTRACT(EPOCH FROM j.started_at - GREATEST(j.created_at, j.run_after))::float8"
        run = "EXTRACT(EPOCH FROM j.finished_at - j.started_at)::float8"
        update, params = self._complete_sql(
            items, returning=f"j.id, j.queue, j.name, GREATEST({wait}, 0) AS wait, GREATEST({run}, 0) AS run"
        )
        sql = (
            f"WITH done AS ({update}), counted AS (SELECT {COUNT_COMPLETED}"
            "(array_agg(queue), array_agg(name), array_agg(wait), array_agg(run)) FROM done) "
            "SELECT id FROM done, counted"
        )
        with self.cursor() as cursor:
            cursor.execute(sql, params)
            return {row[0] for row in cursor.fetchall()}

    def count_completed_function(self) -> str:
        """``CREATE FUNCTION`` of :data:`COUNT_COMPLETED`: upsert the rollups of completions, given as arrays.

        Each array holds one value per completion: queue, job name, wait and
        run time (seconds, >= 0). The rollups go in the minute of the
        transaction's start, as ``lock_jobs_timed`` counts them, and a time
        lands in the bucket ``Rollup.observe`` would put it in. A PL/pgSQL
        function because its statement is planned once per connection:
        planned with each batch, the aggregation and the element-wise merge
        of the bucket lists took longer than running them. It keeps no
        session state, so it works through PgBouncer in transaction mode.
        The migrations create it; ``tests/db/test_stats.py`` checks that it
        counts as Python does.
        """
        counts = ", ".join(["count(*)", *["0"] * 5])
        source = f"""SELECT date_trunc('minute', now()), queue, name, {counts},
                   count(run), COALESCE(sum(run), 0), count(wait), COALESCE(sum(wait), 0),
                   COALESCE(max(run), 0), {_counts("wait_bucket", WAIT_BUCKETS)},
                   {_counts("run_bucket", RUN_BUCKETS)}
            FROM (SELECT u.*, {_bucket("wait", WAIT_BUCKETS)} AS wait_bucket,
                         {_bucket("run", RUN_BUCKETS)} AS run_bucket
                  FROM unnest(queues, names, waits, runs) AS u(queue, name, wait, run) OFFSET 0) AS d
            GROUP BY queue, name ORDER BY queue, name"""
        return f"""CREATE OR REPLACE FUNCTION {COUNT_COMPLETED}(
                queues text[], names text[], waits float8[], runs float8[]) RETURNS integer
            LANGUAGE plpgsql AS $$
            DECLARE
                added integer;
            BEGIN
                {self.upserting(source)};
                GET DIAGNOSTICS added = ROW_COUNT;
                RETURN added;
            END
            $$"""


def _bucket(column: str, bounds: Sequence[float]) -> str:
    """SQL: the bucket ``Rollup.observe`` counts ``column`` in, the number of bounds below it.

    ``width_bucket`` counts the bounds at or below its operand, so it is
    given the negated value and the negated bounds, ascending.
    """
    negated = ", ".join(repr(-b) for b in reversed(bounds))
    return f"{len(bounds)} - width_bucket(-{column}, ARRAY[{negated}]::float8[])"


def _counts(column: str, bounds: Sequence[float]) -> str:
    """SQL: the JSON list of how many rows of a group have each bucket index in ``column``."""
    counts = (f"count(*) FILTER (WHERE {column} = {i})" for i in range(len(bounds) + 1))
    return f"jsonb_build_array({', '.join(counts)})"
