"""The SQL of the per-minute statistics: execution times, rollup upserts, queue samples.

Internal module: :class:`Stats` is a base of :class:`~.base.Engine`; the
dialects fill in what they say differently (:meth:`Stats.lock_jobs_timed`,
:attr:`Stats.json_array`, :attr:`Stats.json_param`).

**Adding bucket lists.** The upsert adds a rollup's bucket counts to the
stored row's element-wise *in the statement* (``ON CONFLICT ... DO UPDATE``
building a JSON list of the sums of both lists' elements, index by index),
rather than reading the row under a lock, adding in Python and writing it
back: one round trip instead of three, and no window between the read and
the write. The conflicting row is locked
by the upsert itself until the transaction ends, so two writers adding to
the same minute are serialised and neither count is lost; rows are upserted
in (minute, queue, name) order, so writers never wait on each other in a
circle.

**Totals.** :meth:`Stats.fold_stats` adds the finished minutes to the
:class:`~django_durable_jobs.models.JobStatTotal` rows with the same
element-wise addition, outside the writer's transactions; the totals'
``through`` is the one watermark: a minute is folded once, when it passes
it, and :meth:`Stats.delete_stats_before` never deletes a minute after it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.utils import timezone

from ..models import JobStat, JobStatTotal, QueueSample
from ..stats import OUTCOMES, RUN_BUCKETS, SAMPLED, WAIT_BUCKETS, Rollup
from .metrics import read_moment

#: Columns added on conflict (the rest: the maximum, and the bucket lists).
SUMMED = (
    "completed", "failed", "retried", "cancelled", "paused", "snoozed",
    "run_count", "run_seconds_sum", "wait_count", "wait_seconds_sum",
)  # fmt: skip
COLUMNS = ("minute", "queue", "name", *SUMMED, "run_seconds_max", "wait_buckets", "run_buckets")
#: Per-execution timings: job id -> (name, queue, wait seconds, run seconds so far).
Timings = dict[int, tuple[str, str, float | None, float | None]]


class Stats:
    """Statistics for :class:`~.base.Engine` (which defines the members used here)."""

    tables: dict[str, str]
    cursor: Any
    adapt: Any
    complete_many: Any
    #: How a JSON parameter is written in a statement (a cast where one is needed).
    json_param = "%s"
    #: Casts of the upsert's parameters, by column, where the dialect needs them.
    casts: dict[str, str] = {}
    #: The larger of two values (``GREATEST`` in PostgreSQL, ``MAX`` in SQLite).
    greatest = "GREATEST"
    #: The function that makes a JSON list of its arguments.
    json_array = "jsonb_build_array"

    alias: str
    vendor: str

    @cached_property
    def stat_tables(self) -> dict[str, str]:
        return {
            "stat": JobStat._meta.db_table,
            "sample": QueueSample._meta.db_table,
            "total": JobStatTotal._meta.db_table,
        }

    # ------------------------------------------------------------ outcomes

    def lock_jobs_timed(self, job_ids: list[int]) -> tuple[datetime, Timings]:
        """Inside a transaction: lock these job rows in id order (as ``lock_jobs``) and read their timings.

        Returns the minute the batch is counted in and, per job, its name,
        queue, wait (``started_at - max(created_at, run_after)``) and run
        time (now - ``started_at``), in seconds. Read before the outcomes
        change ``run_after``.
        """
        raise NotImplementedError

    def merge_buckets(self, column: str, size: int) -> str:
        """SQL for the stored row's ``column`` plus the new row's, element-wise (alias ``s``).

        ``size`` elements, a missing one counting 0 (a row of cancellations
        only holds empty lists). Index by index rather than a join of two
        sets of JSON elements, which cost a millisecond a batch.
        """
        sums = (
            " + ".join(f"COALESCE({self._bucket(f'{row}.{column}', i)}, 0)" for row in ("s", "excluded"))
            for i in range(size)
        )
        return f"{self.json_array}({', '.join(sums)})"

    def upsert_stats(self, rows: Sequence[Rollup]) -> None:
        """Add these rollups to their (minute, queue, name) rows, creating the rows missing.

        One statement; ``rows`` must hold each (minute, queue, name) once, in order.
        """
        if rows:
            with self.cursor() as cursor:
                cursor.execute(*self.upsert_sql(rows))

    def upsert_sql(self, rows: Sequence[Rollup]) -> tuple[str, list[Any]]:
        """The statement of :meth:`upsert_stats`."""
        one = "(" + ", ".join(f"%s{self.casts.get(c, '')}" for c in COLUMNS) + ")"
        params: list[Any] = []
        for row in rows:
            params += [self.adapt(row.minute), row.queue, row.name, *(getattr(row, c) for c in SUMMED)]
            params += [row.run_seconds_max, json.dumps(row.wait_buckets), json.dumps(row.run_buckets)]
        return self.upserting(f"VALUES {', '.join([one] * len(rows))}"), params

    def upserting(self, source: str) -> str:
        """SQL that adds the rows of ``source`` (SQL giving :data:`COLUMNS`) to the rollups, by key."""
        return (
            f"INSERT INTO {self.stat_tables['stat']} AS s ({', '.join(COLUMNS)}) {source} "
            f"ON CONFLICT (minute, queue, name) DO UPDATE SET {', '.join(self._added_sets())}"
        )

    def _added_sets(self) -> list[str]:
        """The ``SET`` list that adds a conflicting row (``excluded``) to the stored one (``s``)."""
        sets = [f"{c} = s.{c} + excluded.{c}" for c in SUMMED]
        sets.append(f"run_seconds_max = {self.greatest}(s.run_seconds_max, excluded.run_seconds_max)")
        sets.append(f"wait_buckets = {self.merge_buckets('wait_buckets', len(WAIT_BUCKETS) + 1)}")
        sets.append(f"run_buckets = {self.merge_buckets('run_buckets', len(RUN_BUCKETS) + 1)}")
        return sets

    #: Whether :meth:`complete_many_counted` exists: the completing statement counts its completions.
    counts_completions = False

    def complete_many_counted(self, items: list[tuple[int, str, Any]]) -> set[int]:
        """``complete_many``, adding the completions owned to their rollups in the same statement.

        Only where ``counts_completions``: then a batch of nothing but
        completions reads no timings and counts nothing in Python.
        """
        raise NotImplementedError

    def count_jobs(self, minute: datetime, outcome: str, job_ids: Sequence[int]) -> None:
        """Add these jobs to their minute's ``outcome`` counter (one statement; no times).

        For outcomes that end no execution: cancellations, and jobs failed
        because their workers kept dying.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
        if not job_ids:
            return
        ids = sorted(job_ids)
        table = self.stat_tables["stat"]
        empty = json.dumps([])
        counts = ", ".join("COUNT(*)" if c == outcome else "0" for c in SUMMED)
        sql = (
            f"INSERT INTO {table} AS s ({', '.join(COLUMNS)}) "
            f"SELECT %s, queue, name, {counts}, 0, {self.json_param}, {self.json_param} "
            f"FROM {self.tables['job']} WHERE id IN ({', '.join(['%s'] * len(ids))}) "
            "GROUP BY queue, name ORDER BY queue, name "
            f"ON CONFLICT (minute, queue, name) DO UPDATE SET {outcome} = s.{outcome} + excluded.{outcome}"
        )
        with self.cursor() as cursor:
            cursor.execute(sql, [self.adapt(minute), empty, empty, *ids])

    # ------------------------------------------------------------ queue samples

    def sampled(self, minute: datetime) -> bool:
        """Some worker recorded the queue samples of ``minute`` already."""
        with self.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {self.stat_tables['sample']} WHERE minute = %s LIMIT 1", [self.adapt(minute)]
            )
            return cursor.fetchone() is not None

    def unfinished_counts(self) -> dict[str, dict[str, int]]:
        """``{queue: {status: count}}`` of the jobs in an unfinished status."""
        with self.cursor() as cursor:
            cursor.execute(
                f"SELECT queue, status, COUNT(*) FROM {self.tables['job']} "
                f"WHERE status IN ({', '.join(['%s'] * len(SAMPLED))}) GROUP BY queue, status",
                list(SAMPLED),
            )
            found: dict[str, dict[str, int]] = {}
            for queue, status, n in cursor.fetchall():
                found.setdefault(queue, {})[status] = n
            return found

    def insert_samples(self, minute: datetime, counts: dict[str, dict[str, int]]) -> int:
        """One sample per queue of ``minute``; a sample already there stays (a race is harmless)."""
        if not counts:
            return 0
        queues = sorted(counts)
        params: list[Any] = []
        for queue in queues:
            params += [self.adapt(minute), queue, *(counts[queue].get(s, 0) for s in SAMPLED)]
        one = f"({', '.join(['%s'] * (2 + len(SAMPLED)))})"
        with self.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {self.stat_tables['sample']} (minute, queue, {', '.join(SAMPLED)}) "
                f"VALUES {', '.join([one] * len(queues))} ON CONFLICT (minute, queue) DO NOTHING",
                params,
            )
            return cursor.rowcount

    # ------------------------------------------------------------ totals

    def sum_stats(self, after: datetime | None, upto: datetime | None = None) -> list[Rollup]:
        """The rollups of minutes in (``after``, ``upto``] (None: unbounded) summed per (queue, name).

        One aggregate over the ``minute`` index, the bucket lists summed
        element-wise in SQL. Hand-written: the ORM took 10 to 20 ms to
        compile its 34 ``Sum(Cast(KT(...)))`` for a statement that runs in
        under one.
        """
        where, params = [], []
        if after is not None:
            where.append("minute > %s")
            params.append(self.adapt(after))
        if upto is not None:
            where.append("minute <= %s")
            params.append(self.adapt(upto))
        waits, runs = len(WAIT_BUCKETS) + 1, len(RUN_BUCKETS) + 1
        sums = [f"SUM({c})" for c in SUMMED]
        sums.append("MAX(run_seconds_max)")
        sums += [f"SUM({self._bucket('wait_buckets', i)})" for i in range(waits)]
        sums += [f"SUM({self._bucket('run_buckets', i)})" for i in range(runs)]
        condition = f"WHERE {' AND '.join(where)} " if where else ""
        with self.cursor() as cursor:
            cursor.execute(
                f"SELECT queue, name, {', '.join(sums)} FROM {self.stat_tables['stat']} "
                f"{condition}GROUP BY queue, name ORDER BY queue, name",
                params,
            )
            rows = cursor.fetchall()
        found = []
        for queue, name, *values in rows:
            values = [v or 0 for v in values]
            rollup = Rollup(None, queue, name, **dict(zip(SUMMED, values[: len(SUMMED)], strict=True)))
            rollup.run_seconds_max = float(values[len(SUMMED)])
            rollup.wait_buckets = [int(v) for v in values[len(SUMMED) + 1 : len(SUMMED) + 1 + waits]]
            rollup.run_buckets = [int(v) for v in values[len(SUMMED) + 1 + waits :]]
            found.append(rollup)
        return found

    def _bucket(self, column: str, i: int) -> str:
        """SQL for the ``i``-th count of a bucket list column (NULL past its end)."""
        if self.vendor == "postgresql":
            return f"({column} ->> {i})::bigint"
        return f"json_extract({column}, '$[{i}]')"

    def stats_clock(self) -> datetime:
        """Now on the clock the writers count minutes by (the database's where it has one)."""
        if self.vendor != "postgresql":
            return timezone.now()
        with self.cursor() as cursor:
            cursor.execute("SELECT now()")
            return cursor.fetchone()[0]

    def fold_stats(self, cutoff: datetime, span: timedelta) -> tuple[datetime | None, int]:
        """Inside a transaction: add the rollups after the watermark, up to ``cutoff``, to the totals.

        The watermark is the totals' ``through`` (every row has the same);
        before the first fold, the minute before the oldest rollup. At most
        ``span`` of minutes is added at a time, so a first fold over weeks of
        rollups (after upgrading) does not hold up the worker's control loop:
        later folds catch up. All totals then get the new ``through``.
        Returns it (None: nothing to fold yet) and how many (queue, name)
        totals were added to; a ``cutoff`` not after the watermark does
        nothing. PostgreSQL: the totals table is locked against other folds
        (``SHARE ROW EXCLUSIVE`` conflicts with itself, not with readers), so
        two workers folding at once fold in turn, the second finding the
        watermark moved; SQLite's ``BEGIN IMMEDIATE`` serialises them already.
        """
        total = self.stat_tables["total"]
        with self.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute(f"LOCK TABLE {total} IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute(f"SELECT MAX(through) FROM {total}")
            through = read_moment(cursor.fetchone()[0])
            if through is None:
                cursor.execute(f"SELECT MIN(minute) FROM {self.stat_tables['stat']}")
                oldest = read_moment(cursor.fetchone()[0])
                if oldest is None or oldest > cutoff:
                    return None, 0
                through = oldest - timedelta(minutes=1)
            upto = min(cutoff, through + span)
            if upto <= through:
                return through, 0
            rollups = self.sum_stats(through, upto)
            if rollups:
                cursor.execute(*self._add_totals_sql(rollups, upto))
            cursor.execute(f"UPDATE {total} SET through = %s", [self.adapt(upto)])
        return upto, len(rollups)

    def _add_totals_sql(self, rows: Sequence[Rollup], through: datetime) -> tuple[str, list[Any]]:
        columns = (*COLUMNS[1:], "through")
        # Totals outgrow 32 bits: PostgreSQL casts their counts to bigint, not integer.
        casts = {c: "::bigint" if cast == "::integer" else cast for c, cast in self.casts.items()}
        casts["through"] = self.casts.get("minute", "")
        one = "(" + ", ".join(f"%s{casts.get(c, '')}" for c in columns) + ")"
        params: list[Any] = []
        for row in rows:
            params += [row.queue, row.name, *(getattr(row, c) for c in SUMMED), row.run_seconds_max]
            params += [json.dumps(row.wait_buckets), json.dumps(row.run_buckets), self.adapt(through)]
        sets = [*self._added_sets(), "through = excluded.through"]
        sql = (
            f"INSERT INTO {self.stat_tables['total']} AS s ({', '.join(columns)}) "
            f"VALUES {', '.join([one] * len(rows))} ON CONFLICT (queue, name) DO UPDATE SET {', '.join(sets)}"
        )
        return sql, params

    # ------------------------------------------------------------ retention

    def delete_stats_before(self, cutoff: datetime) -> tuple[int, int]:
        """Delete rollups and queue samples of minutes before ``cutoff``; returns how many of each.

        A rollup goes only once folded into the totals (its minute is not
        after their ``through``; none goes before the first fold), so
        pruning never lowers what ``/metrics`` counts.
        """
        stat, sample, total = (self.stat_tables[t] for t in ("stat", "sample", "total"))
        with self.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {stat} WHERE minute < %s AND minute <= (SELECT MAX(through) FROM {total})",
                [self.adapt(cutoff)],
            )
            rollups = cursor.rowcount
            cursor.execute(f"DELETE FROM {sample} WHERE minute < %s", [self.adapt(cutoff)])
            return rollups, cursor.rowcount
