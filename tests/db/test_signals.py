"""Signals sent in this process (SPEC §9), recorded by demo.signal_log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from demo import signal_log
from demo.models import SignalLog

from django_durable_jobs import PauseMode, pause_queue, resume_queue, signals

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def logged_signals() -> Iterator[None]:
    """demo.signal_log's receivers, connected for this test only."""
    signal_log.connect()
    yield
    for name in signal_log.NAMES:
        getattr(signals, name).disconnect(dispatch_uid=f"demo-log-{name}")


def test_queue_signals_in_this_process(logged_signals) -> None:
    pause_queue("emails", mode=PauseMode.AGGRESSIVE, by="alice")
    resume_queue("emails")
    logged = list(SignalLog.objects.order_by("id").values_list("name", "detail"))
    assert logged == [("queue_paused", "aggressive"), ("queue_resumed", "emails")]
