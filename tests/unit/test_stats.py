"""The statistics' pure parts: buckets, percentiles, aggregation, outcome names, their settings."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from django_durable_jobs import stats
from django_durable_jobs.conf import check_settings, jobs_settings
from django_durable_jobs.worker.joblog import outcome_label

T = datetime(2026, 1, 1, 12, 0, 0, 500, tzinfo=UTC)


def test_a_value_lands_in_the_first_bucket_whose_bound_is_not_below_it() -> None:
    bounds = stats.WAIT_BUCKETS
    assert stats.bucket_index(bounds, 0.0) == 0
    assert stats.bucket_index(bounds, 0.005) == 0, "a bound is inclusive, as Prometheus' le"
    assert stats.bucket_index(bounds, 0.006) == 1
    assert stats.bucket_index(bounds, 3600.0) == len(bounds) - 1
    assert stats.bucket_index(bounds, 3601.0) == len(bounds), "the overflow count"


def test_percentiles_interpolate_within_a_bucket() -> None:
    bounds = (1.0, 2.0, 4.0)
    assert stats.percentile([0, 0, 0, 0], 0.5, bounds) is None
    assert stats.percentile([10, 0, 0, 0], 0.5, bounds) == pytest.approx(0.5)
    assert stats.percentile([0, 10, 0, 0], 0.9, bounds) == pytest.approx(1.9)
    assert stats.percentile([5, 0, 5, 0], 0.95, bounds) == pytest.approx(3.8)
    assert stats.percentile([1, 0, 0, 9], 0.5, bounds) == 4.0, "in the overflow: the last bound"
    assert stats.percentile([3, 1, 0, 0], 1.0, bounds) == 2.0
    with pytest.raises(ValueError, match="between 0 and 1"):
        stats.percentile([1], 95, bounds)


def test_a_tally_makes_one_rollup_per_minute_queue_and_name() -> None:
    tally = stats.Tally()
    for seconds, queue, name, outcome in [
        (0, "q", "a", "completed"),
        (20, "q", "a", "failed"),
        (40, "q", "b", "retried"),
        (90, "q", "a", "completed"),
    ]:
        row = tally.row(T + timedelta(seconds=seconds), queue, name)
        row.count(outcome)
        row.observe(wait=0.02, run=seconds + 1.0)
    rows = tally.rows()
    assert [(r.minute.minute, r.name) for r in rows] == [(0, "a"), (0, "b"), (1, "a")]
    first = rows[0]
    assert (first.completed, first.failed, first.run_count, first.run_seconds_max) == (1, 1, 2, 21.0)
    assert first.wait_buckets[stats.WAIT_BUCKETS.index(0.025)] == 2
    total = stats.Rollup()
    for row in rows:
        total.add(row)
    assert (total.finished, total.run_count, sum(total.run_buckets)) == (4, 4, 4)
    assert total.run_seconds_max == 91.0
    with pytest.raises(ValueError, match="unknown outcome"):
        first.count("exploded")


def test_clock_skew_never_makes_a_negative_wait() -> None:
    row = stats.Rollup()
    row.observe(wait=-0.3, run=None)
    assert (row.wait_count, row.wait_seconds_sum, row.wait_buckets[0], row.run_count) == (1, 0.0, 1, 0)


def test_rows_of_different_lengths_add_up() -> None:
    """A row only ever cancelled has empty bucket lists."""
    row = stats.Rollup(wait_buckets=[], run_buckets=[])
    row.add(stats.Rollup(wait_buckets=[1, 2], run_buckets=[3]))
    assert (row.wait_buckets, row.run_buckets) == ([1, 2], [3])


@pytest.mark.parametrize(
    ("kind", "status", "counted", "logged"),
    [
        ("complete", "completed", "completed", "completed"),
        ("fail", "failed", "failed", "failed"),
        ("fail_now", "failed", "failed", "failed"),
        ("fail", "paused", "paused", "paused"),
        ("retry", "pending", "retried", "retried"),
        ("snooze", "pending", "snoozed", "snoozed"),
        ("release", "pending", None, "released"),
        ("complete", None, None, "discarded"),
    ],
)
def test_outcome_names(kind: str, status: str | None, counted: str | None, logged: str) -> None:
    assert stats.outcome_of(kind, status) == counted
    assert outcome_label(kind, status) == logged


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"STATS": "yes"}, "DURABLE_JOBS['STATS'] must be True or False, not 'yes'"),
        ({"STATS": 1}, "must be True or False"),
        (
            {"STATS_RETENTION": "14d"},
            "DURABLE_JOBS['STATS_RETENTION'] must be a timedelta, a number of seconds",
        ),
        ({"STATS_RETENTION": -5}, "is negative (-5): a period to keep statistics must be 0 or more"),
        ({"STATS_RETENTION": math.inf}, "must be a finite number of seconds"),
    ],
)
def test_bad_stats_settings_are_check_errors(value: dict, message: str) -> None:
    with override_settings(DURABLE_JOBS=value):
        errors = check_settings()
    assert len(errors) == 1 and message in errors[0].msg
    assert errors[0].id == ("durable_jobs.E003" if "STATS" in value else "durable_jobs.E014")


def test_stats_settings_defaults_and_good_values() -> None:
    assert jobs_settings.STATS is True and jobs_settings.STATS_RETENTION == timedelta(days=14)
    for good in ({"STATS": False}, {"STATS_RETENTION": None}, {"STATS_RETENTION": 3600}):
        with override_settings(DURABLE_JOBS=good):
            assert check_settings() == []
