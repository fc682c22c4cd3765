"""Delayed jobs stay out of the claim's index until due (issue 12): the claim
stages them itself, so none is claimed early or late, and none is walked while
it waits."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from demo import jobs as demo
from django.db import connection
from django.utils import timezone

from django_durable_jobs.models import Job, Status
from django_durable_jobs.state import execution
from django_durable_jobs.state.execution import Outcome
from django_durable_jobs.storage import engine

pytestmark = pytest.mark.django_db(transaction=True)


def claim(limit: int = 10) -> list[int]:
    return [job.id for job in execution.claim("default", "w", None, limit)]


def test_a_delayed_job_is_marked_and_claimed_only_once_due() -> None:
    later = demo.add.using(run_after=timedelta(hours=1)).enqueue(1, 2)
    now = demo.add.enqueue(3, 4)
    assert Job.objects.get(pk=later.pk).delayed and not Job.objects.get(pk=now.pk).delayed
    assert claim() == [now.pk]
    assert claim() == []
    Job.objects.filter(pk=later.pk).update(run_after=timezone.now() - timedelta(seconds=1))
    assert claim() == [later.pk]  # staged and claimed by the same claim
    assert not Job.objects.get(pk=later.pk).delayed


def test_staged_jobs_keep_priority_and_enqueue_order() -> None:
    past = timezone.now() - timedelta(seconds=1)
    a = demo.add.using(run_after=timedelta(hours=1)).enqueue(0, 0)
    b = demo.add.enqueue(0, 0)
    c = demo.add.using(run_after=timedelta(hours=1), priority=5).enqueue(0, 0)
    Job.objects.filter(pk__in=[a.pk, c.pk]).update(run_after=past)
    assert claim() == [c.pk, a.pk, b.pk]


def test_a_retry_waiting_out_its_backoff_is_delayed() -> None:
    job = demo.add.using(retries=1).enqueue(0, 0)
    [claimed] = execution.claim("default", "w", None, 1)
    run_after = timezone.now() + timedelta(minutes=5)
    outcome = Outcome("retry", claimed.id, claimed.lease, None, error="boom", run_after=run_after)
    assert execution.record("default", [outcome]) == [Status.PENDING]
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.delayed) == (Status.PENDING, True)
    assert claim() == []
    Job.objects.filter(pk=job.pk).update(run_after=timezone.now())
    assert claim() == [job.pk]


@pytest.mark.postgres_only
def test_a_claim_does_not_walk_the_delayed_backlog() -> None:
    """The plan, not a timing: with 2,000 delayed rows sorted ahead, the claim's index scan
    visits ready rows only (whichever scan the planner picks)."""
    demo.add.using(run_after=timedelta(days=1), priority=9).enqueue_many([((0, 0), {})] * 2000)
    ready = demo.add.enqueue_many([((0, 0), {})] * 50)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE durable_jobs_job")
        engine("default").stage_due(cursor)
        cursor.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT id FROM durable_jobs_job WHERE status = 'pending' AND "
            "NOT delayed AND run_after <= now() AND concurrency_key IS NULL AND rate_key IS NULL "
            "ORDER BY priority DESC, id LIMIT 10 FOR UPDATE SKIP LOCKED"
        )
        plan = cursor.fetchone()[0]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    scans = []

    def walk(node: dict) -> None:
        if "Index Name" in node:
            scans.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    assert [s["Index Name"] for s in scans] == ["durable_jobs_ready_any"], scans
    assert scans[0]["Actual Rows"] <= len(ready) and scans[0].get("Rows Removed by Filter", 0) == 0, scans
    assert claim(10) == [job.pk for job in ready[:10]]


def test_a_worker_stages_at_most_every_stage_every_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each statement costs a claim about a millisecond of planning: staging is throttled."""
    from django_durable_jobs.storage.claims import Claims

    monkeypatch.setattr(Claims, "STAGE_EVERY", 60.0)
    eng = engine("default")
    monkeypatch.setattr(eng, "_staged_at", -1e9)
    calls = []
    original = eng.stage_due
    monkeypatch.setattr(eng, "stage_due", lambda cursor: calls.append(1) or original(cursor))
    for _ in range(3):
        claim()
    assert calls == [1]


@pytest.mark.postgres_only
def test_a_claim_outside_a_transaction_is_one_round_trip(django_assert_num_queries, monkeypatch) -> None:
    """Lock, staging and update go as one multi-statement query: one implicit transaction.

    (Unless it also looks for jobs under a concurrency or rate limit: at most
    every ``LIMITED_RECHECK`` seconds while none is waiting.)
    """
    import time

    monkeypatch.setattr(engine("default"), "_no_limited_until", time.monotonic() + 60)
    jobs = [demo.add.enqueue(i, 0) for i in range(3)]
    with django_assert_num_queries(1):
        assert claim() == [j.pk for j in jobs]
    assert set(Job.objects.values_list("status", flat=True)) == {Status.RUNNING}


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.postgres_only
def test_a_claim_commits_without_waiting_for_its_flush_but_only_its_own_transaction(
    django_assert_max_num_queries,
) -> None:
    """A lost claim only makes its job run again, as a lost lease would: its commit need not
    wait for the WAL flush. The setting is the transaction's, never the session's, and a
    claim inside a caller's transaction leaves that transaction's durability alone."""
    from django.db import transaction

    def claimed_relaxed() -> bool:
        with django_assert_max_num_queries(10) as queries:
            assert len(claim()) == 1
        return any("'synchronous_commit', 'off', true" in q["sql"] for q in queries.captured_queries)

    demo.add.enqueue(1, 0)
    assert claimed_relaxed()
    assert synchronous_commit() == "on"  # the next transaction of this connection waits again
    demo.add.enqueue(2, 0)
    with transaction.atomic():
        assert not claimed_relaxed()
        assert synchronous_commit() == "on"


def test_a_pool_of_several_queues_claims_across_them_in_claim_order_and_nothing_else() -> None:
    """On PostgreSQL each queue's part of the index is read on its own (a LATERAL per queue)."""
    demo.add.using(queue="big").enqueue_many([((i, 0), {}) for i in range(50)])
    low_a = demo.add.using(queue="a").enqueue(1, 0)
    high_a = demo.add.using(queue="a", priority=5).enqueue(2, 0)
    mid_b = demo.add.using(queue="b", priority=3).enqueue(3, 0)
    later_b = demo.add.using(queue="b", priority=3).enqueue(4, 0)
    first = [j.id for j in execution.claim("default", "w", ["a", "b"], 3)]
    assert first == [high_a.pk, mid_b.pk, later_b.pk]
    assert [j.id for j in execution.claim("default", "w", ["b", "a"], 10)] == [low_a.pk]
    assert not Job.objects.filter(queue="big").exclude(status=Status.PENDING).exists()
