"""The PostgreSQL engine's inserts of new jobs: one, a few, or many (internal; see ``storage.postgres``).

One job is inserted by :data:`ENQUEUE`, a PL/pgSQL function the migrations
create, a few by one ``INSERT ... SELECT FROM unnest(...)``, many by COPY.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from functools import cached_property
from operator import attrgetter
from typing import Any

from ..models import Job

WORK_CHANNEL = "durable_jobs_work"

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
#: The columns every new job's row has the same value in (``updated_at`` aside: its enqueue time).
NEW_ROW_CONSTANTS: dict[str, Any] = {
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
#: The columns an INSERT names after those of INSERT_COLUMNS: the enqueue time, then the constants.
TAIL_COLUMNS = ", ".join(["updated_at", *NEW_ROW_CONSTANTS])
#: NEW_ROW_CONSTANTS as SQL literals, for the INSERT statements.
CONSTANTS_SQL = ", ".join(
    str(v).upper() if isinstance(v, bool) else f"'{v}'" if isinstance(v, str) else str(v)
    for v in NEW_ROW_CONSTANTS.values()
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


#: The function that inserts one job and wakes its queue's workers (see ``enqueue_function``).
ENQUEUE = "durable_jobs_enqueue"
_ENQUEUE_TYPES = [("jsonb" if column in JSONB_COLUMNS else pg_type) for column, pg_type, _ in INSERT_COLUMNS]
#: Its signature, as ``to_regprocedure`` and ``DROP FUNCTION`` name it: the columns, then ``updated_at``.
ENQUEUE_SIGNATURE = f"{ENQUEUE}({', '.join(_ENQUEUE_TYPES)}, timestamptz)"
#: The statement of one enqueue; its parameters are those of ``INSERT_COLUMNS``, then ``updated_at``.
ENQUEUE_CALL = f"SELECT {ENQUEUE}({', '.join(f'%s::{t}' for t in _ENQUEUE_TYPES)}, %s::timestamptz)"


class PostgresInserts:
    """Insert members of :class:`~.postgres.PostgresEngine` (which defines the others used here)."""

    tables: dict[str, str]
    alias: str
    cursor: Any
    notify_work: Any
    function_exists: Any

    @cached_property
    def enqueues_by_function(self) -> bool:
        """Whether :data:`ENQUEUE` exists; asked once per process (before ``migrate``: a plain INSERT)."""
        return self.function_exists(ENQUEUE_SIGNATURE)

    def enqueue_function(self) -> str:
        """``CREATE FUNCTION`` of :data:`ENQUEUE`: insert one new job, notify its queue, return its id.

        A function because PostgreSQL plans its statement once per
        connection: sent as a statement, the insert of one job is parsed and
        planned with every enqueue, which took a quarter of an enqueue's
        time. It keeps no session state (unlike a prepared statement), so
        it works through PgBouncer in transaction mode. The migrations
        create it; a later change to the columns re-creates it.
        """
        columns = [column for column, _, _ in INSERT_COLUMNS]
        typed = zip(columns, _ENQUEUE_TYPES, strict=True)
        params = ", ".join(f"p_{column} {pg_type}" for column, pg_type in typed)
        return f"""CREATE OR REPLACE FUNCTION {ENQUEUE}({params}, p_updated_at timestamptz) RETURNS bigint
            LANGUAGE plpgsql AS $$
            DECLARE
                new_id bigint;
            BEGIN
                INSERT INTO {self.tables["job"]} ({", ".join(columns)}, {TAIL_COLUMNS})
                VALUES ({", ".join(f"p_{column}" for column in columns)}, p_updated_at, {CONSTANTS_SQL})
                RETURNING id INTO new_id;
                PERFORM pg_notify('{WORK_CHANNEL}', p_queue);
                RETURN new_id;
            END
            $$"""

    def insert_jobs(self, jobs: list[Job]) -> None:
        """One statement however many jobs: the enqueue function for one,
        ``INSERT ... SELECT FROM unnest(...)`` for a few, COPY for many.

        For one job the NOTIFY rides in the same statement, so an enqueue
        outside a transaction is one round trip and one commit.
        """
        if len(jobs) >= self.COPY_FROM:
            self.insert_stream(jobs, len(jobs))
            return
        if len(jobs) == 1 and self.enqueues_by_function:
            job = jobs[0]
            with self.cursor() as cursor:
                values = [value(job) for _, _, value in INSERT_COLUMNS]
                cursor.execute(ENQUEUE_CALL, [*values, job.updated_at])
                self._saved(jobs, [cursor.fetchone()[0]])
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

    def insert_stream(self, jobs: Iterable[Job], count: int) -> list[Job]:
        """From ``COPY_FROM`` jobs on, each row is written as it is built: the server stores
        one chunk of rows while the client builds and formats the next."""
        if count < self.COPY_FROM:
            return super().insert_stream(jobs, count)  # type: ignore[misc]
        built = self._copy_jobs(jobs, count)
        self.notify_work({job.queue for job in built})
        return built

    def _copy_jobs(self, jobs: Iterable[Job], count: int) -> list[Job]:
        """``count`` jobs in one COPY, with ids drawn from the sequence first (COPY returns none).

        Two round trips whatever the number: the ids, then the rows streamed.
        The server parses COPY's text rows faster than the arrays of
        ``INSERT ... unnest``, and the client writes each row in one call.
        Rows go out a thousand at a time as they are formatted. An exception
        raised by ``jobs`` ends the COPY, and the caller's transaction with it.
        """
        table = self.tables["job"]
        plain = [column for column, _, _ in INSERT_COLUMNS if column not in JSONB_COLUMNS] + ["updated_at"]
        columns = ", ".join(["id", *JSONB_COLUMNS, *plain, *NEW_ROW_CONSTANTS])
        values = attrgetter(*plain)
        constants = "\t".join(copy_text(v) for v in NEW_ROW_CONSTANTS.values())
        tails: dict[tuple[Any, ...], str] = {}  # the columns after args and kwargs, as COPY text
        dumps = json.dumps
        lines: list[str] = []
        built: list[Job] = []
        with self.cursor() as cursor:
            cursor.execute(
                # The sequence's name is looked up once (an InitPlan), not once per row: that cost
                # 10 µs a job, a fifth of a bulk enqueue.
                "SELECT nextval((SELECT pg_get_serial_sequence(%s, 'id'))::regclass) "
                "FROM generate_series(1, %s)",
                [table, count],
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
                    built.append(job)
                    if len(lines) == 1000:
                        copy.write("".join(lines))
                        lines.clear()
                copy.write("".join(lines))
        self._saved(built, ids)
        return built

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
            f"INSERT INTO {self.tables['job']} ({', '.join(columns)}, {TAIL_COLUMNS}) "
            f"SELECT {', '.join(selected)}, %s::timestamptz, {CONSTANTS_SQL}{source}"
        )
        # Parameters in the order their placeholders appear: SELECT list, then unnest().
        return sql, [*scalars, jobs[0].updated_at, *array_params]
