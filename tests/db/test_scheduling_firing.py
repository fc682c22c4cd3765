"""Firing schedules: run_due against the database (scheduling.firing)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import QuerySet
from django.test import override_settings

from django_durable_jobs import signals
from django_durable_jobs.enqueuing import build_job
from django_durable_jobs.models import Job, Status
from django_durable_jobs.registry import job
from django_durable_jobs.scheduling.firing import run_due, schedule
from django_durable_jobs.scheduling.specs import cron, daily, every
from django_durable_jobs.state import inserts

from ..factories import JobFactory

pytestmark = pytest.mark.usefixtures("isolated_schedules")

berlin_time = override_settings(TIME_ZONE="Europe/Berlin")


@job("test-fire-tick")
def tick():
    return "tick"


@job("test-fire-tock", queue="sched-queue", priority=5)
def tock():
    return "tock"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


def scheduled(name: str) -> list[datetime]:
    return list(
        Job.objects.filter(name=name, scheduled_for__isnull=False)
        .order_by("scheduled_for")
        .values_list("scheduled_for", flat=True)
    )


@pytest.mark.django_db
def test_run_due_fires_once_per_fire_time():
    schedule(tick, every(minutes=5))
    [first] = run_due(now=utc(2030, 1, 1, 10, 7))
    assert first.scheduled_for == utc(2030, 1, 1, 10, 5)
    first.refresh_from_db()
    assert (first.name, first.status, first.args, first.kwargs) == (
        "test-fire-tick",
        Status.PENDING,
        [],
        {},
    )
    assert run_due(now=utc(2030, 1, 1, 10, 7)) == []
    assert run_due(now=utc(2030, 1, 1, 10, 9, 59)) == []
    [second] = run_due(now=utc(2030, 1, 1, 10, 10))
    assert second.scheduled_for == utc(2030, 1, 1, 10, 10)
    assert scheduled("test-fire-tick") == [utc(2030, 1, 1, 10, 5), utc(2030, 1, 1, 10, 10)]


@pytest.mark.django_db
def test_run_due_coalesces_fires_missed_during_downtime():
    schedule(tick, every(minutes=5))
    run_due(now=utc(2030, 1, 1, 10, 7))
    [caught_up] = run_due(now=utc(2030, 1, 3, 17, 48))
    assert caught_up.scheduled_for == utc(2030, 1, 3, 17, 45)
    assert scheduled("test-fire-tick") == [utc(2030, 1, 1, 10, 5), utc(2030, 1, 3, 17, 45)]


@pytest.mark.django_db
def test_run_due_uses_the_jobs_queue_and_priority():
    schedule(tock, daily(9))
    [created] = run_due(now=utc(2030, 1, 1, 9, 0, 1))
    created.refresh_from_db()
    assert (created.queue, created.priority, created.scheduled_for) == (
        "sched-queue",
        5,
        utc(2030, 1, 1, 9),
    )


@pytest.mark.django_db
def test_run_due_fires_every_due_schedule():
    schedule(tick, every(minutes=5))
    schedule(tock, cron("0 * * * *"))
    created = run_due(now=utc(2030, 1, 1, 10, 2))
    assert {(j.name, j.scheduled_for) for j in created} == {
        ("test-fire-tick", utc(2030, 1, 1, 10, 0)),
        ("test-fire-tock", utc(2030, 1, 1, 10, 0)),
    }


@pytest.mark.django_db
def test_run_due_skips_a_fire_that_already_has_its_job():
    schedule(tick, every(minutes=5))
    JobFactory(name="test-fire-tick", schedule="test-fire-tick", scheduled_for=utc(2030, 1, 1, 10, 5))
    assert run_due(now=utc(2030, 1, 1, 10, 7)) == []


@pytest.mark.django_db
def test_two_schedules_of_one_job_both_fire():
    """Each fire records its schedule: a fire of one schedule does not hide the other's."""
    schedule(tick, every(minutes=5))
    schedule(tick, cron("*/5 * * * *"), name="tick-by-cron")
    fired = run_due(now=utc(2030, 1, 1, 10, 7))
    assert sorted(job.schedule for job in fired) == ["test-fire-tick", "tick-by-cron"]
    assert {job.scheduled_for for job in fired} == {utc(2030, 1, 1, 10, 5)}
    assert run_due(now=utc(2030, 1, 1, 10, 8)) == []
    assert len(run_due(now=utc(2030, 1, 1, 10, 10))) == 2


@pytest.mark.django_db
def test_run_due_ignores_unscheduled_jobs_of_the_same_name():
    schedule(tick, every(minutes=5))
    tick.enqueue()
    assert len(run_due(now=utc(2030, 1, 1, 10, 7))) == 1


@pytest.mark.django_db
@berlin_time
def test_run_due_fires_a_repeated_wall_clock_time_once():
    schedule(tick, daily(2, 30))
    assert len(run_due(now=utc(2025, 10, 26, 0, 31))) == 1  # 02:31 CEST
    assert run_due(now=utc(2025, 10, 26, 1, 31)) == []  # 02:31 CET, the same wall time again
    assert scheduled("test-fire-tick") == [utc(2025, 10, 26, 0, 30)]


@pytest.mark.django_db
def test_run_due_treats_an_integrity_error_as_another_scheduler_winning():
    """The check-then-insert race: the row appears between the check and the insert."""
    schedule(tick, every(minutes=5))
    JobFactory(name="test-fire-tick", schedule="test-fire-tick", scheduled_for=utc(2030, 1, 1, 10, 5))
    with mock.patch.object(QuerySet, "exists", side_effect=[False, True]):
        assert run_due(now=utc(2030, 1, 1, 10, 7)) == []
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_run_due_reraises_an_unexplained_integrity_error():
    """An insert refused for another reason than this fire's row or a unique_key is not swallowed."""
    schedule(tick, every(minutes=5))

    def build_without_queue(*args, **kwargs) -> Job:
        job = build_job(*args, **kwargs)
        job.queue = None  # NOT NULL
        return job

    with (
        mock.patch("django_durable_jobs.enqueuing.build_job", side_effect=build_without_queue),
        pytest.raises(IntegrityError),
    ):
        run_due(now=utc(2030, 1, 1, 10, 7))
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_unique_key_holds_a_fire_back_while_an_unfinished_job_has_it():
    schedule(tick.using(unique_key="one-tick-at-a-time"), every(minutes=5))
    holder = JobFactory(name="test-fire-tick", unique_key="one-tick-at-a-time")
    assert run_due(now=utc(2030, 1, 1, 10, 7)) == []
    Job.objects.filter(pk=holder.pk).update(status=Status.COMPLETED)
    [created] = run_due(now=utc(2030, 1, 1, 10, 8))
    assert created.scheduled_for == utc(2030, 1, 1, 10, 5)


@pytest.mark.django_db
def test_run_due_resolves_a_job_name_when_it_fires(caplog):
    schedule("test-fire-registered-late", every(minutes=5))
    assert run_due(now=utc(2030, 1, 1, 10, 7)) == []
    assert run_due(now=utc(2030, 1, 1, 10, 8)) == []
    [error] = [r.getMessage() for r in caplog.records if "cannot fire" in r.getMessage()]
    assert "test-fire-registered-late" in error and "no job is registered" in error

    @job("test-fire-registered-late")
    def registered_late():
        return "late"

    [created] = run_due(now=utc(2030, 1, 1, 10, 7))
    assert created.name == "test-fire-registered-late"


@pytest.mark.django_db
def test_run_due_sends_job_enqueued_on_commit_and_notifies_workers(
    django_capture_on_commit_callbacks,
):
    schedule(tock, every(minutes=5))
    received = []

    def receiver(sender, job, **kwargs):
        received.append(job)

    signals.job_enqueued.connect(receiver)
    try:
        with (
            mock.patch.object(inserts, "insert_fired", wraps=inserts.insert_fired) as insert_fired,
            django_capture_on_commit_callbacks(execute=True),
        ):
            created = run_due(now=utc(2030, 1, 1, 10, 7))
    finally:
        signals.job_enqueued.disconnect(receiver)
    assert received == created and len(created) == 1
    [(alias, inserted)] = [call.args for call in insert_fired.call_args_list]
    assert (alias, [inserted]) == ("default", created)  # the enqueue path: inserts and notifies


@pytest.mark.django_db
def test_run_due_without_schedules_does_nothing():
    assert run_due() == []


@pytest.mark.django_db
def test_run_due_refuses_a_naive_now():
    schedule(tick, every(minutes=5))
    with pytest.raises(ValueError, match="aware"):
        run_due(now=datetime(2030, 1, 1))


def _race(count: int, now: datetime) -> list[Job]:
    """``count`` threads, each with its own connection, call run_due at once."""
    barrier = threading.Barrier(count)
    created: list[Job] = []
    errors: list[BaseException] = []

    def scheduler() -> None:
        try:
            barrier.wait()
            created.extend(run_due(now=now))
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return created


@pytest.mark.django_db(transaction=True)
def test_concurrent_schedulers_create_one_job_per_fire():
    schedule(tick, every(minutes=5))
    schedule(tock, daily(9))
    created = _race(8, utc(2030, 1, 1, 10, 7))
    assert sorted((j.name, j.scheduled_for) for j in created) == [
        ("test-fire-tick", utc(2030, 1, 1, 10, 5)),
        ("test-fire-tock", utc(2030, 1, 1, 9)),
    ]
    assert Job.objects.count() == 2


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_schedulers_on_postgres_race_at_the_insert():
    """B checks while A's insert is uncommitted, so B's insert waits on the
    unique index, fails when A commits, and B creates nothing."""
    require_postgres()
    schedule(tick, every(minutes=5))
    now = utc(2030, 1, 1, 10, 7)
    a_inserted, b_created = threading.Event(), []

    def scheduler_b() -> None:
        try:
            a_inserted.wait(10)
            b_created.extend(run_due(now=now))
        finally:
            connections.close_all()

    thread = threading.Thread(target=scheduler_b)
    thread.start()
    with transaction.atomic():
        a_created = run_due(now=now)
        a_inserted.set()
        thread.join(timeout=1)
        assert thread.is_alive(), "B should be waiting on A's uncommitted row"
    thread.join(timeout=30)
    assert len(a_created) == 1 and b_created == []
    assert scheduled("test-fire-tick") == [utc(2030, 1, 1, 10, 5)]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_many_rounds_of_concurrent_schedulers_on_postgres():
    require_postgres()
    schedule(tick, every(seconds=10))
    start = utc(2030, 1, 1, 10)
    for round_ in range(20):
        _race(6, start + timedelta(seconds=10 * round_ + 3))
    assert scheduled("test-fire-tick") == [start + timedelta(seconds=10 * n) for n in range(20)]
