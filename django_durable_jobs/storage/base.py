"""The storage engine interface and the SQL both dialects share.

Internal module. Only the state machine (:mod:`django_durable_jobs.state`)
calls an engine; an engine is the only code that writes SQL by hand. Each
dialect subclasses :class:`Engine` and overrides what it does differently
(the clock, row locks, bulk statements, notifications).

Fencing: every write made on behalf of a running execution names the
execution's lease token, so a paused, cancelled or reclaimed job ignores
writes from an execution that no longer owns it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from ..conf import jobs_settings
from ..models import Checkpoint, FanOut, Job, JobTypeState, QueueState, Worker
from .claims import Claims
from .metrics import Metrics
from .parking import Parking
from .sql import from_json, placeholders
from .stats import Stats

#: Turns a retry, a failure, a release or a suspension into "paused" when a
#: graceful pause was requested while the attempt ran. Parameters: the status
#: otherwise, then the pause time.
PAUSE_IF_REQUESTED = (
    "status = CASE WHEN pause_requested IS NULL THEN %s ELSE 'paused' END, "
    "pause_mode = CASE WHEN pause_requested IS NULL THEN pause_mode ELSE pause_requested END, "
    "paused_at = CASE WHEN pause_requested IS NULL THEN paused_at ELSE %s END, "
    "pause_requested = NULL"
)
FREE = "lease = NULL, lease_expires_at = NULL, worker_id = NULL"
#: A finished job keeps the id of the worker that ran it last.
FINISH = "lease = NULL, lease_expires_at = NULL, pause_requested = NULL"
UNCOUNT = "attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END"


class Engine(Claims, Stats, Parking, Metrics):
    """Storage operations on the job tables of one database alias."""

    vendor = ""
    #: Appended to a SELECT that must lock the row it reads ("" where the
    #: whole database is locked by the transaction, as on SQLite).
    row_lock = ""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    # ------------------------------------------------------------ plumbing

    @cached_property
    def tables(self) -> dict[str, str]:
        models = {"job": Job, "fanout": FanOut, "checkpoint": Checkpoint, "queue": QueueState}
        models.update(job_type=JobTypeState, worker=Worker)
        return {name: model._meta.db_table for name, model in models.items()}

    def cursor(self) -> Any:
        # connections[...] is per thread: look it up at each use.
        return connections[self.alias].cursor()

    def atomic(self) -> transaction.Atomic:
        return transaction.atomic(using=self.alias)

    def adapt(self, value: datetime | None) -> Any:
        """A datetime as the driver wants it in a raw statement."""
        return connections[self.alias].ops.adapt_datetimefield_value(value)

    def now(self) -> tuple[str, list[Any]]:
        """SQL for "now" and its parameters: the database clock where there is one."""
        raise NotImplementedError

    def now_plus(self, seconds: float) -> tuple[str, list[Any]]:
        raise NotImplementedError

    # ------------------------------------------------------------ notifications

    def notify_work(self, queues: Iterable[str]) -> None:
        """Wake workers of ``queues`` when the current transaction commits (if the dialect can)."""

    #: Notification channels a worker listens on (none: the dialect cannot notify; workers poll).
    listen_channels: tuple[str, ...] = ()
    work_channel = ""

    def notify_control(self) -> None:
        """Wake every worker to re-read pauses and leases now (on commit, if the dialect can)."""

    # ------------------------------------------------------------ insert, claim, locks

    def insert_jobs(self, jobs: list[Job]) -> None:
        """Insert new Job rows (setting their ids) and wake their queues' workers on commit."""
        Job.objects.using(self.alias).bulk_create(jobs)
        self.notify_work({job.queue for job in jobs})

    def insert_stream(self, jobs: Iterable[Job], count: int) -> list[Job]:
        """Insert the ``count`` jobs ``jobs`` builds, as :meth:`insert_jobs`; returns them.

        Inside a transaction: ``jobs`` may raise (a bad item), and an engine
        may have written some rows by then.
        """
        built = list(jobs)
        self.insert_jobs(built)
        return built

    def lock_jobs(self, job_ids: list[int]) -> None:
        """Inside a transaction: lock these job rows in id order."""

    def touch_owned(self, job_id: int, lease: str) -> bool:
        """Inside a transaction: lock the job row if this execution still owns it."""
        with self.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {self.tables['job']} WHERE id = %s AND lease = %s{self.row_lock}",
                [job_id, lease],
            )
            return cursor.fetchone() is not None

    # ------------------------------------------------------------ leases

    def renew_leases(self, owned: dict[int, str]) -> None:
        """Extend the leases this worker still holds, in one statement."""
        if not owned:
            return
        ids, tokens = sorted(owned), sorted(set(owned.values()))
        expires, params = self.now_plus(jobs_settings.LEASE_SECONDS)
        with self.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self.tables['job']} SET lease_expires_at = {expires} "
                f"WHERE id IN ({placeholders(ids)}) AND lease IN ({placeholders(tokens)})",
                [*params, *ids, *tokens],
            )

    def owned_subset(self, owned: dict[int, str]) -> set[int]:
        """Which of these (id, lease) pairs still own their job (a read, no write)."""
        if not owned:
            return set()
        ids = list(owned)
        with self.cursor() as cursor:
            cursor.execute(
                f"SELECT id, lease FROM {self.tables['job']} "
                f"WHERE id IN ({placeholders(ids)}) AND status = 'running'",
                ids,
            )
            return {row[0] for row in cursor.fetchall() if owned.get(row[0]) == row[1]}

    def expired_where(self) -> tuple[str, list[Any]]:
        now, params = self.now()
        return f"status = 'running' AND lease_expires_at < {now}", params

    def reclaim_expired(self) -> list[tuple[int, str, int | None]]:
        """Put running jobs whose lease expired back to pending; returns (id, status, fan-out id).

        The lost attempt is not counted. A job whose graceful pause was
        pending is paused instead. A job whose workers died ``MAX_RECLAIMS``
        times already is failed: it is most likely what kills them.
        """
        now, now_params = self.now()
        where, where_params = self.expired_where()
        give_up = f"reclaims >= {int(jobs_settings.MAX_RECLAIMS)}"
        pause = f"NOT ({give_up}) AND pause_requested IS NOT NULL"
        sql = f"""UPDATE {self.tables["job"]} SET
                 status = CASE WHEN {give_up} THEN 'failed'
                               WHEN pause_requested IS NULL THEN 'pending' ELSE 'paused' END,
                 pause_mode = CASE WHEN {pause} THEN pause_requested ELSE pause_mode END,
                 paused_at = CASE WHEN {pause} THEN {now} ELSE paused_at END,
                 finished_at = CASE WHEN {give_up} THEN {now} ELSE finished_at END,
                 pause_requested = NULL, {FREE},
                 attempt = CASE WHEN {give_up} OR attempt = 0 THEN attempt ELSE attempt - 1 END,
                 last_error = CASE WHEN {give_up}
                     THEN 'worker lost ' || (reclaims + 1) || ' times while running this job: failed'
                     ELSE 'worker lost: lease expired, job reclaimed' END,
                 reclaims = reclaims + 1,
                 updated_at = {now}
              WHERE {where}
              RETURNING id, status, fanout_id"""
        with self.atomic(), self.cursor() as cursor:
            cursor.execute(sql, [*now_params, *now_params, *now_params, *where_params])
            return [(row[0], row[1], row[2]) for row in cursor.fetchall()]

    # ------------------------------------------------------------ outcomes
    #
    # Each returns the job's new status, or None when the execution no longer
    # owns the job (nothing written).

    def fenced_update(self, job_id: int, lease: str, assignments: str, params: list[Any]) -> str | None:
        """``UPDATE job SET <assignments> WHERE id AND lease match``; returns the new status."""
        with self.cursor() as cursor:
            cursor.execute(
                # No "status = 'running'": a lease is only ever set on a running job,
                # and naming the status would lead the planner to the partial lease index.
                f"UPDATE {self.tables['job']} SET {assignments} "
                "WHERE id = %s AND lease = %s RETURNING status",
                [*params, job_id, lease],
            )
            row = cursor.fetchone()
        return row[0] if row else None

    def complete(self, job_id: int, lease: str, result: Any) -> str | None:
        now = self.adapt(timezone.now())
        return self.fenced_update(
            job_id,
            lease,
            f"status = 'completed', result = %s, {FINISH}, paused_at = NULL, paused_by = '', "
            "pause_reason = '', pause_mode = '', finished_at = %s, updated_at = %s",
            [json.dumps(result), now, now],
        )

    def complete_many(self, items: list[tuple[int, str, Any]]) -> set[int]:
        """Complete many (id, lease, result); returns the ids still owned."""
        return {job_id for job_id, lease, result in items if self.complete(job_id, lease, result)}

    def fail(self, job_id: int, lease: str, error: str, *, pausable: bool = True) -> str | None:
        now = self.adapt(timezone.now())
        if not pausable:
            return self.fenced_update(
                job_id,
                lease,
                f"status = 'failed', last_error = %s, {FINISH}, finished_at = %s, updated_at = %s",
                [error, now, now],
            )
        return self.fenced_update(
            job_id,
            lease,
            f"{PAUSE_IF_REQUESTED}, last_error = %s, {FREE}, "
            "finished_at = CASE WHEN pause_requested IS NULL THEN %s ELSE NULL END, updated_at = %s",
            ["failed", now, error, now, now],
        )

    def retry(self, job_id: int, lease: str, error: str, run_after: datetime) -> str | None:
        now = self.adapt(timezone.now())
        return self.fenced_update(
            job_id,
            lease,
            f"{PAUSE_IF_REQUESTED}, last_error = %s, run_after = %s, delayed = %s, {FREE}, updated_at = %s",
            ["pending", now, error, self.adapt(run_after), run_after > timezone.now(), now],
        )

    def snooze(self, job_id: int, lease: str, run_after: datetime) -> str | None:
        """The handler said "not now": pending again at ``run_after``, the attempt not counted."""
        now = self.adapt(timezone.now())
        return self.fenced_update(
            job_id,
            lease,
            f"{PAUSE_IF_REQUESTED}, {UNCOUNT}, {FREE}, run_after = %s, delayed = %s, "
            "snoozes = snoozes + 1, updated_at = %s",
            ["pending", now, self.adapt(run_after), run_after > timezone.now(), now],
        )

    def release(self, job_id: int, lease: str) -> str | None:
        """Give back a job this worker will not run now; the attempt does not count."""
        now = self.adapt(timezone.now())
        return self.fenced_update(
            job_id, lease, f"{PAUSE_IF_REQUESTED}, {UNCOUNT}, {FREE}, updated_at = %s", ["pending", now, now]
        )

    def suspend(self, job_id: int, lease: str) -> str | None:
        """Parent -> waiting on its fan-out (paused if a graceful pause was requested)."""
        now = self.adapt(timezone.now())
        return self.fenced_update(
            job_id, lease, f"{PAUSE_IF_REQUESTED}, {UNCOUNT}, {FREE}, updated_at = %s", ["waiting", now, now]
        )

    def save_progress(self, job_id: int, lease: str, done: int, total: int | None, message: str) -> bool:
        """Record what a running handler reports, if its execution still owns the job.

        ``progress_at`` is on the clock ``started_at`` is on, so the two give a rate.
        """
        now, now_params = self.now()
        assignments = f"progress_done = %s, progress_total = %s, progress_message = %s, progress_at = {now}"
        return self.fenced_update(job_id, lease, assignments, [done, total, message, *now_params]) is not None

    # ------------------------------------------------------------ workflows

    def load_history(self, job_id: int) -> tuple[dict[int, tuple[str, Any]], set[int]]:
        """One round trip: ``{step: (target, value)}`` of the checkpoints, and the fan-out steps."""
        with self.cursor() as cursor:
            cursor.execute(
                f"""SELECT 'c', "index", target, value FROM {self.tables["checkpoint"]}
                    WHERE job_id = %s
                    UNION ALL SELECT 'f', "index", '', NULL FROM {self.tables["fanout"]}
                    WHERE parent_id = %s""",
                [job_id, job_id],
            )
            rows = cursor.fetchall()
        checkpoints = {r[1]: (r[2], from_json(r[3])) for r in rows if r[0] == "c"}
        return checkpoints, {r[1] for r in rows if r[0] == "f"}

    def save_checkpoint(self, job_id: int, lease: str, step: int, target: str, value: Any) -> bool:
        """Save a call() result if this execution still owns the job; one statement.

        Where rows are locked, the statement locks the job row itself, so a
        pause or reclaim that commits first makes it insert nothing.
        """
        now, now_params = self.now()
        sql = (
            f"WITH owner AS (SELECT id FROM {self.tables['job']} "
            f"WHERE id = %s AND lease = %s{self.row_lock}) "
            f'INSERT INTO {self.tables["checkpoint"]} (job_id, "index", target, value, created_at) '
            f"SELECT id, %s, %s, %s, {now} FROM owner RETURNING id"
        )
        with self.cursor() as cursor:
            cursor.execute(sql, [job_id, lease, step, target, json.dumps(value), *now_params])
            return cursor.fetchone() is not None
