"""The SQL of retention: which finished jobs have expired, and deleting them.

Internal module; :mod:`django_durable_jobs.state.retention` drives it. Every
function takes the :class:`~.base.Engine` of the job database.

**One pruner at a time.** On PostgreSQL each batch's transaction first takes
a transaction-scoped advisory lock (:data:`LOCK_KEY`): a worker that does not
get it at once leaves pruning to the one that has it. Session locks are never
used: they would not survive PgBouncer in transaction mode. On SQLite every
write transaction holds the database's one write lock (``BEGIN IMMEDIATE``),
so two batches never overlap there either.

**What may go.** A job is expired when a :class:`Rule` matches it (its status,
its queue, finished before the rule's cutoff) and it does not count towards a
rate limit's window any more. A *workflow* (a root job, its fan-outs and all
their children, however deeply nested) goes as a whole, once every job in it
has expired; its children are never pruned on their own, so a child of an
unfinished parent, or of a parent that may still be retried, stays. The
newest fire of each schedule stays, whatever its age: the scheduler looks
for it to know that fire was enqueued (``scheduling.firing._fire``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .base import Engine

LOCK_KEY = 0x7072756E  # "prun"


@dataclass(frozen=True)
class Rule:
    """Jobs in ``status`` finished before ``cutoff``, in ``queues`` (None: any) but not in ``exclude``."""

    status: str
    cutoff: datetime
    queues: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()


def take_lock(engine: Engine, *, wait: bool) -> bool:
    """Inside a transaction: the pruners' lock, released at commit (or at once on SQLite).

    Also turns JIT off for the transaction: the picking query's estimate is
    high enough to make PostgreSQL compile it, which costs more than it runs.
    """
    if engine.vendor != "postgresql":
        return True
    with engine.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
        return bool(cursor.fetchone()[0])


def in_ids(engine: Engine, column: str, ids: Iterable[int]) -> tuple[str, list[Any]]:
    """``column`` is one of ``ids``: one parameter however many ids."""
    ids = list(ids)
    if engine.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", [ids]
    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps(ids)]


def _in(column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def expired(engine: Engine, rules: Sequence[Rule], alias: str = "j") -> tuple[str, list[Any]]:
    """SQL true for a row ``alias`` of the job table that a rule matches and no rate window counts."""
    terms, params = [], []
    for rule in rules:
        term = f"{alias}.status = %s AND COALESCE({alias}.finished_at, {alias}.updated_at) < %s"
        term_params: list[Any] = [rule.status, engine.adapt(rule.cutoff)]
        if rule.queues is not None:
            sql, values = _in(f"{alias}.queue", rule.queues)
            term, term_params = f"{term} AND {sql}", [*term_params, *values]
        if rule.exclude:
            sql, values = _in(f"{alias}.queue", rule.exclude)
            term, term_params = f"{term} AND NOT {sql}", [*term_params, *values]
        terms.append(f"({term})")
        params.extend(term_params)
    if not terms:
        return "1 = 0", []
    # A limited claim counts the starts of each rate key within its window: keep those rows.
    window = engine.seconds_ago(f"COALESCE({alias}.rate_period, 0)")
    rate = f"({alias}.rate_key IS NULL OR {alias}.started_at IS NULL OR {alias}.started_at < {window})"
    return f"({' OR '.join(terms)}) AND {rate}", params


def count_expired(engine: Engine, rules: Sequence[Rule]) -> int:
    """Jobs a rule matches (children included): the progress bar's total."""
    where, params = expired(engine, rules)
    with engine.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {engine.tables['job']} j WHERE {where}", params)
        return int(cursor.fetchone()[0])


def id_range(engine: Engine) -> tuple[int, int]:
    """The lowest and highest job ids ((0, 0) without jobs): where a prune starts and stops."""
    with engine.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {engine.tables['job']}")
        first, last = cursor.fetchone()
        return int(first or 0), int(last or 0)


def next_roots(
    engine: Engine, rules: Sequence[Rule], after: int, upto: int, limit: int
) -> list[tuple[int, bool]]:
    """Up to ``limit`` expired jobs with an id in ``after+1..upto`` that no fan-out owns, in id order.

    Each is ``(id, has_fanouts)``. The newest fire of each schedule is left out.
    """
    job, fanout = engine.tables["job"], engine.tables["fanout"]
    where, params = expired(engine, rules)
    sql = f"""SELECT j.id, EXISTS (SELECT 1 FROM {fanout} f WHERE f.parent_id = j.id)
              FROM {job} j
              WHERE j.id > %s AND j.id <= %s AND j.fanout_id IS NULL AND {where}
                AND (j.schedule IS NULL OR j.scheduled_for IS NULL OR EXISTS (
                     SELECT 1 FROM {job} later
                     WHERE later.schedule = j.schedule AND later.scheduled_for > j.scheduled_for))
              ORDER BY j.id LIMIT %s"""
    with engine.cursor() as cursor:
        cursor.execute(sql, [after, upto, *params, limit])
        return [(row[0], bool(row[1])) for row in cursor.fetchall()]


def descendants(
    engine: Engine, rules: Sequence[Rule], roots: Sequence[int]
) -> dict[int, list[tuple[int, int, bool]]]:
    """Every job below each root, through its fan-outs at any depth: ``root -> [(id, depth, expired)]``."""
    if not roots:
        return {}
    job, fanout = engine.tables["job"], engine.tables["fanout"]
    where, params = expired(engine, rules)
    top, top_params = in_ids(engine, "f.parent_id", roots)
    sql = f"""WITH RECURSIVE tree(root, id, depth) AS (
                  SELECT f.parent_id, c.id, 1 FROM {fanout} f JOIN {job} c ON c.fanout_id = f.id
                  WHERE {top}
                  UNION ALL
                  SELECT t.root, c.id, t.depth + 1
                  FROM tree t JOIN {fanout} f ON f.parent_id = t.id JOIN {job} c ON c.fanout_id = f.id)
              SELECT t.root, t.id, t.depth, CASE WHEN {where} THEN 1 ELSE 0 END
              FROM tree t JOIN {job} j ON j.id = t.id"""
    found: dict[int, list[tuple[int, int, bool]]] = {root: [] for root in roots}
    with engine.cursor() as cursor:
        cursor.execute(sql, [*top_params, *params])
        for root, job_id, depth, is_expired in cursor.fetchall():
            found[root].append((job_id, depth, bool(is_expired)))
    return found


def count_dependents(engine: Engine, ids: Sequence[int]) -> tuple[int, int]:
    """(checkpoints, fan-outs) that belong to these jobs."""
    checkpoint, fanout = engine.tables["checkpoint"], engine.tables["fanout"]
    with engine.cursor() as cursor:
        where, params = in_ids(engine, "job_id", ids)
        cursor.execute(f"SELECT count(*) FROM {checkpoint} WHERE {where}", params)
        checkpoints = int(cursor.fetchone()[0])
        where, params = in_ids(engine, "parent_id", ids)
        cursor.execute(f"SELECT count(*) FROM {fanout} WHERE {where}", params)
        return checkpoints, int(cursor.fetchone()[0])


def delete(engine: Engine, rules: Sequence[Rule], ids: Sequence[int]) -> tuple[int, int, int] | None:
    """Inside a transaction: delete these jobs, their checkpoints and their fan-outs.

    Returns (jobs, checkpoints, fan-outs) deleted, or None when a job no
    longer matches a rule (retried since it was picked, say): the caller
    must then roll the transaction back. Locks follow the state machine's
    order: fan-out rows first, then job rows by ascending id. The caller
    passes whole workflows, or the deepest part of one: every child of a
    deleted fan-out is deleted with it (the foreign keys are checked at commit).
    """
    job, fanout, checkpoint = engine.tables["job"], engine.tables["fanout"], engine.tables["checkpoint"]
    where, params = expired(engine, rules)
    with engine.cursor() as cursor:
        sql, id_params = in_ids(engine, "parent_id", ids)
        cursor.execute(f"DELETE FROM {fanout} WHERE {sql}", id_params)
        fanouts = cursor.rowcount
        if engine.vendor == "postgresql":  # lock the jobs in id order, each re-checked once locked
            sql, id_params = in_ids(engine, "j.id", ids)
            cursor.execute(
                f"SELECT count(*) FROM (SELECT j.id FROM {job} j WHERE {sql} AND {where} "
                "ORDER BY j.id FOR UPDATE) AS locked",
                [*id_params, *params],
            )
            if cursor.fetchone()[0] != len(ids):
                return None
        sql, id_params = in_ids(engine, "job_id", ids)
        cursor.execute(f"DELETE FROM {checkpoint} WHERE {sql}", id_params)
        checkpoints = cursor.rowcount
        sql, id_params = in_ids(engine, "j.id", ids)
        cursor.execute(f"DELETE FROM {job} AS j WHERE {sql} AND {where}", [*id_params, *params])
        if cursor.rowcount != len(ids):
            return None
        return cursor.rowcount, checkpoints, fanouts
