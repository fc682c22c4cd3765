"""Schedule specs: fire-time arithmetic, no database (django_durable_jobs.scheduling.specs)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from django_durable_jobs.scheduling.specs import (
    Cron,
    Daily,
    Every,
    Weekly,
    cron,
    daily,
    every,
    validate_spec,
    wall_time,
    weekly,
)

BERLIN = ZoneInfo("Europe/Berlin")
PARIS = ZoneInfo("Europe/Paris")
berlin_time = override_settings(TIME_ZONE="Europe/Berlin")
paris_time = override_settings(TIME_ZONE="Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


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


# --------------------------------------------------------------------------- DST in Europe/Paris
# 2025-03-30: clocks jump from 02:00 CET to 03:00 CEST (01:00 UTC): 02:00-02:59 never happen.
# 2025-10-26: clocks go back from 03:00 CEST to 02:00 CET (01:00 UTC): 02:00-02:59 happen twice.


@paris_time
@pytest.mark.parametrize(
    "spec", [daily(2, 30), weekly("sun", 2, 30), cron("30 2 * * *"), cron("30 2 30 3 *")], ids=str
)
def test_a_skipped_wall_time_fires_once_at_the_end_of_the_gap_in_paris(spec):
    fire = spec.next_after(utc(2025, 3, 29, 12))
    assert fire == utc(2025, 3, 30, 1)
    assert fire.astimezone(PARIS).strftime("%H:%M%z") == "03:00+0200"
    assert spec.latest_at_or_before(fire) == fire
    assert spec.latest_at_or_before(fire - timedelta(seconds=1)) < utc(2025, 3, 30)
    assert spec.next_after(fire) > utc(2025, 3, 30, 23)


@paris_time
@pytest.mark.parametrize("spec", [daily(2, 30), weekly("sun", 2, 30)], ids=str)
def test_daily_and_weekly_fire_a_repeated_wall_time_once_in_paris(spec):
    fire = spec.next_after(utc(2025, 10, 25, 12))
    assert fire == utc(2025, 10, 26, 0, 30)
    assert fire.astimezone(PARIS).strftime("%H:%M%z") == "02:30+0200"  # the first occurrence
    assert spec.next_after(fire) > utc(2025, 10, 26, 23), "not again at 02:30+0100"
    assert spec.latest_at_or_before(utc(2025, 10, 26, 1, 45)) == fire


@paris_time
def test_cron_fires_a_repeated_wall_time_in_both_occurrences_in_paris():
    spec = cron("30 2 * * *")
    first = spec.next_after(utc(2025, 10, 25, 12))
    second = spec.next_after(first)
    assert (first, second) == (utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1, 30))
    assert first.astimezone(PARIS).strftime("%H:%M%z") == "02:30+0200"
    assert second.astimezone(PARIS).strftime("%H:%M%z") == "02:30+0100"
    assert spec.latest_at_or_before(utc(2025, 10, 26, 1, 29)) == first
    assert spec.latest_at_or_before(utc(2025, 10, 26, 1, 30)) == second
    assert spec.next_after(second) == utc(2025, 10, 27, 1, 30)


@paris_time
@pytest.mark.parametrize(
    ("start", "end"),
    [(utc(2025, 3, 29, 22), utc(2025, 3, 30, 4)), (utc(2025, 10, 25, 22), utc(2025, 10, 26, 4))],
)
def test_every_ignores_the_wall_clock_across_dst_in_paris(start, end):
    spec, fire, fires = every(hours=1), start, []
    while fire < end:
        fire = spec.next_after(fire)
        fires.append(fire)
    assert fires == [start + timedelta(hours=n) for n in range(1, 7)]
    assert every(days=1).next_after(start) == utc(start.year, start.month, start.day + 1)


def test_wall_time_in_paris():
    assert wall_time(date(2025, 1, 15), 9, 0, PARIS) == utc(2025, 1, 15, 8)
    assert wall_time(date(2025, 7, 15), 9, 0, PARIS) == utc(2025, 7, 15, 7)
    assert wall_time(date(2025, 3, 30), 2, 30, PARIS) == utc(2025, 3, 30, 1)  # in the gap
    assert wall_time(date(2025, 10, 26), 2, 30, PARIS) == utc(2025, 10, 26, 0, 30)  # repeated


def test_importing_specs_loads_no_models_and_no_registry():
    code = (
        "import sys, django_durable_jobs.scheduling.specs\n"
        "print(sorted(m for m in sys.modules if m.startswith('django_durable_jobs')))\n"
        "print('django.db.models' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == [
        "['django_durable_jobs', 'django_durable_jobs.scheduling', 'django_durable_jobs.scheduling.specs']",
        "False",
    ]
