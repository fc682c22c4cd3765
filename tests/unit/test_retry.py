"""The retry policy (django_durable_jobs.retry): backoff and the retry decision, no database."""

from __future__ import annotations

import random

import pytest
from django.test import override_settings

from django_durable_jobs.retry import backoff_seconds, describe_error, should_retry


def backoff(**settings: float) -> override_settings:
    return override_settings(DURABLE_JOBS=settings)


class Extreme:
    """A stand-in for ``random.Random`` that always draws the low or the high end."""

    def __init__(self, high: bool) -> None:
        self.high = high

    def uniform(self, low: float, high: float) -> float:
        return high if self.high else low


@backoff(BACKOFF_BASE=1.0, BACKOFF_MAX=3600.0, BACKOFF_JITTER=0)
@pytest.mark.parametrize(("attempt", "seconds"), [(1, 1), (2, 2), (3, 4), (4, 8), (10, 512)])
def test_backoff_doubles_with_each_attempt(attempt, seconds):
    assert backoff_seconds(attempt) == seconds


@backoff(BACKOFF_BASE=0.5, BACKOFF_JITTER=0)
def test_backoff_scales_with_the_base():
    assert [backoff_seconds(n) for n in range(1, 5)] == [0.5, 1.0, 2.0, 4.0]


@backoff(BACKOFF_BASE=1.0, BACKOFF_JITTER=0)
@pytest.mark.parametrize("attempt", [0, -3])
def test_backoff_before_a_first_failure_is_the_base(attempt):
    assert backoff_seconds(attempt) == 1.0


@backoff(BACKOFF_BASE=1.0, BACKOFF_MAX=10.0, BACKOFF_JITTER=0)
@pytest.mark.parametrize(("attempt", "seconds"), [(4, 8), (5, 10), (6, 10), (60, 10), (1000, 10)])
def test_backoff_is_capped_at_backoff_max(attempt, seconds):
    assert backoff_seconds(attempt) == seconds


@backoff(BACKOFF_BASE=1.0, BACKOFF_MAX=10.0, BACKOFF_JITTER=0)
def test_backoff_of_a_very_late_attempt_is_capped_too():
    assert backoff_seconds(1100) == 10


@backoff(BACKOFF_BASE=0, BACKOFF_JITTER=0.25)
def test_a_zero_base_retries_at_once():
    assert backoff_seconds(5) == 0.0


@backoff(BACKOFF_BASE=1.0, BACKOFF_MAX=3600.0, BACKOFF_JITTER=0.25)
def test_jitter_stays_within_its_fraction_of_the_delay():
    rng = random.Random(1234)
    delays = [backoff_seconds(4, rng) for _ in range(2000)]  # 8 s +/- 25 %
    assert all(6.0 <= delay <= 10.0 for delay in delays)
    assert min(delays) < 6.5 and max(delays) > 9.5, "the whole range is used"
    assert len(set(delays)) > 1900, "failed jobs do not come back in lockstep"


@backoff(BACKOFF_BASE=1.0, BACKOFF_MAX=3600.0, BACKOFF_JITTER=0.25)
def test_jitter_bounds_are_exact():
    assert backoff_seconds(4, Extreme(high=False)) == 6.0
    assert backoff_seconds(4, Extreme(high=True)) == 10.0


@backoff(BACKOFF_BASE=1.0, BACKOFF_MAX=10.0, BACKOFF_JITTER=0.25)
def test_jitter_applies_to_the_capped_delay():
    assert backoff_seconds(30, Extreme(high=False)) == 7.5
    assert backoff_seconds(30, Extreme(high=True)) == 12.5


@backoff(BACKOFF_BASE=1.0, BACKOFF_JITTER=1.0)
def test_full_jitter_never_goes_negative():
    assert backoff_seconds(3, Extreme(high=False)) == 0.0
    assert backoff_seconds(3, Extreme(high=True)) == 8.0


@backoff(BACKOFF_BASE=1.0, BACKOFF_JITTER=0.5)
def test_the_same_seed_gives_the_same_delays():
    first = [backoff_seconds(n, random.Random(7)) for n in range(1, 6)]
    assert first == [backoff_seconds(n, random.Random(7)) for n in range(1, 6)]


@pytest.mark.parametrize(
    ("attempt", "max_retries", "retry"),
    [
        (1, 0, False),  # retries=0: one attempt only
        (1, 1, True),
        (2, 1, False),
        (1, 3, True),
        (3, 3, True),
        (4, 3, False),
    ],
)
def test_should_retry_gives_n_extra_attempts_after_the_first(attempt, max_retries, retry):
    assert should_retry(attempt, max_retries) is retry


def test_describe_error_names_the_class_then_the_traceback():
    try:
        raise KeyError("missing")
    except KeyError as exc:
        builtin = describe_error(exc)
    assert builtin.startswith("KeyError: 'missing'\n\nTraceback (most recent call last):")
    assert builtin.rstrip().endswith("KeyError: 'missing'")

    class Custom(Exception):
        pass

    described = describe_error(Custom("boom"))
    assert described.startswith(f"{__name__}.{Custom.__qualname__}: boom\n\n")
