"""Held rows: the pending jobs of paused queues and job types, kept out of the claim's way.

Internal module: :class:`Parking` is a base of :class:`~.base.Engine`.

A claim reads only the ready rows (pending, not ``delayed``). A queue or job
type that is paused with 200,000 pending jobs would otherwise put 200,000
rows ahead of every claim, each read and thrown away by the claim's filter on
the pause tables. So a paused queue's or job type's pending rows are *held*:
``held`` and ``delayed`` both set, which takes them out of the claim's index
and out of the stager's. The claim keeps its own check of the pause tables,
so holding is an optimisation, never what makes a pause correct:

* a pause commits at once; workers then hold the queue's ready rows in short
  transactions (:meth:`hold_paused`, from their control loop when the pause
  state changes and at every housekeeping pass), and the stager holds the
  delayed ones as they fall due (:meth:`~.claims.Claims.stage_due`);
* a resume releases the held rows in its own transaction
  (:meth:`release_held`), so they are claimable when it commits; the control
  loop's pass also releases rows a race left held.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .sql import placeholders


class Parking:
    """Holding and releasing rows, for :class:`~.base.Engine` (which defines the members used here)."""

    tables: dict[str, str]
    now: Any
    atomic: Any
    cursor: Any

    #: Rows one short transaction holds or releases at most (SQLite: see its engine).
    HOLD_BATCH = 10_000

    def paused_sql(self) -> str:
        """SQL true for a row whose queue or job type is paused now."""
        return (
            f"(queue IN (SELECT queue FROM {self.tables['queue']} WHERE paused)"
            f" OR name IN (SELECT name FROM {self.tables['job_type']} WHERE paused))"
        )

    def hold_paused(self, queues: Sequence[str], names: Sequence[str], limit: int) -> int:
        """Hold up to ``limit`` ready rows of these paused queues and job types; returns how many.

        Reads the ready rows' ids once, through the claim's own indexes (so a
        pass that finds nothing costs an index probe per queue), then holds
        them in transactions of at most :attr:`HOLD_BATCH` rows, each
        re-checking that the row is still ready and its queue or job type
        still paused.
        """
        job = self.tables["job"]
        ids: list[int] = []
        with self.cursor() as cursor:
            for column, keys in (("queue", queues), ("name", names)):
                if keys:
                    ready = f"""SELECT id FROM {job} WHERE status = 'pending' AND NOT delayed
                                AND {column} IN ({placeholders(keys)})"""
                    # Two halves, one per ready index (see Job.Meta).
                    cursor.execute(
                        f"""SELECT id FROM (
                                {ready} AND concurrency_key IS NULL AND rate_key IS NULL UNION ALL
                                {ready} AND (concurrency_key IS NOT NULL OR rate_key IS NOT NULL)
                            ) AS r LIMIT %s""",
                        [*keys, *keys, limit - len(ids)],
                    )
                    ids += [row[0] for row in cursor.fetchall()]
        held = 0
        for start in range(0, len(ids), self.HOLD_BATCH):
            batch = ids[start : start + self.HOLD_BATCH]
            with self.atomic(), self.cursor() as cursor:
                cursor.execute(
                    f"""UPDATE {job} SET held = TRUE, delayed = TRUE WHERE id IN ({placeholders(batch)})
                        AND status = 'pending' AND NOT delayed AND {self.paused_sql()}""",
                    batch,
                )
                held += cursor.rowcount
        return held

    def held_pairs(self) -> list[tuple[str, str]]:
        """The (queue, job name) pairs that have held rows: one index probe per pair."""
        job = self.tables["job"]
        held = f"FROM {job} WHERE status = 'pending' AND held"
        pairs = []
        with self.cursor() as cursor:
            cursor.execute(f"SELECT min(queue) {held}")
            queue = cursor.fetchone()[0]
            while queue is not None:
                cursor.execute(f"SELECT min(name) {held} AND queue = %s", [queue])
                name = cursor.fetchone()[0]
                while name is not None:
                    pairs.append((queue, name))
                    cursor.execute(f"SELECT min(name) {held} AND queue = %s AND name > %s", [queue, name])
                    name = cursor.fetchone()[0]
                cursor.execute(f"SELECT min(queue) {held} AND queue > %s", [queue])
                queue = cursor.fetchone()[0]
        return pairs

    def release_held(self, *, queue: str | None = None, name: str | None = None) -> set[str]:
        """Release held rows whose queue and job type both run again; returns their queues.

        ``queue``/``name``: only rows of that queue or job type (what a resume
        releases, inside its own transaction). A released row is delayed again
        if it is not due yet, so the stager takes it from there.
        """
        pairs = [
            (q, n)
            for q, n in self.held_pairs()
            if (queue is None or q == queue) and (name is None or n == name)
        ]
        if not pairs:
            return set()
        job = self.tables["job"]
        now, now_params = self.now()
        released = set()
        with self.cursor() as cursor:
            for pair in pairs:
                while True:
                    cursor.execute(
                        f"""UPDATE {job} SET held = FALSE, delayed = run_after > {now} WHERE id IN (
                                SELECT id FROM {job} WHERE status = 'pending' AND held
                                AND queue = %s AND name = %s LIMIT {int(self.HOLD_BATCH)})
                            AND NOT {self.paused_sql()}""",
                        [*now_params, *pair],
                    )
                    if cursor.rowcount:
                        released.add(pair[0])
                    if cursor.rowcount < self.HOLD_BATCH:
                        break
        return released
