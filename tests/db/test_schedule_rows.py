"""Schedules as rows with policies (issue 13): catch-up, overlap, while paused, pause and resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from django_durable_jobs import (
    InvalidValue,
    ScheduleAlreadyPaused,
    ScheduleNotFound,
    ScheduleNotPaused,
    pause_queue,
    pause_schedule,
    resume_schedule,
)
from django_durable_jobs.models import Job, Schedule, Status
from django_durable_jobs.registry import job
from django_durable_jobs.scheduling import firing
from django_durable_jobs.scheduling.firing import run_due, schedule, sync_schedules
from django_durable_jobs.scheduling.specs import every

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("isolated_schedules")]


@job("test-policy-tick", queue="policy")
def tick(label: str = "") -> str:
    return label


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2030, 1, 1, hour, minute, second, tzinfo=UTC)


def fires(name: str = "test-policy-tick") -> list[datetime]:
    return list(
        Job.objects.filter(schedule=name).order_by("scheduled_for").values_list("scheduled_for", flat=True)
    )


def finish_all() -> None:
    Job.objects.update(status=Status.COMPLETED)


def test_rows_are_synchronised_from_code_and_orphans_kept_not_fired() -> None:
    schedule(tick, every(minutes=5), name="a", args=["x"], catch_up="all", catch_up_window=timedelta(hours=1))
    schedule(tick, every(minutes=5), name="b", overlap="skip", while_paused="queue")
    sync_schedules()
    a, b = Schedule.objects.order_by("name")
    assert (a.job_name, a.spec, a.args, a.catch_up, a.catch_up_window) == (
        "test-policy-tick",
        "every 5 minutes",
        ["x"],
        "all",
        3600.0,
    )
    assert (b.overlap, b.while_paused, b.orphaned) == ("skip", "queue", False)
    firing._schedules.pop("b")
    sync_schedules()
    assert Schedule.objects.get(name="b").orphaned
    assert [j.schedule for j in run_due(now=at(10, 7))] == ["a"]
    assert Job.objects.get(schedule="a").args == ["x"]


@pytest.mark.parametrize(
    "catch_up, window, expected",
    [
        ("latest", None, [at(10, 5), at(10, 30)]),
        ("skip", None, [at(10, 5)]),
        ("all", None, [at(10, 5), at(10, 10), at(10, 15), at(10, 20), at(10, 25), at(10, 30)]),
        ("all", timedelta(minutes=10), [at(10, 5), at(10, 25), at(10, 30)]),
    ],
)
def test_catch_up_after_downtime(catch_up: str, window, expected) -> None:
    schedule(tick, every(minutes=5), catch_up=catch_up, catch_up_window=window)
    run_due(now=at(10, 5, 20))
    finish_all()
    run_due(now=at(10, 32))  # the scheduler was down from 10:06 to 10:32
    assert fires() == expected
    run_due(now=at(10, 35, 1))
    assert fires()[-1] == at(10, 35), "back on time after the downtime"


def test_overlap_allow_fires_beside_an_unfinished_run() -> None:
    schedule(tick, every(minutes=5))
    run_due(now=at(10, 5))
    run_due(now=at(10, 10))
    assert fires() == [at(10, 5), at(10, 10)]


def test_overlap_skip_skips_while_the_last_run_is_unfinished() -> None:
    schedule(tick, every(minutes=5), overlap="skip")
    run_due(now=at(10, 5))
    run_due(now=at(10, 10))
    assert fires() == [at(10, 5)]
    finish_all()
    run_due(now=at(10, 15))
    assert fires() == [at(10, 5), at(10, 15)]


def test_overlap_buffer_one_keeps_one_fire_until_the_run_ends() -> None:
    schedule(tick, every(minutes=5), overlap="buffer_one")
    run_due(now=at(10, 5))
    run_due(now=at(10, 10))
    run_due(now=at(10, 15))
    assert fires() == [at(10, 5)]
    assert Schedule.objects.get().buffered_fire_at == at(10, 10)
    finish_all()
    run_due(now=at(10, 16))
    assert fires() == [at(10, 5), at(10, 10)], "the buffered fire, the 10:15 one was dropped"
    assert Schedule.objects.get().buffered_fire_at is None


@pytest.mark.parametrize(
    "policy, expected",
    [
        ("skip", []),
        ("coalesce", [at(10, 5)]),
        ("queue", [at(10, 5), at(10, 10), at(10, 15)]),
    ],
)
def test_while_the_target_queue_is_paused(policy: str, expected) -> None:
    schedule(tick, every(minutes=5), while_paused=policy)
    pause_queue("policy", by="test")
    for minute in (5, 10, 15):
        run_due(now=at(10, minute))
    assert fires() == expected
    assert all(j.status == Status.PENDING for j in Job.objects.all()), "they wait in the paused queue"


def test_pause_and_resume_a_schedule() -> None:
    schedule(tick, every(minutes=5))
    run_due(now=at(10, 5))
    pause_schedule("test-policy-tick", by="alice", reason="maintenance")
    row = Schedule.objects.get()
    assert (row.paused, row.paused_by, row.reason) == (True, "alice", "maintenance")
    run_due(now=at(10, 10))
    run_due(now=at(10, 15))
    assert fires() == [at(10, 5)]
    with pytest.raises(ScheduleAlreadyPaused):
        pause_schedule("test-policy-tick")
    resume_schedule("test-policy-tick")  # the fires missed while paused are skipped
    with pytest.raises(ScheduleNotPaused):
        resume_schedule("test-policy-tick")
    with pytest.raises(ScheduleNotFound):
        pause_schedule("nope")
    Schedule.objects.update(last_fire_at=at(10, 15))  # as if resumed at 10:16
    run_due(now=at(10, 20))
    assert fires() == [at(10, 5), at(10, 20)]
    assert Schedule.objects.get().next_fire_at == at(10, 25)


def test_bad_policies_are_refused_where_written() -> None:
    with pytest.raises(InvalidValue, match=r"^catch_up: 'some' is not one of latest, skip, all$"):
        schedule(tick, every(minutes=5), catch_up="some")
    with pytest.raises(InvalidValue, match=r"^catch_up_window: -5 is not a positive duration$"):
        schedule(tick, every(minutes=5), catch_up_window=-5)
    with pytest.raises(TypeError, match="cannot be scheduled with args"):
        schedule(tick, every(minutes=5), args=[1, 2, 3])


def test_the_command_line_pauses_resumes_and_runs_a_schedule(capsys) -> None:
    from django.core.management import CommandError, call_command

    schedule(tick, every(minutes=5), name="cli-tick", args=["now"])
    sync_schedules()
    call_command("durablejobs", "pause-schedule", "cli-tick", "--reason", "maintenance")
    assert Schedule.objects.get(name="cli-tick").reason == "maintenance"
    call_command("durablejobs", "run-schedule", "cli-tick")
    assert "job" in capsys.readouterr().out
    ran = Job.objects.get(name="test-policy-tick")
    assert (ran.args, ran.schedule) == (["now"], None), "a manual run is not a fire"
    call_command("durablejobs", "resume-schedule", "cli-tick")
    with pytest.raises(CommandError, match="schedule 'cli-tick' is not paused"):
        call_command("durablejobs", "resume-schedule", "cli-tick")
