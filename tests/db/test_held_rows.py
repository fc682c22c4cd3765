"""Pending rows of a paused queue or job type are held out of the claim's index (issue 12),
and a resume releases them in its own transaction: no claim walks them while
they wait, and none is lost or started early."""

from __future__ import annotations

from datetime import timedelta

import pytest
from demo import jobs as demo
from django.utils import timezone

from django_durable_jobs import (
    pause_job_type,
    pause_queue,
    resume_job_type,
    resume_queue,
)
from django_durable_jobs.models import Job
from django_durable_jobs.state import execution, pauses

pytestmark = pytest.mark.django_db(transaction=True)


def claim(limit: int = 10) -> list[int]:
    return [job.id for job in execution.claim("default", "w", None, limit)]


def flags(*jobs: Job) -> list[tuple[bool, bool]]:
    rows = {row.pk: row for row in Job.objects.filter(pk__in=[j.pk for j in jobs])}
    return [(rows[j.pk].held, rows[j.pk].delayed) for j in jobs]


def test_a_paused_queues_ready_rows_are_held_and_a_resume_releases_them_at_commit() -> None:
    jobs = [demo.add.using(queue="q1").enqueue(i, 0) for i in range(3)]
    other = demo.add.enqueue(0, 0)
    pause_queue("q1")
    assert pauses.hold_paused_rows({"q1"}, set()) == 3
    assert flags(*jobs, other) == [(True, True)] * 3 + [(False, False)]
    assert pauses.hold_paused_rows({"q1"}, set()) == 0  # nothing left: an index probe
    assert claim() == [other.pk]
    resume_queue("q1")
    assert flags(*jobs) == [(False, False)] * 3
    assert claim() == [j.pk for j in jobs]


def test_a_held_row_not_yet_due_is_delayed_again_on_resume() -> None:
    later = demo.add.using(queue="q1", run_after=timedelta(hours=1)).enqueue(0, 0)
    now = demo.add.using(queue="q1").enqueue(0, 0)
    pause_queue("q1")
    pauses.hold_paused_rows({"q1"}, set())
    Job.objects.filter(pk=later.pk).update(held=True)  # as if held while ready, then deferred
    resume_queue("q1")
    assert flags(later, now) == [(False, True), (False, False)]
    assert claim() == [now.pk]


def test_a_due_row_of_a_paused_queue_is_held_by_the_stager_not_staged() -> None:
    job = demo.add.using(queue="q1", run_after=timedelta(hours=1)).enqueue(0, 0)
    pause_queue("q1")
    Job.objects.filter(pk=job.pk).update(run_after=timezone.now() - timedelta(seconds=1))
    assert claim() == []
    assert flags(job) == [(True, True)]
    resume_queue("q1")
    assert claim() == [job.pk]


def test_a_paused_job_type_is_held_in_every_queue_and_released_by_its_resume() -> None:
    a = demo.add.using(queue="q1").enqueue(0, 0)
    b = demo.add.enqueue(0, 0)
    other = demo.noop.enqueue()
    pause_job_type("demo.add")
    assert pauses.hold_paused_rows(set(), {"demo.add"}) == 2
    assert flags(a, b, other) == [(True, True), (True, True), (False, False)]
    assert claim() == [other.pk]
    resume_job_type("demo.add")
    assert sorted(claim()) == sorted([a.pk, b.pk])


def test_a_row_held_by_both_a_queue_and_a_type_pause_waits_for_both_resumes() -> None:
    job = demo.add.using(queue="q1").enqueue(0, 0)
    pause_queue("q1")
    pause_job_type("demo.add")
    pauses.hold_paused_rows({"q1"}, {"demo.add"})
    resume_queue("q1")
    assert flags(job) == [(True, True)]
    assert claim() == []
    resume_job_type("demo.add")
    assert flags(job) == [(False, False)]
    assert claim() == [job.pk]


def test_rows_left_held_by_a_race_with_a_resume_are_released_by_the_sweep() -> None:
    job = demo.add.using(queue="q1").enqueue(0, 0)
    Job.objects.filter(pk=job.pk).update(held=True, delayed=True)  # the queue is not paused
    assert claim() == []
    assert pauses.release_stray_rows() == {"q1"}
    assert claim() == [job.pk]
    assert pauses.release_stray_rows() == set()


def test_holding_rechecks_the_pause_so_a_resumed_queue_is_not_held() -> None:
    job = demo.add.using(queue="q1").enqueue(0, 0)
    assert pauses.hold_paused_rows({"q1"}, set()) == 0  # a stale view of the pauses
    assert flags(job) == [(False, False)]
