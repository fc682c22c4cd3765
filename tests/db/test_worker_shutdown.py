"""Shutdown must not lose a fan-out child's completion.

The defect: at shutdown, a child whose handler had *just* finished, its
completion still queued for the writer, was also handed a "release". With
both in one batch the release overwrote COMPLETED, so the fan-out never
counted the child, its parent waited forever and no ``job_completed`` was
sent. Two fixes, one test each: the state machine resolves two outcomes of
one execution in a batch (the completion wins), and the worker's shutdown
releases only executions its interrupt actually stopped.
"""

from __future__ import annotations

import threading

import pytest

from django_durable_jobs import fan_out, job, signals, sub
from django_durable_jobs.conf import jobs_settings
from django_durable_jobs.models import FanOut, Job, Status
from django_durable_jobs.state import execution as run_state
from django_durable_jobs.state.execution import Outcome
from django_durable_jobs.worker import Pool, Worker
from django_durable_jobs.worker.execution import Execution
from django_durable_jobs.worker.writer import Writer
from tests.conftest import wait_for
from tests.factories import FanOutFactory

pytestmark = pytest.mark.django_db(transaction=True)

child_entered = threading.Event()
child_may_return = threading.Event()


@job("tests.shutdown.child")
def child() -> int:
    child_entered.set()
    assert child_may_return.wait(30)
    return 7


@job("tests.shutdown.parent")
def parent() -> list[int]:
    return fan_out([sub(child)]).values()


@job("tests.shutdown.other")
def other() -> str:
    return "ok"


def test_shutdown_keeps_the_completion_of_a_child_that_finished_meanwhile(settings, monkeypatch) -> None:
    """The race, made certain: the child's handler returns between the moment
    shutdown lists it as running and the moment shutdown interrupts it, while
    the writer is busy, so its completion waits in the writer's queue."""
    settings.DURABLE_JOBS = {**settings.DURABLE_JOBS, "SHUTDOWN_GRACE_SECONDS": 0}
    child_entered.clear()
    child_may_return.clear()
    ids: dict[str, int] = {}
    recorded: list[tuple[int, str]] = []
    writer_busy, writer_may_go = threading.Event(), threading.Event()

    record = run_state.record

    def slow_record(using: str, outcomes: list[Outcome]) -> list[str | None]:
        recorded.extend((o.job_id, o.kind) for o in outcomes)
        if any(o.job_id != ids.get("child") for o in outcomes):  # the other job's batch holds the writer
            writer_busy.set()
            assert writer_may_go.wait(30)
        return record(using, outcomes)

    interrupt = Execution.interrupt

    def interrupt_once_finished(self: Execution, reason: str) -> bool:
        if self.ctx.id == ids["child"] and reason == "worker shutting down":
            child_may_return.set()
            wait_for(lambda: self.delivered, timeout=10)  # the completion is in the writer's queue
        return interrupt(self, reason)

    stop_writer = Writer.stop

    def stop_after_the_queued_outcomes(self: Writer) -> None:
        writer_may_go.set()
        stop_writer(self)

    monkeypatch.setattr(run_state, "record", slow_record)
    monkeypatch.setattr(Execution, "interrupt", interrupt_once_finished)
    monkeypatch.setattr(Writer, "stop", stop_after_the_queued_outcomes)
    completed: list[int] = []

    def on_completed(job: Job, **kwargs: object) -> None:
        completed.append(job.pk)

    signals.job_completed.connect(on_completed, weak=False)
    worker = Worker([Pool(queues=None, concurrency=2)], worker_id="shutdown-race")
    thread = threading.Thread(target=worker.run, daemon=True)
    try:
        thread.start()
        waiting = parent.enqueue()
        assert child_entered.wait(30)
        ids["child"] = Job.objects.get(fanout__parent=waiting).pk
        other.enqueue()
        assert writer_busy.wait(30)
        worker.stop()
        thread.join(timeout=30)
        assert not thread.is_alive()
    finally:
        signals.job_completed.disconnect(on_completed)
        child_may_return.set()
        writer_may_go.set()

    finished = Job.objects.get(pk=ids["child"])
    assert (finished.status, finished.result) == (Status.COMPLETED, 7)
    fanout = FanOut.objects.get(parent=waiting)
    assert (fanout.state, fanout.succeeded) == (FanOut.State.SUCCEEDED, 1), "the fan-out counted the child"
    assert Job.objects.get(pk=waiting.pk).status == Status.PENDING, "the parent was woken"
    assert ids["child"] in completed, "job_completed was sent"
    assert [kind for job_id, kind in recorded if job_id == ids["child"]] == ["complete"], (
        "a handler that finished is not released"
    )
    assert worker.stats["discarded"] == 0


@pytest.mark.parametrize("order", ["complete first", "release first"])
def test_record_keeps_the_completion_when_a_release_of_the_same_execution_comes_with_it(order) -> None:
    fanout = FanOutFactory(children=1, children__status=Status.RUNNING)
    running = Job.objects.get(fanout=fanout)
    complete = Outcome("complete", running.pk, running.lease, fanout.pk, result=7)
    release = Outcome("release", running.pk, running.lease, fanout.pk)
    batch = [complete, release] if order == "complete first" else [release, complete]

    statuses = run_state.record(jobs_settings.DATABASE, batch)

    assert statuses[batch.index(complete)] == Status.COMPLETED
    assert statuses[batch.index(release)] is None, "superseded: nothing written for it"
    running.refresh_from_db()
    fanout.refresh_from_db()
    assert (running.status, running.result) == (Status.COMPLETED, 7)
    assert (fanout.state, fanout.succeeded) == (FanOut.State.SUCCEEDED, 1)
    assert Job.objects.get(pk=fanout.parent_id).status == Status.PENDING
