"""Every dialect-specific statement of the job system lives here.

Internal module. PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` and wakes
workers with LISTEN/NOTIFY; SQLite serialises writers with ``BEGIN
IMMEDIATE`` (set up in ``apps.configure_sqlite``) and is polled.

Fencing: every write made on behalf of a running execution names the
execution's lease token, so a paused, cancelled or reclaimed job ignores
writes from an execution that no longer owns it.

Lock order, to stay free of deadlocks: fan-out rows before job rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from .conf import jobs_settings

WORK_CHANNEL = "durable_jobs_work"
CONTROL_CHANNEL = "durable_jobs_control"
#: Claims hold this advisory lock shared, queue pauses exclusively: a pause
#: waits for claims in flight, and claims after it see the paused row.
CLAIM_LOCK_KEY = 0x6A6F6273  # "jobs"

JOB = "durable_jobs_job"
QUEUESTATE = "durable_jobs_queuestate"
CHECKPOINT = "durable_jobs_checkpoint"
WORKER = "durable_jobs_worker"
FANOUT = "durable_jobs_fanout"

CLAIM_COLUMNS = "id, name, queue, priority, args, kwargs, attempt, max_retries, fanout_id"


def alias() -> str:
    return jobs_settings.DATABASE


def vendor(using: str | None = None) -> str:
    return connections[using or alias()].vendor


def is_postgres(using: str | None = None) -> bool:
    return vendor(using) == "postgresql"


def _in(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _db_now(using: str) -> str:
    return "now()" if is_postgres(using) else "%s"


def py_now_param(using: str) -> list[Any]:
    """SQLite has no shared clock worth the name: use this process's, adapted."""
    if is_postgres(using):
        return []
    return [connections[using].ops.adapt_datetimefield_value(timezone.now())]


def adapt(using: str, value: datetime | None) -> Any:
    """A datetime as the driver wants it in a raw statement."""
    return connections[using].ops.adapt_datetimefield_value(value)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


# --------------------------------------------------------------------------- notify


def notify_work(using: str, queues: Iterable[str]) -> None:
    """Wake workers of ``queues`` when the current transaction commits."""
    if not is_postgres(using):
        return
    with connections[using].cursor() as cursor:
        for queue in sorted(set(queues)):
            cursor.execute("SELECT pg_notify(%s, %s)", [WORK_CHANNEL, queue])


def notify_control(using: str, message: dict[str, Any]) -> None:
    """Tell every worker about a pause, resume or cancel (delivered on commit)."""
    if not is_postgres(using):
        return
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CONTROL_CHANNEL, json.dumps(message)])


# --------------------------------------------------------------------------- insert

#: (column, PostgreSQL array type, value of a job) for bulk inserts; the
#: other columns are NULL or a constant for a new job.
_INSERT_COLUMNS: list[tuple[str, str, Any]] = [
    ("name", "text", lambda j: j.name),
    ("queue", "text", lambda j: j.queue),
    ("priority", "integer", lambda j: j.priority),
    ("args", "text", lambda j: json.dumps(j.args)),
    ("kwargs", "text", lambda j: json.dumps(j.kwargs)),
    ("run_after", "timestamptz", lambda j: j.run_after),
    ("max_retries", "integer", lambda j: j.max_retries),
    ("unique_key", "text", lambda j: j.unique_key),
    ("fanout_id", "bigint", lambda j: j.fanout_id),
    ("fanout_index", "integer", lambda j: j.fanout_index),
    ("scheduled_for", "timestamptz", lambda j: j.scheduled_for),
    ("created_at", "timestamptz", lambda j: j.created_at),
]


def insert_jobs(using: str, jobs: list[Any]) -> None:
    """Insert new Job rows (setting their ids) and wake workers of their queues on commit.

    PostgreSQL: one ``INSERT ... SELECT FROM unnest(...)`` however many jobs,
    and for one job the NOTIFY rides in the same statement, so an enqueue
    outside a transaction is one round trip and one commit.
    """
    if not is_postgres(using):
        from .models import Job

        Job.objects.using(using).bulk_create(jobs)
        return
    insert, params = _insert_sql(jobs)
    if len(jobs) == 1:
        sql = f"WITH ins AS ({insert} RETURNING id, queue) SELECT id, pg_notify(%s, queue) FROM ins"
        params.append(WORK_CHANNEL)
    else:
        sql = f"{insert} RETURNING id"
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for job, job_id in zip(jobs, ids, strict=True):
        job.pk = job_id
        job._state.adding = False
        job._state.db = using
    if len(jobs) > 1:
        notify_work(using, {job.queue for job in jobs})


def _insert_sql(jobs: list[Any]) -> tuple[str, list[Any]]:
    """``INSERT ... SELECT FROM unnest(...)``; a column equal in every row is sent once.

    Sending arrays costs the client more than the server spends inserting;
    in a bulk enqueue most columns (name, queue, times) are the same for all.
    """
    columns, selected, arrays, scalars, array_params = [], [], [], [], []
    for column, pg_type, value in _INSERT_COLUMNS:
        values = [value(job) for job in jobs]
        columns.append(column)
        cast = "::jsonb" if column in ("args", "kwargs") else ""
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
        f"INSERT INTO {JOB} ({', '.join(columns)}, updated_at, status, attempt, reclaims, last_error, "
        f"paused_by, pause_reason, pause_mode) SELECT {', '.join(selected)}, "
        f"%s::timestamptz, 'pending', 0, 0, '', '', '', ''{source}"
    )
    # Parameters in the order their placeholders appear: SELECT list, then unnest().
    return sql, [*scalars, jobs[0].updated_at, *array_params]


# --------------------------------------------------------------------------- claim


@dataclass(slots=True)
class ClaimedJob:
    id: int
    name: str
    queue: str
    priority: int
    args: list[Any]
    kwargs: dict[str, Any]
    attempt: int
    max_retries: int
    fanout_id: int | None
    lease: str


def claim(
    using: str, worker_id: str, lease: str, queues: Sequence[str] | None, limit: int
) -> list[ClaimedJob]:
    """Claim up to ``limit`` runnable jobs in one statement.

    ``queues=None`` means every queue. Paused queues and a paused worker are
    checked by the statement itself, so no cached pause state can race a pause.
    """
    lease_seconds = jobs_settings.LEASE_SECONDS
    queue_filter = f"AND queue IN ({_in(queues)})" if queues else ""
    queue_params = list(queues or [])
    if is_postgres(using):
        sql = f"""
            UPDATE {JOB} SET status = 'running', lease = %s, worker_id = %s,
                attempt = attempt + 1, started_at = now(), updated_at = now(),
                lease_expires_at = now() + make_interval(secs => %s)
            WHERE id IN (
                SELECT id FROM {JOB}
                WHERE status = 'pending' AND run_after <= now() {queue_filter}
                  AND queue NOT IN (SELECT queue FROM {QUEUESTATE} WHERE paused)
                  AND NOT EXISTS (SELECT 1 FROM {WORKER} WHERE id = %s AND paused)
                ORDER BY priority DESC, id LIMIT %s
                FOR UPDATE SKIP LOCKED)
            RETURNING {CLAIM_COLUMNS}"""
        params = [lease, worker_id, lease_seconds, *queue_params, worker_id, limit]
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [CLAIM_LOCK_KEY])
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    else:
        now = timezone.now()
        sql = f"""
            UPDATE {JOB} SET status = 'running', lease = %s, worker_id = %s,
                attempt = attempt + 1, started_at = %s, updated_at = %s, lease_expires_at = %s
            WHERE id IN (
                SELECT id FROM {JOB}
                WHERE status = 'pending' AND run_after <= %s {queue_filter}
                  AND queue NOT IN (SELECT queue FROM {QUEUESTATE} WHERE paused)
                  AND NOT EXISTS (SELECT 1 FROM {WORKER} WHERE id = %s AND paused)
                ORDER BY priority DESC, id LIMIT %s)
            RETURNING {CLAIM_COLUMNS}"""
        stamp = adapt(using, now)
        params = [
            lease,
            worker_id,
            stamp,
            stamp,
            adapt(using, now + timedelta(seconds=lease_seconds)),
            stamp,
            *queue_params,
            worker_id,
            limit,
        ]
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    jobs = [
        ClaimedJob(r[0], r[1], r[2], r[3], _json(r[4]), _json(r[5]), r[6], r[7], r[8], lease) for r in rows
    ]
    jobs.sort(key=lambda j: (-j.priority, j.id))
    return jobs


def queue_pause_lock(using: str) -> None:
    """Inside a queue or worker pause: wait for claims in flight, block new ones until commit."""
    if is_postgres(using):
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK_KEY])


# --------------------------------------------------------------------------- leases


def renew_leases(using: str, owned: dict[int, str]) -> None:
    """Extend the leases this worker still holds, in one statement.

    Rows locked by someone else right now (a pause, a writer) are skipped, not
    waited for: no deadlock, and the next heartbeat comes well before expiry.
    """
    if not owned:
        return
    ids = sorted(owned)
    tokens = sorted(set(owned.values()))
    if is_postgres(using):
        sql = f"""UPDATE {JOB} SET lease_expires_at = now() + make_interval(secs => %s)
                  WHERE id IN (SELECT id FROM {JOB} WHERE id = ANY(%s) AND lease = ANY(%s)
                               ORDER BY id FOR UPDATE SKIP LOCKED)"""
        params: list[Any] = [jobs_settings.LEASE_SECONDS, ids, tokens]
    else:
        expiry = adapt(using, timezone.now() + timedelta(seconds=jobs_settings.LEASE_SECONDS))
        sql = f"""UPDATE {JOB} SET lease_expires_at = %s
                  WHERE id IN ({_in(ids)}) AND lease IN ({_in(tokens)})"""
        params = [expiry, *ids, *tokens]
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)


def owned_subset(using: str, owned: dict[int, str]) -> set[int]:
    """Which of these (id, lease) pairs still own their job (a read, no write)."""
    if not owned:
        return set()
    ids = list(owned)
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT id, lease FROM {JOB} WHERE id IN ({_in(ids)}) AND status = 'running'", ids)
        return {row[0] for row in cursor.fetchall() if owned.get(row[0]) == row[1]}


def reclaim_expired(using: str) -> list[tuple[int, str, int | None]]:
    """Put running jobs whose lease expired (their worker died) back to pending.

    The lost attempt is not counted. A job whose graceful pause was pending is
    paused instead. A job whose workers died ``MAX_RECLAIMS`` times already is
    failed: it is most likely what kills them. Returns (id, new status, fan-out id).
    """
    now = _db_now(using)
    expired = f"status = 'running' AND lease_expires_at < {now}"
    if is_postgres(using):  # skip rows a writer holds: it may be finishing them right now
        where = f"id IN (SELECT id FROM {JOB} WHERE {expired} ORDER BY id FOR UPDATE SKIP LOCKED)"
    else:
        where = expired
    give_up = f"reclaims >= {int(jobs_settings.MAX_RECLAIMS)}"
    pause = f"NOT ({give_up}) AND pause_requested IS NOT NULL"
    sql = f"""UPDATE {JOB} SET
                 status = CASE WHEN {give_up} THEN 'failed'
                               WHEN pause_requested IS NULL THEN 'pending' ELSE 'paused' END,
                 pause_mode = CASE WHEN {pause} THEN pause_requested ELSE pause_mode END,
                 paused_at = CASE WHEN {pause} THEN {now} ELSE paused_at END,
                 finished_at = CASE WHEN {give_up} THEN {now} ELSE finished_at END,
                 pause_requested = NULL,
                 lease = NULL, lease_expires_at = NULL, worker_id = NULL,
                 attempt = CASE WHEN {give_up} OR attempt = 0 THEN attempt ELSE attempt - 1 END,
                 last_error = CASE WHEN {give_up}
                     THEN 'worker lost ' || (reclaims + 1) || ' times while running this job: failed'
                     ELSE 'worker lost: lease expired, job reclaimed' END,
                 reclaims = reclaims + 1,
                 updated_at = {now}
              WHERE {where}
              RETURNING id, status, fanout_id"""
    params = py_now_param(using) * 4
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], row[1], row[2]) for row in cursor.fetchall()]


def fenced_update(using: str, job_id: int, lease: str, assignments: str, params: list[Any]) -> str | None:
    """``UPDATE job SET <assignments> WHERE id AND lease match``; returns the new status.

    ``None`` means the execution no longer owns the job and nothing was written.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(
            # No "status = 'running'" here: a lease is only ever set on a running job,
            # and naming the status would lead the planner to the partial lease index.
            f"UPDATE {JOB} SET {assignments} WHERE id = %s AND lease = %s RETURNING status",
            [*params, job_id, lease],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def touch_owned(using: str, job_id: int, lease: str) -> bool:
    """Inside a transaction: lock the job row if this execution still owns it."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {JOB} WHERE id = %s AND lease = %s"
            + (" FOR NO KEY UPDATE" if is_postgres(using) else ""),
            [job_id, lease],
        )
        return cursor.fetchone() is not None


def now_expression(using: str) -> tuple[str, list[Any]]:
    """SQL for "now" and its parameters: the database clock where there is one."""
    return _db_now(using), py_now_param(using)


# --------------------------------------------------------------------------- outcomes
#
# Each returns the job's new status, or None when the execution no longer owns
# the job (nothing written). A graceful pause requested while the job ran turns
# a retry, a failure or a release into "paused".

_FREE = "lease = NULL, lease_expires_at = NULL, worker_id = NULL"
#: A finished job keeps the id of the worker that ran it last.
_FINISH = "lease = NULL, lease_expires_at = NULL"
_PAUSE_IF_REQUESTED = (
    "status = CASE WHEN pause_requested IS NULL THEN %s ELSE 'paused' END, "
    "pause_mode = CASE WHEN pause_requested IS NULL THEN pause_mode ELSE pause_requested END, "
    "paused_at = CASE WHEN pause_requested IS NULL THEN paused_at ELSE %s END, "
    "pause_requested = NULL"
)


def complete(using: str, job_id: int, lease: str, result: Any) -> str | None:
    now = adapt(using, timezone.now())
    return fenced_update(
        using,
        job_id,
        lease,
        f"status = 'completed', result = %s, {_FINISH}, pause_requested = NULL, paused_at = NULL, "
        "paused_by = '', pause_reason = '', pause_mode = '', finished_at = %s, updated_at = %s",
        [json.dumps(result), now, now],
    )


def lock_jobs(using: str, job_ids: list[int]) -> None:
    """Inside a transaction: lock these job rows in id order (the one order everybody uses)."""
    if job_ids and is_postgres(using):
        with connections[using].cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {JOB} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE", [sorted(job_ids)]
            )


def complete_many(using: str, items: list[tuple[int, str, Any]]) -> set[int]:
    """Complete many (id, lease, result) in one statement; returns the ids still owned."""
    if not is_postgres(using):
        return {job_id for job_id, lease, result in items if complete(using, job_id, lease, result)}
    sql = f"""UPDATE {JOB} AS j SET status = 'completed', result = v.result::jsonb,
                  lease = NULL, lease_expires_at = NULL, pause_requested = NULL,
                  paused_at = NULL, paused_by = '', pause_reason = '', pause_mode = '',
                  finished_at = now(), updated_at = now()
              FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::text[]) AS lease,
                           unnest(%s::text[]) AS result) AS v
              WHERE j.id = v.id AND j.lease = v.lease
              RETURNING j.id"""
    params = [
        [i[0] for i in items],
        [i[1] for i in items],
        [json.dumps(i[2]) for i in items],
    ]
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def fail(using: str, job_id: int, lease: str, error: str, *, pausable: bool = True) -> str | None:
    now = adapt(using, timezone.now())
    if not pausable:
        return fenced_update(
            using,
            job_id,
            lease,
            f"status = 'failed', last_error = %s, {_FINISH}, pause_requested = NULL, "
            "finished_at = %s, updated_at = %s",
            [error, now, now],
        )
    return fenced_update(
        using,
        job_id,
        lease,
        f"{_PAUSE_IF_REQUESTED}, last_error = %s, {_FREE}, "
        "finished_at = CASE WHEN pause_requested IS NULL THEN %s ELSE NULL END, updated_at = %s",
        ["failed", now, error, now, now],
    )


def retry(using: str, job_id: int, lease: str, error: str, run_after: datetime) -> str | None:
    now = adapt(using, timezone.now())
    return fenced_update(
        using,
        job_id,
        lease,
        f"{_PAUSE_IF_REQUESTED}, last_error = %s, run_after = %s, {_FREE}, updated_at = %s",
        ["pending", now, error, adapt(using, run_after), now],
    )


def release(using: str, job_id: int, lease: str) -> str | None:
    """Give back a job this worker will not run now; the attempt does not count."""
    now = adapt(using, timezone.now())
    return fenced_update(
        using,
        job_id,
        lease,
        f"{_PAUSE_IF_REQUESTED}, attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END, "
        f"{_FREE}, updated_at = %s",
        ["pending", now, now],
    )


def suspend(using: str, job_id: int, lease: str) -> str | None:
    """Parent -> waiting on its fan-out (paused if a graceful pause was requested)."""
    return fenced_update(
        using,
        job_id,
        lease,
        "status = CASE WHEN pause_requested IS NULL THEN 'waiting' ELSE 'paused' END, "
        "pause_mode = CASE WHEN pause_requested IS NULL THEN pause_mode ELSE pause_requested END, "
        "paused_at = CASE WHEN pause_requested IS NULL THEN paused_at ELSE %s END, "
        "pause_requested = NULL, lease = NULL, lease_expires_at = NULL, worker_id = NULL, "
        "attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END, updated_at = %s",
        [adapt(using, timezone.now()), adapt(using, timezone.now())],
    )


# --------------------------------------------------------------------------- workflows


def load_history(using: str, job_id: int) -> tuple[dict[int, tuple[str, Any]], set[int]]:
    """One round trip: ``{step: (target, value)}`` of the checkpoints, and the fan-out steps."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"""SELECT 'c', "index", target, value FROM {CHECKPOINT} WHERE job_id = %s
                UNION ALL SELECT 'f', "index", '', NULL FROM {FANOUT} WHERE parent_id = %s""",
            [job_id, job_id],
        )
        rows = cursor.fetchall()
    checkpoints = {r[1]: (r[2], _json(r[3])) for r in rows if r[0] == "c"}
    return checkpoints, {r[1] for r in rows if r[0] == "f"}


def save_checkpoint(using: str, job_id: int, lease: str, step: int, target: str, value: Any) -> bool:
    """Save a call() result if this execution still owns the job; one statement.

    On PostgreSQL the job row is locked by the statement itself, so a pause or
    reclaim that commits first makes it insert nothing.
    """
    lock = " FOR NO KEY UPDATE" if is_postgres(using) else ""
    now, now_params = now_expression(using)
    sql = (
        f"WITH owner AS (SELECT id FROM {JOB} WHERE id = %s AND lease = %s{lock}) "
        f'INSERT INTO {CHECKPOINT} (job_id, "index", target, value, created_at) '
        f"SELECT id, %s, %s, %s, {now} FROM owner RETURNING id"
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [job_id, lease, step, target, json.dumps(value), *now_params])
        return cursor.fetchone() is not None
