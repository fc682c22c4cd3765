"""Group commit: the writer waits up to COMMIT_INTERVAL after a first outcome for more."""

from __future__ import annotations

import threading
import time

from django.test import override_settings

from django_durable_jobs.worker.writer import Writer


def batch_after_late_arrival(interval: float) -> int:
    """Hand the writer one outcome, a second one 50 ms later; how many make the first batch?"""
    writer = Writer("default", slots=None, wake=threading.Event(), stats={})  # type: ignore[arg-type]
    first, second = ("a", "first"), ("b", "second")
    threading.Timer(0.05, writer.put, args=second).start()
    with override_settings(DURABLE_JOBS={"COMMIT_INTERVAL": interval}):
        batch, stop = writer._collect(first)  # type: ignore[arg-type]
    assert not stop
    time.sleep(0.1)  # let the timer finish before the test ends
    return len(batch)


def test_outcomes_arriving_within_the_interval_share_a_commit() -> None:
    assert batch_after_late_arrival(0.5) == 2


def test_without_an_interval_the_first_outcome_is_written_alone() -> None:
    assert batch_after_late_arrival(0.0) == 1
