"""The claim: how a worker takes runnable jobs, the part of an engine every job goes through.

Internal module: :class:`Claims` is a base of :class:`~.base.Engine`, which
provides the clock (``now``), table names, cursors and transactions.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections

from ..conf import jobs_settings
from .sql import from_json, placeholders

CLAIM_COLUMNS = (
    "id, name, queue, priority, args, kwargs, attempt, max_retries, fanout_id, snoozes, timeout, "
    "trace_context"
)


class Script:
    """A cursor that sends the statements it is given as one query, at ``fetchall()``.

    PostgreSQL runs a multi-statement query as one implicit transaction,
    each statement with its own snapshot: the claim's lock, staging and
    update go in one round trip instead of five (BEGIN, three statements,
    COMMIT), with the same meaning. Only the last statement's rows are read.
    """

    rowcount = -1  # not known before the script runs

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._parts: list[str] = []
        self._params: list[Any] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._parts.append(sql)
        self._params.extend(params)

    def fetchall(self) -> list[tuple]:
        self._cursor.execute(";\n".join(self._parts), self._params)
        while self._cursor.cursor.nextset():  # the psycopg cursor: move to the last result
            pass
        return self._cursor.fetchall()


@dataclass(slots=True)
class ClaimedJob:
    """A job as the claim returns it: what the worker needs to run it."""

    id: int
    name: str
    queue: str
    priority: int
    args: list[Any]
    kwargs: dict[str, Any]
    attempt: int
    max_retries: int
    fanout_id: int | None
    snoozes: int
    timeout: float | None
    lease: str
    trace_context: dict[str, str] | None = None


class Claims:
    """Claiming, for :class:`~.base.Engine` (which defines the members used here)."""

    tables: dict[str, str]
    now: Any
    now_plus: Any
    atomic: Any
    cursor: Any
    paused_sql: Any
    alias: str

    def claim(
        self, worker_id: str, lease: str, queues: Sequence[str] | None, limit: int, *, limited: bool = False
    ) -> list[ClaimedJob]:
        """Claim up to ``limit`` runnable jobs, in one transaction.

        ``queues=None`` means every queue. Paused queues, job types and a
        paused worker are checked by the statements themselves, so no cached
        pause state can race a pause. ``limited``: jobs under a concurrency
        limit may be waiting; they are claimed first, on their own path
        (:meth:`_claim_limited`), then the free slots go to the others.
        """
        queue_filter = f"AND queue IN ({placeholders(queues)})" if queues else ""
        ready, ready_params = self._ready(queue_filter, queues or [], worker_id)
        rows: list[tuple] = []
        now_s = time.monotonic()
        limited = limited and now_s >= self._no_limited_until
        own_transaction = not connections[self.alias].in_atomic_block
        one_trip = self.one_trip and not limited and own_transaction
        with contextlib.ExitStack() as stack:
            cursor = stack.enter_context(self.cursor())
            if one_trip:
                cursor = Script(cursor)
            else:
                stack.enter_context(self.atomic())
            self.before_claim(cursor, own_transaction)
            if now_s - self._staged_at >= self.STAGE_EVERY:
                self._staged_at = now_s
                self.stage_due(cursor)
            if limited:
                rows += self._claim_limited(cursor, worker_id, lease, ready, ready_params, limit)
            if len(rows) < limit and queues and len(queues) > 1 and self.per_queue_claim:
                select, params = self._per_queue_select(queues, worker_id, limit - len(rows))
                rows += self._take(cursor, worker_id, lease, select, params)
            elif len(rows) < limit:
                select = f"""SELECT id FROM {self.tables["job"]}
                    WHERE {ready} AND concurrency_key IS NULL AND rate_key IS NULL
                    ORDER BY priority DESC, id LIMIT %s{self.claim_lock}"""
                rows += self._take(cursor, worker_id, lease, select, [*ready_params, limit - len(rows)])
        jobs = [
            ClaimedJob(*row[:4], from_json(row[4]), from_json(row[5]), *row[6:11], lease, from_json(row[11]))
            for row in rows
        ]
        jobs.sort(key=lambda j: (-j.priority, j.id))
        return jobs

    def _ready(self, queue_filter: str, queue_params: Sequence[Any], worker_id: str) -> tuple[str, list[Any]]:
        """SQL true for a claimable row (pending, due, its queue and type not paused, nor the
        worker), and its parameters; ``queue_filter`` narrows it with ``queue_params``."""
        now, now_params = self.now()
        sql = f"""status = 'pending' AND NOT delayed AND run_after <= {now} {queue_filter}
                  AND queue NOT IN (SELECT queue FROM {self.tables["queue"]} WHERE paused)
                  AND name NOT IN (SELECT name FROM {self.tables["job_type"]} WHERE paused)
                  AND NOT EXISTS (SELECT 1 FROM {self.tables["worker"]} WHERE id = %s AND paused)"""
        return sql, [*now_params, *queue_params, worker_id]

    #: Whether a claim over several queues reads each queue's index on its own
    #: (:meth:`_per_queue_select`) rather than one index filtered by queue.
    per_queue_claim = False

    def _per_queue_select(self, queues: Sequence[str], worker_id: str, limit: int) -> tuple[str, list[Any]]:
        """The claim's ``SELECT`` for a pool of several queues, and its parameters.

        Each queue's first ``limit`` ready jobs, read from its own part of the
        per-queue index, then the first ``limit`` of those in claim order: a
        backlog in a queue the pool does not serve is never walked, as it is
        when one index is read in claim order and filtered by queue.
        """
        raise NotImplementedError

    def _take(self, cursor: Any, worker_id: str, lease: str, select: str, params: list[Any]) -> list[tuple]:
        """Mark the jobs ``select`` picks as running under ``lease``; returns their claim columns."""
        now, now_params = self.now()
        expires, expires_params = self.now_plus(jobs_settings.LEASE_SECONDS)
        cursor.execute(
            f"""UPDATE {self.tables["job"]} SET status = 'running', lease = %s, worker_id = %s,
                    attempt = attempt + 1, started_at = {now}, updated_at = {now},
                    lease_expires_at = {expires}
                WHERE id IN ({select})
                RETURNING {CLAIM_COLUMNS}""",
            [lease, worker_id, *now_params, *now_params, *expires_params, *params],
        )
        return cursor.fetchall()

    def _claim_limited(
        self, cursor: Any, worker_id: str, lease: str, ready: str, ready_params: list[Any], limit: int
    ) -> list[tuple]:
        """Claim jobs under concurrency limits: per key, at most its limit minus what runs now.

        Ranks each key's ready jobs in claim order and takes those whose rank
        fits the key's free slots, so a full key holds back only its own jobs
        and order holds within a key. First among the next ``PREFIX`` ready
        jobs in claim order (cheap, and enough unless many full keys queue
        ahead); if that does not fill the claim, among all of them, so a full
        key never blocks another (no head-of-line blocking). Limited claims
        run one at a time (:meth:`before_limited_claim`): each counts what the
        one before it claimed, so no race takes a key over its limit. Slots
        of a dead worker's jobs come back when those jobs are reclaimed.
        """
        cursor.execute(
            f"""SELECT 1 FROM {self.tables["job"]} WHERE status = 'pending' AND NOT delayed
                AND (concurrency_key IS NOT NULL OR rate_key IS NOT NULL) LIMIT 1"""
        )
        if cursor.fetchone() is None:  # none waiting (one index page): skip the lock
            self._no_limited_until = time.monotonic() + self.LIMITED_RECHECK
            return []
        self.before_limited_claim(cursor)
        prefix = max(self.LIMITED_PREFIX, 2 * limit)
        rows = self._take(
            cursor, worker_id, lease, self._limited_select(ready, "LIMIT %s"), [*ready_params, prefix, limit]
        )
        if len(rows) < limit:
            rows += self._take(
                cursor, worker_id, lease, self._limited_select(ready, ""), [*ready_params, limit - len(rows)]
            )
        return rows

    #: Ready limited jobs the first, cheap, pass of a limited claim looks at (at least).
    #: Keys at their limit are not among them, so each key in it has a free slot.
    LIMITED_PREFIX = 50

    def _limited_select(self, ready: str, prefix: str) -> str:
        """Ready limited jobs that fit: each key's rank within its free concurrency slots and
        within the starts its rate allows in the window that ends now."""
        job = self.tables["job"]
        window_start = self.seconds_ago("k.rate_period")
        # Keys at their limit are left out before ranking: while a key is full,
        # its backlog costs an index walk, not a sort.
        return f"""WITH running AS (
                SELECT concurrency_key, count(*) AS n FROM {job}
                WHERE status = 'running' AND concurrency_key IS NOT NULL
                GROUP BY concurrency_key),
            candidate AS (
                SELECT id, priority, concurrency_key, concurrency_limit, rate_key, rate_limit, rate_period
                FROM {job} AS ready WHERE {ready} AND (concurrency_key IS NOT NULL OR rate_key IS NOT NULL)
                AND NOT EXISTS (SELECT 1 FROM running AS full_key
                                WHERE full_key.concurrency_key = ready.concurrency_key
                                AND full_key.n >= ready.concurrency_limit)
                ORDER BY priority DESC, id {prefix}),
            started AS (
                SELECT j.rate_key, count(*) AS n
                FROM (SELECT rate_key, max(rate_period) AS rate_period FROM candidate
                      WHERE rate_key IS NOT NULL GROUP BY rate_key) AS k
                JOIN {job} AS j ON j.rate_key = k.rate_key AND j.started_at > {window_start}
                GROUP BY j.rate_key)
            SELECT c.id FROM (
                SELECT *,
                    row_number() OVER (PARTITION BY concurrency_key ORDER BY priority DESC, id) AS slot,
                    row_number() OVER (PARTITION BY rate_key ORDER BY priority DESC, id) AS permit
                FROM candidate) AS c
            LEFT JOIN running AS r ON r.concurrency_key = c.concurrency_key
            LEFT JOIN started AS s ON s.rate_key = c.rate_key
            WHERE (c.concurrency_key IS NULL OR c.slot <= c.concurrency_limit - COALESCE(r.n, 0))
              AND (c.rate_key IS NULL OR c.permit <= c.rate_limit - COALESCE(s.n, 0))
            ORDER BY c.priority DESC, c.id LIMIT %s"""

    def seconds_ago(self, column: str) -> str:
        """SQL for "now minus ``column`` seconds" on the database clock, comparable to ``started_at``."""
        raise NotImplementedError

    def seconds_since(self, column: str) -> str:
        """SQL for the seconds from ``column`` to now, on the clock ``seconds_ago`` uses."""
        raise NotImplementedError

    def next_permit_in(self, queues: Sequence[str] | None) -> float | None:
        """Seconds until the next ready rate-limited job's key has a permit (None: no such job).

        A worker whose claim found only rate-limited work sleeps this long,
        not a whole poll interval. The permit frees when the ``rate_limit``-th
        latest start in the window leaves it; when fewer started (the job
        waits on something else, such as a full concurrency key), the wait
        is the spacing between two permits.
        """
        job = self.tables["job"]
        queue_filter = f"AND queue IN ({placeholders(queues)})" if queues else ""
        with self.cursor() as cursor:
            cursor.execute(
                f"""SELECT rate_key, rate_limit, rate_period FROM {job}
                    WHERE status = 'pending' AND NOT delayed AND rate_key IS NOT NULL {queue_filter}
                    ORDER BY priority DESC, id LIMIT 1""",
                list(queues or []),
            )
            row = cursor.fetchone()
            if row is None:
                return None
            key, limit, period = row
            cursor.execute(
                f"""SELECT {self.seconds_since("started_at")} FROM {job}
                    WHERE rate_key = %s AND started_at > {self.seconds_ago("%s")}
                    ORDER BY started_at DESC LIMIT 1 OFFSET %s""",
                [key, period, limit - 1],
            )
            oldest = cursor.fetchone()
        if oldest is None:
            return period / limit
        return max(period - float(oldest[0]), 0.0)

    def before_limited_claim(self, cursor: Any) -> None:
        """Inside the claim's transaction: wait for any other limited claim (SQLite: claims are serial)."""

    claim_lock = ""
    #: Whether the dialect runs a multi-statement query as one implicit
    #: transaction, so a claim outside a transaction can be one round trip.
    one_trip = False
    #: Delayed rows one claim makes claimable at most (the next claim takes the rest).
    STAGE_BATCH = 1000
    #: Seconds between two stagings, and between two looks for limited jobs after
    #: one found none, in one process: each statement costs a claim more to plan
    #: (about a millisecond) than to run, and a claim comes every few milliseconds
    #: under load. A delayed or limited job waits at most this long more.
    STAGE_EVERY = 0.05
    LIMITED_RECHECK = 0.05
    _staged_at = -1e9
    _no_limited_until = 0.0

    def stage_due(self, cursor: Any) -> int:
        """Inside the claim's transaction: delayed rows now due join the claim's index.

        A job enqueued with a future ``run_after``, or waiting out a retry's
        backoff, is ``pending`` with ``delayed`` set, which keeps it out of
        the index the claim reads: a backlog of 200,000 jobs due tomorrow is
        not walked by every claim. This statement reads the delayed rows by
        due time, so when none is due it costs one index page. ``delayed`` is
        only a hint: the claim still checks ``run_after``. A due row of a
        paused queue or job type is held instead (:mod:`.parking`).
        """
        now, now_params = self.now()
        job, paused, batch = self.tables["job"], self.paused_sql(), int(self.STAGE_BATCH)
        cursor.execute(
            f"""UPDATE {job} SET delayed = {paused}, held = {paused} WHERE id IN (
                    SELECT id FROM {job} WHERE status = 'pending' AND delayed AND NOT held
                    AND run_after <= {now} ORDER BY run_after LIMIT {batch}{self.claim_lock})""",
            now_params,
        )
        return cursor.rowcount

    def before_claim(self, cursor: Any, own_transaction: bool) -> None:
        """Inside the claim's transaction, before its statement (``own_transaction``: the
        claim's alone, not a caller's it runs inside)."""

    def block_claims(self) -> None:
        """Inside a queue or worker pause: wait for claims in flight, block new ones until commit."""
