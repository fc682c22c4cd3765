"""Registering schedules: schedule(), @job(schedule=...), no database (scheduling.firing)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from django_durable_jobs.registry import job
from django_durable_jobs.scheduling import firing
from django_durable_jobs.scheduling.firing import Schedule, schedule, seconds_until_next_due
from django_durable_jobs.scheduling.specs import cron, daily, every

pytestmark = pytest.mark.usefixtures("isolated_schedules")


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


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_job_decorator_validates_its_schedule():
    with pytest.raises(TypeError, match="a schedule must come from"):

        @job("test-sched-bad-decorator", schedule="0 * * * *")
        def bad():
            pass


def test_schedule_a_job_by_definition_function_or_name():
    by_definition = schedule(tick, every(minutes=5))
    assert by_definition == Schedule("test-sched-tick", tick, every(minutes=5))
    assert schedule("test-sched-tick", every(minutes=5)).job is tick
    assert firing.all_schedules() == {"test-sched-tick": by_definition}


def test_schedule_names_let_a_job_be_scheduled_twice():
    schedule(tick, daily(9), name="tick-morning")
    schedule(tick, daily(17), name="tick-evening")
    assert sorted(firing.all_schedules()) == ["tick-evening", "tick-morning"]


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
        ("", ValueError, "job: must not be empty"),
        (
            needs_arg,
            TypeError,
            "cannot be scheduled with args=\\[\\], kwargs={}: missing a required argument",
        ),
    ],
)
def test_schedule_refuses_what_it_cannot_run(target, error, message):
    with pytest.raises(error, match=message):
        schedule(target, every(minutes=5))
    assert firing.all_schedules() == {}


def test_schedule_refuses_bad_specs_and_names():
    with pytest.raises(TypeError, match="a schedule must come from"):
        schedule(tick, "*/5 * * * *")
    with pytest.raises(ValueError, match="schedule name"):
        schedule(tick, every(minutes=5), name="")


def test_register_decorator_schedules_is_idempotent():
    firing.register_decorator_schedules()
    firing.register_decorator_schedules()
    schedules = firing.all_schedules()
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
