"""Schedules: fire-time arithmetic (pure) and run_due against the database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import QuerySet
from django.test import override_settings

from django_durable_jobs import signals
from django_durable_jobs.enqueuing import build_job
from django_durable_jobs.models import Job, Status
from django_durable_jobs.registry import job
from django_durable_jobs.scheduling import firing as scheduling
from django_durable_jobs.scheduling.firing import Schedule, run_due, schedule, seconds_until_next_due
from django_durable_jobs.scheduling.specs import (
    Cron,
    Daily,
    Every,
    Weekly,
    cron,
    daily,
    every,
    validate_spec,
    weekly,
)
from django_durable_jobs.state import inserts

BERLIN = ZoneInfo("Europe/Berlin")
berlin_time = override_settings(TIME_ZONE="Europe/Berlin")


@job("test-sched-tick")
def tick():
    return "tick"


@job("test-sched-tock", queue="sched-queue", priority=5)
def tock():
    return "tock"


@job("test-sched-needs-arg")
def needs_arg(value):
    return value


@job("test-sched-decorated", schedule=every(minutes=10))
def decorated():
    return "decorated"


@pytest.fixture(autouse=True)
def isolated_schedules():
    saved = scheduling.all_schedules()
    scheduling._clear_schedules()
    yield
    scheduling._clear_schedules()
    scheduling._schedules.update(saved)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


# --------------------------------------------------------------------------- every()


def test_every_fires_at_multiples_of_the_interval_since_the_epoch():
    spec = every(minutes=5)
    assert spec.next_after(utc(2030, 1, 1, 10, 3)) == utc(2030, 1, 1, 10, 5)
    assert spec.latest_at_or_before(utc(2030, 1, 1, 10, 3)) == utc(2030, 1, 1, 10, 0)


def test_every_next_after_is_strictly_after_a_fire_time():
    spec = every(minutes=5)
    assert spec.next_after(utc(2030, 1, 1, 10, 5)) == utc(2030, 1, 1, 10, 10)
    assert spec.latest_at_or_before(utc(2030, 1, 1, 10, 5)) == utc(2030, 1, 1, 10, 5)


def test_every_handles_sub_second_times_and_other_time_zones():
    spec = every(seconds=30)
    assert spec.next_after(utc(2030, 1, 1, 10, 0, 29, 999_999)) == utc(2030, 1, 1, 10, 0, 30)
    in_berlin = datetime(2030, 1, 1, 11, 0, 1, tzinfo=BERLIN)
    assert spec.next_after(in_berlin) == utc(2030, 1, 1, 10, 0, 30)


def test_every_combines_its_units():
    assert every(days=1, hours=2, minutes=3, seconds=4) == Every(timedelta(days=1, seconds=7384))


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (every(minutes=5), "every 5 minutes"),
        (every(seconds=90), "every 90 seconds"),
        (every(hours=1), "every 1 hour"),
        (every(hours=36), "every 36 hours"),
        (every(days=2), "every 2 days"),
        (every(seconds=1.5), "every 1.5 seconds"),
    ],
)
def test_every_str(spec, text):
    assert str(spec) == text


# --------------------------------------------------------------------------- daily() and weekly()


def test_daily_fires_at_the_wall_clock_time_of_the_time_zone():
    spec = daily(9, 30)
    assert spec.next_after(utc(2030, 1, 1, 8)) == utc(2030, 1, 1, 9, 30)
    assert spec.next_after(utc(2030, 1, 1, 9, 30)) == utc(2030, 1, 2, 9, 30)
    with berlin_time:
        assert spec.next_after(utc(2030, 1, 1, 8)) == utc(2030, 1, 1, 8, 30)  # CET, UTC+1
        assert spec.next_after(utc(2030, 7, 1, 8)) == utc(2030, 7, 2, 7, 30)  # CEST, UTC+2


@berlin_time
def test_daily_in_a_skipped_hour_fires_at_the_end_of_the_gap():
    # 2025-03-30: Berlin clocks jump from 02:00 to 03:00 (01:00 UTC).
    spec = daily(2, 30)
    fire = spec.next_after(utc(2025, 3, 29, 12))
    assert fire == utc(2025, 3, 30, 1, 0)
    assert fire.astimezone(BERLIN).strftime("%H:%M") == "03:00"
    assert spec.next_after(fire) == utc(2025, 3, 31, 0, 30)
    assert spec.latest_at_or_before(utc(2025, 3, 30, 0, 59)) == utc(2025, 3, 29, 1, 30)


@berlin_time
def test_daily_in_a_repeated_hour_fires_once_at_the_first_occurrence():
    # 2025-10-26: Berlin clocks go back from 03:00 CEST to 02:00 CET, so
    # 02:30 happens at 00:30 and again at 01:30 UTC.
    spec = daily(2, 30)
    fire = spec.next_after(utc(2025, 10, 25, 12))
    assert fire == utc(2025, 10, 26, 0, 30)
    assert spec.next_after(fire) == utc(2025, 10, 27, 1, 30)
    assert spec.latest_at_or_before(utc(2025, 10, 26, 1, 45)) == fire


@override_settings(TIME_ZONE="Australia/Lord_Howe")
def test_daily_in_a_half_hour_gap():
    # 2025-10-05: Lord Howe Island moves from 02:00 (UTC+10:30) to 02:30 (UTC+11).
    assert daily(2, 15).next_after(utc(2025, 10, 4, 12)) == utc(2025, 10, 4, 15, 30)


@pytest.mark.parametrize("day", ["sun", "Sun", "SUNDAY", "sunday", " sun ", 6])
def test_weekly_day_spellings(day):
    assert weekly(day, 2) == Weekly(weekday=6, hour=2, minute=0)


def test_weekly_fires_on_its_day():
    spec = weekly("mon", 9)
    wednesday = utc(2030, 1, 2, 12)
    assert spec.next_after(wednesday) == utc(2030, 1, 7, 9)
    assert spec.latest_at_or_before(wednesday) == utc(2029, 12, 31, 9)
    assert spec.next_after(utc(2030, 1, 7, 9)) == utc(2030, 1, 14, 9)


@berlin_time
def test_weekly_across_a_dst_change():
    spec = weekly("sun", 2, 30)
    assert spec.next_after(utc(2025, 3, 26)) == utc(2025, 3, 30, 1, 0)
    assert spec.next_after(utc(2025, 3, 30, 1, 0)) == utc(2025, 4, 6, 0, 30)


def test_daily_and_weekly_str():
    assert str(daily(9)) == "daily at 09:00"
    assert str(weekly("sun", 2, 5)) == "weekly on Sunday at 02:05"


# --------------------------------------------------------------------------- cron()


def test_cron_fires_on_its_expression_in_the_time_zone():
    spec = cron("0 9 * * mon-fri")
    saturday = utc(2030, 1, 5, 12)
    assert spec.next_after(saturday) == utc(2030, 1, 7, 9)
    with berlin_time:
        assert spec.next_after(saturday) == utc(2030, 1, 7, 8)
        assert spec.latest_at_or_before(saturday) == utc(2030, 1, 4, 8)


def test_cron_next_after_is_strictly_after_and_latest_includes_the_instant():
    spec = cron("0 * * * *")
    assert spec.next_after(utc(2030, 1, 1, 10)) == utc(2030, 1, 1, 11)
    assert spec.next_after(utc(2030, 1, 1, 10, 0, 0, 1)) == utc(2030, 1, 1, 11)
    assert spec.latest_at_or_before(utc(2030, 1, 1, 10)) == utc(2030, 1, 1, 10)
    assert spec.latest_at_or_before(utc(2030, 1, 1, 9, 59, 59)) == utc(2030, 1, 1, 9)


@berlin_time
def test_cron_across_dst_changes():
    # Hourly keeps firing every real hour through both transitions.
    hourly = cron("0 * * * *")
    fire, fires = utc(2025, 10, 25, 22), []
    while fire < utc(2025, 10, 26, 4):
        fire = hourly.next_after(fire)
        fires.append(fire)
    assert fires == [utc(2025, 10, 25, 22) + timedelta(hours=n) for n in range(1, 7)]
    # A time in the skipped hour fires at the end of the gap.
    assert cron("30 2 * * *").next_after(utc(2025, 3, 29, 12)) == utc(2025, 3, 30, 1)


def test_cron_str():
    assert str(cron("0 * * * *")) == "cron '0 * * * *'"


@berlin_time
@pytest.mark.parametrize(
    "spec",
    [
        every(minutes=7),
        daily(2, 30),
        weekly("sun", 2, 30),
        cron("30 2 * * *"),
        cron("*/20 * * * *"),
    ],
    ids=str,
)
def test_next_after_and_latest_at_or_before_agree(spec):
    """Over a year with both DST changes: the two methods describe the same fire times."""
    moment = utc(2025, 1, 1)
    while moment < utc(2026, 1, 1):
        following = spec.next_after(moment)
        latest = spec.latest_at_or_before(moment)
        assert latest <= moment < following
        assert spec.next_after(latest) == following
        assert spec.latest_at_or_before(following) == following
        moment += timedelta(hours=5, minutes=17)


# --------------------------------------------------------------------------- invalid specs


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: every(), ValueError, "positive interval"),
        (lambda: every(seconds=0.0000001), ValueError, "positive interval"),
        (lambda: every(minutes=-5), ValueError, "minutes must be a finite number >= 0"),
        (lambda: every(seconds=float("nan")), ValueError, "seconds must be a finite number"),
        (lambda: every(days=float("inf")), ValueError, "days must be a finite number"),
        (lambda: every(days=10**10), ValueError, "too large"),
        (lambda: every(minutes="5"), TypeError, "minutes must be a number"),
        (lambda: every(hours=True), TypeError, "hours must be a number"),
        (lambda: Every(300), TypeError, "must be a timedelta"),
        (lambda: daily(24), ValueError, "hour must be 0-23"),
        (lambda: daily(-1), ValueError, "hour must be 0-23"),
        (lambda: daily(9, 60), ValueError, "minute must be 0-59"),
        (lambda: daily("9"), TypeError, "hour must be an integer"),
        (lambda: daily(9.5), TypeError, "hour must be an integer"),
        (lambda: daily(9, None), TypeError, "minute must be an integer"),
        (lambda: weekly("funday", 9), ValueError, "one of mon..sun"),
        (lambda: weekly(7, 9), ValueError, "0-6"),
        (lambda: weekly(None, 9), TypeError, "day name or 0-6"),
        (lambda: weekly("mon", 24), ValueError, "hour must be 0-23"),
        (lambda: Weekly(1.0, 9), TypeError, "weekday must be an integer"),
        (lambda: cron("* * * *"), ValueError, "5 fields"),
        (lambda: cron("0 0 * * * *"), ValueError, "5 fields"),
        (lambda: cron("@daily"), ValueError, "5 fields"),
        (lambda: cron("61 * * * *"), ValueError, "invalid cron expression '61 * * * *'"),
        (lambda: cron("0 0 * * funday"), ValueError, "invalid cron expression"),
        (lambda: cron("0 0 31 2 *"), ValueError, "invalid cron expression"),
        (lambda: cron(5), TypeError, "needs a string"),
    ],
)
def test_invalid_specs_fail_at_definition_time(make, error, message):
    with pytest.raises(error, match=message.replace("*", r"\*").replace(".", r"\.")):
        make()


@pytest.mark.parametrize("spec", [every(minutes=1), daily(9), weekly(0, 9), cron("0 * * * *")])
def test_specs_refuse_naive_datetimes(spec):
    with pytest.raises(ValueError, match="aware"):
        spec.next_after(datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        spec.latest_at_or_before(datetime(2030, 1, 1))


def test_specs_are_frozen_and_comparable():
    assert daily(9) == Daily(9, 0) and cron("0 * * * *") == Cron("0 * * * *")
    with pytest.raises(AttributeError):
        daily(9).hour = 10


@pytest.mark.parametrize("spec", [every(minutes=1), daily(9), weekly("mon", 9), cron("0 * * * *")])
def test_validate_spec_accepts_specs(spec):
    validate_spec(spec)


@pytest.mark.parametrize("thing", ["0 * * * *", 60, timedelta(minutes=1), None])
def test_validate_spec_refuses_anything_else(thing):
    with pytest.raises(TypeError, match=r"every\(\), daily\(\), weekly\(\) or cron\(\)"):
        validate_spec(thing)


def test_job_decorator_validates_its_schedule():
    with pytest.raises(TypeError, match="a schedule must come from"):

        @job("test-sched-bad-decorator", schedule="0 * * * *")
        def bad():
            pass


# --------------------------------------------------------------------------- schedule()


def test_schedule_a_job_by_definition_function_or_name():
    by_definition = schedule(tick, every(minutes=5))
    assert by_definition == Schedule("test-sched-tick", tick, every(minutes=5))
    assert schedule("test-sched-tick", every(minutes=5)).job is tick
    assert scheduling.all_schedules() == {"test-sched-tick": by_definition}


def test_schedule_names_let_a_job_be_scheduled_twice():
    schedule(tick, daily(9), name="tick-morning")
    schedule(tick, daily(17), name="tick-evening")
    assert sorted(scheduling.all_schedules()) == ["tick-evening", "tick-morning"]


def test_scheduling_the_same_thing_again_is_a_no_op_but_a_clash_is_an_error():
    schedule(tick, every(minutes=5))
    schedule(tick, every(minutes=5))
    with pytest.raises(ValueError, match="already registered"):
        schedule(tick, every(minutes=6))
    with pytest.raises(ValueError, match="already registered"):
        schedule(tock, every(minutes=5), name="test-sched-tick")


def test_an_unknown_job_name_is_resolved_when_the_schedule_fires():
    entry = schedule("test-sched-not-yet-registered", every(minutes=5))
    assert entry.job == "test-sched-not-yet-registered"
    assert entry.job_name == entry.name == "test-sched-not-yet-registered"


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        (42, TypeError, "needs a job"),
        (None, TypeError, "needs a job"),
        (lambda: None, TypeError, "not a registered job"),
        ("", ValueError, "needs a job name"),
        (needs_arg, TypeError, "scheduled jobs get no arguments"),
    ],
)
def test_schedule_refuses_what_it_cannot_run(target, error, message):
    with pytest.raises(error, match=message):
        schedule(target, every(minutes=5))
    assert scheduling.all_schedules() == {}


def test_schedule_refuses_bad_specs_and_names():
    with pytest.raises(TypeError, match="a schedule must come from"):
        schedule(tick, "*/5 * * * *")
    with pytest.raises(ValueError, match="schedule name"):
        schedule(tick, every(minutes=5), name="")


def test_register_decorator_schedules_is_idempotent():
    scheduling.register_decorator_schedules()
    scheduling.register_decorator_schedules()
    schedules = scheduling.all_schedules()
    assert schedules["test-sched-decorated"].spec == every(minutes=10)
    assert schedules["test-sched-decorated"].job is decorated
    assert "test-sched-tick" not in schedules


def test_seconds_until_next_due():
    assert seconds_until_next_due(utc(2030, 1, 1, 10, 3)) is None
    schedule(tick, every(minutes=5))
    assert seconds_until_next_due(utc(2030, 1, 1, 10, 3)) == 120.0
    schedule(tock, cron("4 * * * *"))
    assert seconds_until_next_due(utc(2030, 1, 1, 10, 3, 30)) == 30.0
    assert 0 < seconds_until_next_due() <= 300


# --------------------------------------------------------------------------- run_due()


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
        "test-sched-tick",
        Status.PENDING,
        [],
        {},
    )
    assert run_due(now=utc(2030, 1, 1, 10, 7)) == []
    assert run_due(now=utc(2030, 1, 1, 10, 9, 59)) == []
    [second] = run_due(now=utc(2030, 1, 1, 10, 10))
    assert second.scheduled_for == utc(2030, 1, 1, 10, 10)
    assert scheduled("test-sched-tick") == [utc(2030, 1, 1, 10, 5), utc(2030, 1, 1, 10, 10)]


@pytest.mark.django_db
def test_run_due_coalesces_fires_missed_during_downtime():
    schedule(tick, every(minutes=5))
    run_due(now=utc(2030, 1, 1, 10, 7))
    [caught_up] = run_due(now=utc(2030, 1, 3, 17, 48))
    assert caught_up.scheduled_for == utc(2030, 1, 3, 17, 45)
    assert scheduled("test-sched-tick") == [utc(2030, 1, 1, 10, 5), utc(2030, 1, 3, 17, 45)]


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
        ("test-sched-tick", utc(2030, 1, 1, 10, 0)),
        ("test-sched-tock", utc(2030, 1, 1, 10, 0)),
    }


@pytest.mark.django_db
def test_run_due_skips_a_fire_that_already_has_its_job():
    schedule(tick, every(minutes=5))
    Job.objects.create(name="test-sched-tick", scheduled_for=utc(2030, 1, 1, 10, 5))
    assert run_due(now=utc(2030, 1, 1, 10, 7)) == []


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
    assert scheduled("test-sched-tick") == [utc(2025, 10, 26, 0, 30)]


@pytest.mark.django_db
def test_run_due_treats_an_integrity_error_as_another_scheduler_winning():
    """The check-then-insert race: the row appears between the check and the insert."""
    schedule(tick, every(minutes=5))
    Job.objects.create(name="test-sched-tick", scheduled_for=utc(2030, 1, 1, 10, 5))
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
    holder = Job.objects.create(name="test-sched-tick", unique_key="one-tick-at-a-time")
    assert run_due(now=utc(2030, 1, 1, 10, 7)) == []
    Job.objects.filter(pk=holder.pk).update(status=Status.COMPLETED)
    [created] = run_due(now=utc(2030, 1, 1, 10, 8))
    assert created.scheduled_for == utc(2030, 1, 1, 10, 5)


@pytest.mark.django_db
def test_run_due_resolves_a_job_name_when_it_fires(caplog):
    schedule("test-sched-registered-late", every(minutes=5))
    assert run_due(now=utc(2030, 1, 1, 10, 7)) == []
    assert run_due(now=utc(2030, 1, 1, 10, 8)) == []
    [error] = [r.getMessage() for r in caplog.records if "cannot fire" in r.getMessage()]
    assert "test-sched-registered-late" in error and "no job is registered" in error

    @job("test-sched-registered-late")
    def registered_late():
        return "late"

    [created] = run_due(now=utc(2030, 1, 1, 10, 7))
    assert created.name == "test-sched-registered-late"


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
        ("test-sched-tick", utc(2030, 1, 1, 10, 5)),
        ("test-sched-tock", utc(2030, 1, 1, 9)),
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
    assert scheduled("test-sched-tick") == [utc(2030, 1, 1, 10, 5)]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_many_rounds_of_concurrent_schedulers_on_postgres():
    require_postgres()
    schedule(tick, every(seconds=10))
    start = utc(2030, 1, 1, 10)
    for round_ in range(20):
        _race(6, start + timedelta(seconds=10 * round_ + 3))
    assert scheduled("test-sched-tick") == [start + timedelta(seconds=10 * n) for n in range(20)]
