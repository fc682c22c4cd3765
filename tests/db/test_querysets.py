"""``Job.objects`` and ``Worker.objects``: the queries the admin and ``durablejobs status`` share."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import OuterRef, QuerySet
from django.test import override_settings
from django.utils import timezone

from django_durable_jobs.conf import jobs_settings
from django_durable_jobs.models import Job, Worker
from django_durable_jobs.querysets import JobQuerySet, WorkerQuerySet

from ..factories import JobFactory, WorkerFactory

pytestmark = pytest.mark.django_db


def jobs() -> JobQuerySet:
    return Job.objects.using(jobs_settings.DATABASE)


def workers() -> WorkerQuerySet:
    return Worker.objects.using(jobs_settings.DATABASE)


def ids(queryset: QuerySet) -> set[Any]:
    return set(queryset.values_list("id", flat=True))


# --------------------------------------------------------------------------- alive and dead


def test_alive_is_not_stopped_with_a_heartbeat_newer_than_worker_dead_seconds() -> None:
    now = timezone.now()
    limit = now - timedelta(seconds=jobs_settings.WORKER_DEAD_SECONDS)
    fresh = WorkerFactory(heartbeat_at=limit + timedelta(seconds=1))
    at_the_limit = WorkerFactory(heartbeat_at=limit)
    silent = WorkerFactory(heartbeat_at=limit - timedelta(seconds=1))
    stopped = WorkerFactory(heartbeat_at=now, stopped_at=now)

    assert ids(workers().alive(now)) == {fresh.pk}
    assert ids(workers().dead(now)) == {at_the_limit.pk, silent.pk, stopped.pk}
    for worker in workers():
        assert worker.is_alive(now) == (worker.pk == fresh.pk), worker.pk


def test_alive_and_dead_default_to_now_and_split_every_worker() -> None:
    alive = WorkerFactory(alive=True)
    dead = WorkerFactory(dead=True)
    stopped = WorkerFactory(stopped=True)
    assert ids(workers().alive()) == {alive.pk}
    assert ids(workers().dead()) == {dead.pk, stopped.pk}
    assert [w.pk for w in workers() if w.is_alive()] == [alive.pk]


def test_alive_follows_the_worker_dead_seconds_setting() -> None:
    worker = WorkerFactory(heartbeat_at=timezone.now() - timedelta(seconds=10))
    assert ids(workers().alive()) == {worker.pk}
    with override_settings(DURABLE_JOBS={"WORKER_DEAD_SECONDS": 5, "HEARTBEAT_SECONDS": 1}):
        assert ids(workers().alive()) == set()
        assert ids(workers().dead()) == {worker.pk}
        assert not Worker.objects.get(pk=worker.pk).is_alive()


def test_alive_and_dead_chain_with_other_filters() -> None:
    WorkerFactory(alive=True, host="a")
    b = WorkerFactory(alive=True, host="b")
    WorkerFactory(dead=True, host="b")
    assert ids(workers().filter(host="b").alive()) == {b.pk}
    assert workers().filter(host="b").dead().count() == 1


# --------------------------------------------------------------------------- job counts


def test_queue_counts_per_queue_and_status_leave_out_empty_statuses() -> None:
    JobFactory.create_batch(2, queue="emails")
    JobFactory(running=True, queue="emails")
    JobFactory(failed=True)
    JobFactory(paused=True, queue="reports")
    assert jobs().queue_counts() == {
        "emails": {"pending": 2, "running": 1},
        "default": {"failed": 1},
        "reports": {"paused": 1},
    }


def test_queue_counts_of_a_filtered_or_ordered_queryset() -> None:
    JobFactory(name="demo.add", queue="emails")
    JobFactory(name="demo.add", queue="emails")
    JobFactory(name="demo.email", queue="emails")
    assert jobs().none().queue_counts() == {}
    assert jobs().filter(name="demo.add").queue_counts() == {"emails": {"pending": 2}}
    # An ordering would split the groups if it were kept.
    assert jobs().order_by("name", "-id").queue_counts() == {"emails": {"pending": 3}}


def test_running_jobs_per_worker() -> None:
    busy, idle = WorkerFactory(), WorkerFactory()
    JobFactory.create_batch(2, running=True, worker_id=busy.pk)
    JobFactory(completed=True, worker_id=busy.pk)
    JobFactory(running=True, worker_id="gone")
    JobFactory()
    assert jobs().running_per_worker() == {busy.pk: 2, "gone": 1}
    assert jobs().filter(queue="nowhere").running_per_worker() == {}

    annotated = workers().annotate(n=jobs().running_count_on(OuterRef("pk")))
    assert {w.pk: w.n for w in annotated} == {busy.pk: 2, idle.pk: 0}
