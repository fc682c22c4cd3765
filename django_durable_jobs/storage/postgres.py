"""The PostgreSQL engine: SKIP LOCKED claims, the server clock, LISTEN/NOTIFY, bulk statements.

Internal module. Claims hold an advisory lock shared and queue or worker
pauses take it exclusively: a pause waits for the claims in flight, and every
claim after it sees the paused row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections

from ..conf import jobs_settings
from .base import Engine
from .postgres_inserts import WORK_CHANNEL, PostgresInserts
from .postgres_stats import PostgresStats

CONTROL_CHANNEL = "durable_jobs_control"
CLAIM_LOCK_KEY = 0x6A6F6273  # "jobs"
LIMITED_CLAIM_LOCK_KEY = 0x6C696D74  # "limt": limited claims take it one at a time


class PostgresEngine(PostgresInserts, PostgresStats, Engine):
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

    def function_exists(self, signature: str) -> bool:
        """Whether the migrations have created the function ``signature`` names (``to_regprocedure``)."""
        with self.cursor() as cursor:
            cursor.execute("SELECT to_regprocedure(%s) IS NOT NULL", [signature])
            return bool(cursor.fetchone()[0])

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
