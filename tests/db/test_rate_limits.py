"""Fleet-wide rate limits at claim time (issue 13), without a worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from demo import jobs as demo
from django.test import override_settings
from django.utils import timezone

from django_durable_jobs import InvalidValue, RateLimit, job
from django_durable_jobs.conf import check_settings
from django_durable_jobs.models import Job
from django_durable_jobs.state import execution

pytestmark = pytest.mark.django_db(transaction=True)


def claim(limit: int = 50) -> list[int]:
    return [j.id for j in execution.claim("default", "w", None, limit)]


def test_a_rate_allows_so_many_starts_per_window_then_more_as_it_slides() -> None:
    jobs = demo.rated.enqueue_many([((i,), {}) for i in range(30)])
    first = claim()
    assert first == [j.pk for j in jobs[:20]]
    assert claim() == []
    assert 0.8 < execution.next_permit_in("default", None) <= 1.0, "when the first start leaves the window"
    Job.objects.filter(pk__in=first[:5]).update(started_at=timezone.now() - timedelta(seconds=2))
    assert execution.next_permit_in("default", None) == pytest.approx(0.05), "permits free: a spacing"
    assert claim() == [j.pk for j in jobs[20:25]]  # five starts left the window
    row = Job.objects.get(pk=jobs[0].pk)
    assert (row.rate_key, row.rate_limit, row.rate_period) == ("demo.rated", 20, 1.0)


def test_a_rate_per_key_lets_other_keys_through() -> None:
    a = [demo.rated_per_tenant.enqueue("a") for _ in range(3)]
    b = demo.rated_per_tenant.enqueue("b")
    plain = demo.add.enqueue(1, 2)
    assert set(claim()) == {a[0].pk, a[1].pk, b.pk, plain.pk}
    assert claim() == []
    assert Job.objects.get(pk=b.pk).rate_key == "demo.rated_per_tenant|tenant:b"


@override_settings(DURABLE_JOBS={"QUEUES": {"emails": {"rate_limit": "2/m"}}})
def test_a_queue_rate_from_the_queues_setting() -> None:
    jobs = [demo.add.using(queue="emails").enqueue(i, i) for i in range(3)]
    other = demo.add.enqueue(0, 0)
    assert set(claim()) == {jobs[0].pk, jobs[1].pk, other.pk}
    assert (Job.objects.get(pk=jobs[2].pk).rate_key, Job.objects.get(pk=jobs[2].pk).rate_period) == (
        "queue:emails",
        60.0,
    )


@pytest.mark.parametrize("rate", ["0/s", "x/s", "5/q", "5/0s", "-1/m"])
def test_bad_rates_are_refused_where_they_are_written(rate: str) -> None:
    with pytest.raises(InvalidValue, match=r"^rate_limit: .* is not a rate like '100/m', '10/s' or '5/10s'$"):
        job("bad-rate", rate_limit=rate)(lambda: None)
    with pytest.raises(InvalidValue, match="is not an argument of job 'keyed'"):
        job("keyed", rate_limit=RateLimit("1/s", key="{tenant}"))(lambda other: None)


@pytest.mark.parametrize(
    "queues, message",
    [
        ({"emails": {"rate_limit": "fast"}}, "rate_limit: 'fast' is not a rate"),
        ({"emails": {"burst": 3}}, "may only set 'rate_limit'"),
        ({"a:b": {}}, "may not contain ':' or ','"),
        ([("emails", {})], "must be a dict"),
    ],
)
def test_bad_queues_settings_are_reported(settings, queues, message) -> None:
    settings.DURABLE_JOBS = {"QUEUES": queues}
    errors = check_settings()
    assert [e.id for e in errors] == ["durable_jobs.E012"] and message in errors[0].msg, errors
