"""The PostgreSQL engine: SKIP LOCKED claims, the server clock, LISTEN/NOTIFY, bulk statements.

Internal module. Claims hold an advisory lock shared and queue or worker
pauses take it exclusively: a pause waits for the claims in flight, and every
claim after it sees the paused row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any

from django.db import connections

from ..conf import jobs_settings
from ..models import Job
from .base import Engine
from .postgres_stats import PostgresStats

WORK_CHANNEL = "durable_jobs_work"
CONTROL_CHANNEL = "durable_jobs_control"
CLAIM_LOCK_KEY = 0x6A6F6273  # "jobs"
LIMITED_CLAIM_LOCK_KEY = 0x6C696D74  # "limt": limited claims take it one at a time

#: (column, array type, value of a job) for bulk inserts; the other columns
#: are NULL or a constant for a new job.
INSERT_COLUMNS: list[tuple[str, str, Any]] = [
    ("name", "text", lambda j: j.name),
    ("queue", "text", lambda j: j.queue),
    ("priority", "integer", lambda j: j.priority),
    ("args", "text", lambda j: json.dumps(j.args)),
    ("kwargs", "text", lambda j: json.dumps(j.kwargs)),
    ("run_after", "timestamptz", lambda j: j.run_after),
    ("delayed", "boolean", lambda j: j.delayed),
    ("max_retries", "integer", lambda j: j.max_retries),
    ("unique_key", "text", lambda j: j.unique_key),
    ("concurrency_key", "text", lambda j: j.concurrency_key),
    ("concurrency_limit", "integer", lambda j: j.concurrency_limit),
    ("rate_key", "text", lambda j: j.rate_key),
    ("rate_limit", "integer", lambda j: j.rate_limit),
    ("rate_period", "double precision", lambda j: j.rate_period),
    ("timeout", "double precision", lambda j: j.timeout),
    ("fanout_id", "bigint", lambda j: j.fanout_id),
    ("fanout_index", "integer", lambda j: j.fanout_index),
    ("schedule", "text", lambda j: j.schedule),
    ("scheduled_for", "timestamptz", lambda j: j.scheduled_for),
    ("created_at", "timestamptz", lambda j: j.created_at),
    ("trace_context", "text", lambda j: None if j.trace_context is None else json.dumps(j.trace_context)),
]
JSONB_COLUMNS = ("args", "kwargs", "trace_context")
#: The columns a new job's row has the same value in, after ``updated_at``, for COPY.
COPY_CONSTANTS: dict[str, Any] = {
    "updated_at": None,  # the enqueue time: filled in per statement
    "status": "pending",
    "attempt": 0,
    "reclaims": 0,
    "snoozes": 0,
    "last_error": "",
    "paused_by": "",
    "pause_reason": "",
    "pause_mode": "",
    "progress_message": "",
    "held": False,
}
#: COPY_CONSTANTS after ``updated_at``, as SQL literals for the INSERT statements.
CONSTANTS_SQL = ", ".join(
    str(v).upper() if isinstance(v, bool) else f"'{v}'" if isinstance(v, str) else str(v)
    for v in list(COPY_CONSTANTS.values())[1:]
)


def copy_text(value: Any) -> str:
    """``value`` as a field of COPY's text format (the types of a new job's columns)."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if isinstance(value, str):
        for char, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            text = text.replace(char, escaped)
    return text


class PostgresEngine(PostgresStats, Engine):
    vendor = "postgresql"
    row_lock = " FOR NO KEY UPDATE"
    claim_lock = " FOR UPDATE SKIP LOCKED"
    one_trip = True

    def now(self) -> tuple[str, list[Any]]:
        return "now()", []

    def seconds_ago(self, column: str) -> str:
        return f"(now() - make_interval(secs => {column}))"

    def seconds_since(self, column: str) -> str:
        return f"EXTRACT(EPOCH FROM now() - {column})::float8"

    def now_plus(self, seconds: float) -> tuple[str, list[Any]]:
        return "(now() + make_interval(secs => %s))", [float(seconds)]

    # ------------------------------------------------------------ notifications

    def notify_work(self, queues: Iterable[str]) -> None:
        with self.cursor() as cursor:
            for queue in sorted(set(queues)):
                cursor.execute("SELECT pg_notify(%s, %s)", [WORK_CHANNEL, queue])

    listen_channels = (WORK_CHANNEL, CONTROL_CHANNEL)
    work_channel = WORK_CHANNEL

    def notify_control(self) -> None:
        """A wake-up with no payload (NOTIFY caps one at 8,000 bytes): workers read the rows."""
        with self.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CONTROL_CHANNEL])

    def listen_params(self, alias: str | None = None) -> dict[str, Any]:
        """psycopg.connect() arguments for a dedicated LISTEN connection.

        Built from the ``DATABASES`` entry ``alias`` (``LISTEN_DATABASE``: a
        direct connection to this database when the job alias goes through
        PgBouncer), or from the job alias's own entry.
        """
        params = connections[alias or self.alias].get_connection_params()
        for key in ("cursor_factory", "context"):
            params.pop(key, None)
        params["prepare_threshold"] = None  # never a server-side prepared statement
        return params

    # ------------------------------------------------------------ insert, claim, locks

    def insert_jobs(self, jobs: list[Job]) -> None:
        """One ``INSERT ... SELECT FROM unnest(...)`` however many jobs.

        For one job the NOTIFY rides in the same statement, so an enqueue
        outside a transaction is one round trip and one commit.
        """
        if len(jobs) >= self.COPY_FROM:
            self._copy_jobs(jobs)
            self.notify_work({job.queue for job in jobs})
            return
        insert, params = self._insert_sql(jobs)
        if len(jobs) == 1:
            sql = f"WITH ins AS ({insert} RETURNING id, queue) SELECT id, pg_notify(%s, queue) FROM ins"
            params.append(WORK_CHANNEL)
        else:
            sql = f"{insert} RETURNING id"
        with self.cursor() as cursor:
            cursor.execute(sql, params)
            ids = [row[0] for row in cursor.fetchall()]
        self._saved(jobs, ids)
        if len(jobs) > 1:
            self.notify_work({job.queue for job in jobs})

    def _saved(self, jobs: list[Job], ids: list[int]) -> None:
        """Mark the inserted jobs saved under their new ids, as ``Model.save()`` would."""
        for job, job_id in zip(jobs, ids, strict=True):
            job.pk = job_id
            job._state.adding = False
            job._state.db = self.alias

    #: From this many jobs on, a bulk enqueue uses COPY.
    COPY_FROM = 200

    def _copy_jobs(self, jobs: list[Job]) -> None:
        """Many jobs in one COPY, with ids drawn from the sequence first (COPY returns none).

        Two round trips whatever the number: the ids, then the rows streamed.
        The server parses COPY's text rows faster than the arrays of
        ``INSERT ... unnest``, and the client writes each row in one call.
        Rows go out a thousand at a time as they are formatted, so the server
        stores one chunk while the client formats the next.
        """
        table = self.tables["job"]
        plain = [column for column, _, _ in INSERT_COLUMNS if column not in JSONB_COLUMNS]
        columns = ", ".join(["id", *JSONB_COLUMNS, *plain, *COPY_CONSTANTS])
        values = attrgetter(*plain)
        constants = "\t".join(copy_text(v) for v in (jobs[0].updated_at, *list(COPY_CONSTANTS.values())[1:]))
        tails: dict[tuple[Any, ...], str] = {}  # the columns after args and kwargs, as COPY text
        dumps = json.dumps
        lines: list[str] = []
        with self.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, len(jobs)],
            )
            ids = [row[0] for row in cursor.fetchall()]
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for job_id, job in zip(ids, jobs, strict=True):
                    key = (values(job), job.trace_context is None)
                    tail = tails.get(key)
                    if tail is None or not key[1]:
                        trace = "\\N" if key[1] else copy_text(dumps(job.trace_context))
                        tail = "\t".join([trace, *map(copy_text, key[0]), constants])
                        tails[key] = tail
                    args = dumps(job.args).replace("\\", "\\\\")  # JSON is ASCII: only backslashes to escape
                    kwargs = dumps(job.kwargs).replace("\\", "\\\\")
                    lines.append(f"{job_id}\t{args}\t{kwargs}\t{tail}\n")
                    if len(lines) == 1000:
                        copy.write("".join(lines))
                        lines.clear()
                copy.write("".join(lines))
        self._saved(jobs, ids)

    def _insert_sql(self, jobs: list[Job]) -> tuple[str, list[Any]]:
        """A column equal in every row is sent once, as a scalar.

        Sending arrays costs the client more than the server spends inserting;
        in a bulk enqueue most columns (name, queue, times) are the same for all.
        """
        columns, selected, arrays, scalars, array_params = [], [], [], [], []
        for column, pg_type, value in INSERT_COLUMNS:
            values = [value(job) for job in jobs]
            columns.append(column)
            cast = "::jsonb" if column in JSONB_COLUMNS else ""
            if len(jobs) == 1 or all(v == values[0] for v in values):
                selected.append(f"%s::{pg_type}{cast}")
                scalars.append(values[0])
            else:
                selected.append(f"{column}{cast}")
                arrays.append(f"%s::{pg_type}[]")
                array_params.append(values)
        array_columns = [c for c, sel in zip(columns, selected, strict=True) if not sel.startswith("%s")]
        if arrays:
            source = f" FROM unnest({', '.join(arrays)}) AS t({', '.join(array_columns)})"
        else:  # every column the same in every row
            source = " FROM generate_series(1, %s)"
            array_params.append(len(jobs))
        sql = (
            f"INSERT INTO {self.tables['job']} ({', '.join(columns)}, {', '.join(COPY_CONSTANTS)}) "
            f"SELECT {', '.join(selected)}, %s::timestamptz, {CONSTANTS_SQL}{source}"
        )
        # Parameters in the order their placeholders appear: SELECT list, then unnest().
        return sql, [*scalars, jobs[0].updated_at, *array_params]

    per_queue_claim = True

    def _per_queue_select(self, queues: Sequence[str], worker_id: str, limit: int) -> tuple[str, list[Any]]:
        ready, ready_params = self._ready("AND queue = q.queue_name", [], worker_id)
        sql = f"""SELECT c.id FROM unnest(%s::text[]) AS q(queue_name) CROSS JOIN LATERAL (
                      SELECT id, priority FROM {self.tables["job"]}
                      WHERE {ready} AND concurrency_key IS NULL AND rate_key IS NULL
                      ORDER BY priority DESC, id LIMIT %s{self.claim_lock}) AS c
                  ORDER BY c.priority DESC, c.id LIMIT %s"""
        return sql, [list(queues), *ready_params, limit, limit]

    def before_claim(self, cursor: Any, own_transaction: bool) -> None:
        """The shared claim lock, and a commit that does not wait for its WAL flush.

        A claim lost in a server crash costs nothing a durable one would not:
        either way the job runs again (from pending, or reclaimed once its
        lease expires), and the worker's outcome for the lost claim is fenced
        off. Not waiting for the flush takes most of a claim's latency off
        (the flush is the slowest part of a claim on an idle server). Only a
        claim in its own transaction: a caller's writes keep their durability.
        """
        relax = ", set_config('synchronous_commit', 'off', true)" if own_transaction else ""
        cursor.execute(f"SELECT pg_advisory_xact_lock_shared(%s){relax}", [CLAIM_LOCK_KEY])

    def before_limited_claim(self, cursor: Any) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LIMITED_CLAIM_LOCK_KEY])

    def block_claims(self) -> None:
        with self.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK_KEY])

    def lock_jobs(self, job_ids: list[int]) -> None:
        if job_ids:
            with self.cursor() as cursor:
                cursor.execute(
                    f"SELECT id FROM {self.tables['job']} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
                    [sorted(job_ids)],
                )

    # ------------------------------------------------------------ leases

    def renew_leases(self, owned: dict[int, str]) -> None:
        """Rows locked by someone else right now (a pause, a writer) are skipped, not waited for:
        no deadlock, and the next heartbeat comes well before expiry."""
        if not owned:
            return
        job = self.tables["job"]
        with self.cursor() as cursor:
            cursor.execute(
                f"""UPDATE {job} SET lease_expires_at = now() + make_interval(secs => %s)
                    WHERE id IN (SELECT id FROM {job} WHERE id = ANY(%s) AND lease = ANY(%s)
                                 ORDER BY id FOR UPDATE SKIP LOCKED)""",
                [float(jobs_settings.LEASE_SECONDS), sorted(owned), sorted(set(owned.values()))],
            )

    def expired_where(self) -> tuple[str, list[Any]]:
        """Skip rows a writer holds: it may be finishing them right now."""
        job = self.tables["job"]
        return (
            f"id IN (SELECT id FROM {job} WHERE status = 'running' AND lease_expires_at < now() "
            "ORDER BY id FOR UPDATE SKIP LOCKED)",
            [],
        )

    # ------------------------------------------------------------ outcomes

    def complete_many(self, items: list[tuple[int, str, Any]]) -> set[int]:
        """One statement for the whole batch."""
        with self.cursor() as cursor:
            cursor.execute(*self._complete_sql(items))
            return {row[0] for row in cursor.fetchall()}

    def _complete_sql(
        self, items: list[tuple[int, str, Any]], returning: str = "j.id"
    ) -> tuple[str, list[Any]]:
        sql = f"""UPDATE {self.tables["job"]} AS j SET status = 'completed', result = v.result::jsonb,
                      lease = NULL, lease_expires_at = NULL, pause_requested = NULL,
                      paused_at = NULL, paused_by = '', pause_reason = '', pause_mode = '',
                      finished_at = now(), updated_at = now()
                  FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::text[]) AS lease,
                               unnest(%s::text[]) AS result) AS v
                  WHERE j.id = v.id AND j.lease = v.lease
                  RETURNING {returning}"""
        return sql, [[i[0] for i in items], [i[1] for i in items], [json.dumps(i[2]) for i in items]]
