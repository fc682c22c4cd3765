"""Fleet-wide concurrency limits at claim time (issue 13), without a worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from demo import jobs as demo
from django.utils import timezone

from django_durable_jobs import InvalidValue, Limit, job
from django_durable_jobs.models import Job, Status
from django_durable_jobs.state import execution

pytestmark = pytest.mark.django_db(transaction=True)


def claim(limit: int = 50) -> list[int]:
    return [j.id for j in execution.claim("default", "w", None, limit)]


def finish(ids: list[int]) -> None:
    Job.objects.filter(pk__in=ids).update(status=Status.COMPLETED, lease=None)


def test_a_limit_caps_what_runs_at_once_and_frees_as_jobs_end() -> None:
    jobs = [demo.limited.enqueue() for _ in range(5)]
    free = demo.add.enqueue(1, 2)
    first = claim()
    assert sorted(first) == sorted([jobs[0].pk, jobs[1].pk, free.pk])
    assert claim() == []
    finish([jobs[0].pk])
    assert claim() == [jobs[2].pk]
    row = Job.objects.get(pk=jobs[0].pk)
    assert (row.concurrency_key, row.concurrency_limit) == ("demo.limited", 2)


def test_a_full_key_does_not_hold_up_other_keys_and_order_holds_within_a_key() -> None:
    a1, a2, b1, a3, b2 = (demo.per_customer.enqueue(c) for c in (1, 1, 2, 1, 2))
    low = demo.per_customer.enqueue(3)
    high = demo.per_customer.using(priority=5).enqueue(3)
    assert set(claim()) == {a1.pk, b1.pk, high.pk}
    assert claim() == []
    finish([a1.pk, high.pk])
    assert set(claim()) == {a2.pk, low.pk}
    finish([a2.pk, b1.pk])
    assert set(claim()) == {a3.pk, b2.pk}
    assert Job.objects.get(pk=a1.pk).concurrency_key == "demo.per_customer|customer:1"


def test_the_claim_batch_size_still_applies() -> None:
    for c in range(10):
        demo.per_customer.enqueue(c)
    assert len(claim(4)) == 4
    assert len(claim(50)) == 6


def test_a_dead_workers_slot_comes_back_when_its_job_is_reclaimed() -> None:
    first, second = demo.limited.enqueue(), demo.limited.enqueue()
    third = demo.limited.enqueue()
    assert claim() == [first.pk, second.pk]
    Job.objects.filter(pk=first.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert claim() == []
    execution.reclaim_expired("default")
    assert claim() == [first.pk]  # back to pending, first in line again
    finish([second.pk])
    assert claim() == [third.pk]


def test_limits_are_checked_where_they_are_declared() -> None:
    with pytest.raises(InvalidValue, match=r"^concurrency: 0 is outside 1\.\.2147483647$"):
        Limit(0)
    with pytest.raises(InvalidValue, match=r"uses \{tenant\}, which is not an argument of job 'x'"):

        @job("x", concurrency=Limit(1, key="{tenant}"))
        def x(customer: int) -> None: ...

    with pytest.raises(InvalidValue, match=r"^concurrency key: .* is longer than 255 characters$"):
        demo.per_customer.enqueue("c" * 300)
