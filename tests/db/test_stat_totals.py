"""Cumulative statistics totals: what the fold adds, once; pruning and the scrape around them."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from django_durable_jobs import metrics as fleet
from django_durable_jobs.models import JobStat, JobStatTotal
from django_durable_jobs.state import stats as stat_state
from django_durable_jobs.stats import RUN_BUCKETS, WAIT_BUCKETS, minute_of
from django_durable_jobs.storage import engine

pytestmark = pytest.mark.django_db(transaction=True)

NOW = minute_of(timezone.now()) + timedelta(seconds=30)
CUTOFF = minute_of(NOW) - timedelta(minutes=2)


def stat(ago: int, name: str = "demo.add", *, wait: int = 0, run_max: float = 1.0, **counts: int) -> JobStat:
    """A rollup ``ago`` minutes before :data:`NOW` with ``wait`` waits in the fourth bucket."""
    waits = [0] * (len(WAIT_BUCKETS) + 1)
    waits[3] = wait
    runs = [0] * (len(RUN_BUCKETS) + 1)
    runs[-1] = counts.get("completed", 0)
    return JobStat.objects.create(
        minute=minute_of(NOW) - timedelta(minutes=ago),
        queue="default",
        name=name,
        wait_buckets=waits,
        run_buckets=runs,
        wait_count=wait,
        wait_seconds_sum=0.04 * wait,
        run_count=counts.get("completed", 0),
        run_seconds_max=run_max,
        **counts,
    )


def total(name: str = "demo.add") -> JobStatTotal:
    return JobStatTotal.objects.get(queue="default", name=name)


def finished_total(outcome: str = "completed", name: str = "demo.add") -> float:
    """``durable_jobs_finished_total`` of one series, scraped."""
    for family in text_string_to_metric_families(fleet.render()[0].decode()):
        for sample in family.samples:
            if sample.name == "durable_jobs_finished_total" and sample.labels == {
                "queue": "default",
                "name": name,
                "outcome": outcome,
            }:
                return sample.value
    raise AssertionError(f"no {outcome} series for {name}")


def fold(now: datetime = NOW) -> int:
    """Fold as a worker does; returns how many totals grew."""
    return stat_state.fold_totals(connection.alias, now).totals


def test_a_fold_adds_exactly_the_minutes_after_the_watermark_up_to_two_minutes_ago() -> None:
    for ago, completed, wait in ((30, 1, 2), (3, 10, 5), (2, 100, 0), (1, 1000, 7), (0, 10000, 0)):
        stat(ago, completed=completed, wait=wait, run_max=float(ago))
    stat(3, "demo.other", failed=4)
    assert fold() == 2
    add = total()
    assert add.completed == 111 and add.through == CUTOFF, "the last two minutes are still being written"
    assert add.wait_buckets[3] == 7 and sum(add.wait_buckets) == 7 and add.run_buckets[-1] == 111
    assert add.wait_count == 7 and add.wait_seconds_sum == pytest.approx(0.28)
    assert add.run_seconds_max == 30.0 and add.run_count == 111
    assert total("demo.other").failed == 4 and total("demo.other").through == CUTOFF

    stat(-1, completed=50000)  # a minute after the first fold's "now"
    later = NOW + timedelta(minutes=3)
    assert fold(later) == 1, "only demo.add saw minutes after the watermark"
    add = total()
    assert add.completed == 61111 and add.wait_buckets[3] == 14, "(watermark, cutoff]: each minute once"
    assert add.run_seconds_max == 30.0
    assert total("demo.other").through == add.through == minute_of(later) - timedelta(minutes=2)


def test_folding_again_counts_nothing_twice() -> None:
    stat(5, completed=3, wait=2)
    stat(4, failed=1)
    assert fold() == 1
    assert fold() == 0 and fold(NOW + timedelta(seconds=20)) == 0, "the same cutoff: nothing left"
    assert fold(NOW + timedelta(minutes=1)) == 0, "minutes passed, but none had rows"
    add = total()
    assert (add.completed, add.failed, add.wait_buckets[3]) == (3, 1, 2)
    assert add.through == CUTOFF + timedelta(minutes=1), "the watermark moves on regardless"


def test_a_first_fold_over_weeks_of_minutes_catches_up_a_day_at_a_time() -> None:
    day = 24 * 60
    stat(3 * day, completed=1)
    stat(3 * day - 5, completed=10)
    stat(day, completed=100)
    stat(0, completed=1000)
    oldest = minute_of(NOW) - timedelta(minutes=3 * day)
    assert stat_state.fold_totals(connection.alias, NOW) == (
        oldest - timedelta(minutes=1) + timedelta(days=1),
        1,
    )
    assert total().completed == 11 and finished_total() == 1111, "the scrape reads the rest from the minutes"
    assert fold() == 0, "a day without rollups"
    assert fold() == 1 and total().completed == 111
    assert fold() == 0 and total().through == CUTOFF, "caught up: two minutes ago"
    assert finished_total() == 1111


def test_with_stats_off_the_workers_fold_nothing() -> None:
    stat(5, completed=3)
    with override_settings(DURABLE_JOBS={"STATS": False}):
        assert fold() == 0
    assert not JobStatTotal.objects.exists()


def test_pruning_minutes_does_not_lower_the_scraped_counter() -> None:
    days = timedelta(days=15) // timedelta(minutes=1)
    stat(days, completed=7, wait=1)
    stat(days - 1, failed=2)
    stat(0, completed=5)
    assert finished_total() == 12 and finished_total("failed") == 2
    assert stat_state.prune_stats(connection.alias, NOW)[0] == 2, "folded first, then pruned"
    assert list(JobStat.objects.values_list("minute", flat=True)) == [minute_of(NOW)]
    assert finished_total() == 12 and finished_total("failed") == 2
    assert total().completed == 7


def test_pruning_keeps_the_minutes_not_folded_yet() -> None:
    old = 15 * 24 * 60
    stat(old + 1, completed=1)
    stat(old, completed=10)
    store = engine()
    with store.atomic():
        assert store.delete_stats_before(minute_of(NOW))[0] == 0, "no fold yet: nothing may go"
    with store.atomic():
        store.fold_stats(minute_of(NOW) - timedelta(minutes=old + 1), stat_state.FOLD_SPAN)  # the older row
    with store.atomic():
        assert store.delete_stats_before(minute_of(NOW))[0] == 1, "only the folded minute goes"
    assert JobStat.objects.get().completed == 10
    assert finished_total() == 11


def test_the_scrape_counts_minutes_newer_than_the_watermark() -> None:
    stat(10, completed=2, wait=3)
    fold()
    stat(1, completed=20, wait=1)  # not folded: after the watermark
    stat(0, "demo.new", completed=4)  # a job name the totals have not seen yet
    assert finished_total() == 22 and finished_total(name="demo.new") == 4
    assert total().completed == 2
    text = fleet.render()[0].decode()
    assert 'durable_jobs_wait_seconds_count{queue="default"} 4.0' in text


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's BEGIN IMMEDIATE serialises folds")
def test_a_concurrent_fold_waits_for_the_first_and_finds_nothing_left() -> None:
    stat(5, completed=3)
    results: list[int] = []

    def second() -> None:
        try:
            results.append(fold())
        finally:
            connections.close_all()

    store = engine()
    with store.atomic():
        assert store.fold_stats(CUTOFF, stat_state.FOLD_SPAN)[1] == 1
        other = threading.Thread(target=second)
        other.start()
        other.join(0.5)
        assert other.is_alive(), "the second fold waits on the totals' lock"
    other.join(10)
    assert results == [0] and total().completed == 3
