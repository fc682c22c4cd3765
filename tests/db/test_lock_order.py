"""Races between people's transitions and the worker's writes (PostgreSQL row locks).

Each test holds one transaction open at the exact point where the old code
went wrong, runs the competing transition in another thread (another
connection), then lets the first one finish. On SQLite every write
transaction is serialised by BEGIN IMMEDIATE, so these races cannot happen
there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, transaction

from django_durable_jobs import PauseMode, pause_queue, resume_job
from django_durable_jobs.conf import jobs_settings
from django_durable_jobs.models import FanOut, Job, Status
from django_durable_jobs.state import execution
from django_durable_jobs.state.common import lock
from django_durable_jobs.storage import engine
from tests.factories import FanOutFactory, JobFactory, make_children

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


class Side(threading.Thread):
    """Run ``body`` on its own connection; keep its error for the test to raise."""

    def __init__(self, body: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.body = body
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.body()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            connections.close_all()

    def finish(self, timeout: float = 15) -> None:
        self.join(timeout)
        assert not self.is_alive(), "thread did not finish: a lock wait that never ends"
        if self.error is not None:
            raise self.error


def test_resume_of_paused_parent_while_its_fan_out_resolves() -> None:
    """The writer counts the last child and resolves the fan-out; before it commits, the
    paused parent is resumed. The parent must end up pending, never waiting forever."""
    fanout = FanOutFactory(parent=JobFactory(paused=True))
    (child,) = make_children(fanout, 1, status=Status.RUNNING)
    counted, release = threading.Event(), threading.Event()

    def writer() -> None:
        with transaction.atomic(using=jobs_settings.DATABASE):
            outcome = execution.Outcome("complete", child.pk, child.lease, fanout.pk, result=1)
            assert execution.record(jobs_settings.DATABASE, [outcome]) == [Status.COMPLETED]
            counted.set()
            release.wait(10)

    side = Side(writer)
    side.start()
    assert counted.wait(10)
    resumer = Side(lambda: resume_job(fanout.parent_id))
    resumer.start()
    resumer.join(0.5)  # it must wait for the writer's fan-out lock, not decide from a stale read
    release.set()
    side.finish()
    resumer.finish()
    assert FanOut.objects.get(pk=fanout.pk).state == FanOut.State.SUCCEEDED
    assert Job.objects.get(pk=fanout.parent_id).status == Status.PENDING


def test_aggressive_queue_pause_locks_jobs_in_the_writers_order() -> None:
    """A writer locks a batch's jobs by ascending id. An aggressive pause of their queue
    must take them in the same order, or the two deadlock ("deadlock detected")."""
    first, second = JobFactory(running=True, queue="lockorder"), JobFactory(running=True, queue="lockorder")
    holding_first, go_on = threading.Event(), threading.Event()

    def writer() -> None:
        with transaction.atomic(using=jobs_settings.DATABASE):
            engine().lock_jobs([first.pk])
            holding_first.set()
            go_on.wait(10)
            engine().lock_jobs([second.pk])

    side = Side(writer)
    side.start()
    assert holding_first.wait(10)
    pauser = Side(lambda: pause_queue("lockorder", PauseMode.AGGRESSIVE))
    pauser.start()
    pauser.join(0.5)  # let the pause take whatever locks it takes first
    go_on.set()
    side.finish()
    pauser.finish()
    assert set(Job.objects.filter(queue="lockorder").values_list("status", flat=True)) == {Status.PENDING}


def test_reclaim_of_a_given_up_child_locks_its_fan_out_first() -> None:
    """Reclaim fails a child whose workers keep dying and counts it on its fan-out. A writer
    holding that fan-out and about to lock the child must not deadlock with it."""
    fanout = FanOutFactory()
    (child,) = make_children(
        fanout, 1, status=Status.RUNNING, expired=True, reclaims=jobs_settings.MAX_RECLAIMS
    )
    holding_fanout, go_on = threading.Event(), threading.Event()

    def writer() -> None:
        with transaction.atomic(using=jobs_settings.DATABASE):
            lock(jobs_settings.DATABASE, fanouts=[fanout.pk])
            holding_fanout.set()
            go_on.wait(10)
            engine().lock_jobs([child.pk])

    side = Side(writer)
    side.start()
    assert holding_fanout.wait(10)
    reclaimer = Side(lambda: execution.reclaim_expired(jobs_settings.DATABASE))
    reclaimer.start()
    reclaimer.join(0.5)
    go_on.set()
    side.finish()
    reclaimer.finish()
    assert Job.objects.get(pk=child.pk).status == Status.FAILED
    assert FanOut.objects.get(pk=fanout.pk).state == FanOut.State.FAILED
