"""Pause and resume at job, queue and worker level (SPEC §8, §9): the transitions, no worker."""

from __future__ import annotations

import logging

import pytest
from demo import jobs as demo

from django_durable_jobs import (
    CannotPauseStatus,
    JobAlreadyPaused,
    JobNotFound,
    JobNotPaused,
    PauseMode,
    QueueAlreadyPaused,
    QueueNotPaused,
    is_job_paused,
    is_queue_paused,
    pause_job,
    pause_queue,
    paused_jobs,
    paused_queues,
    resume_job,
    resume_queue,
)
from django_durable_jobs import signals as sig
from django_durable_jobs.models import Job, Status

from ..factories import FanOutFactory, JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def received():
    """Every job/queue/worker signal sent in this process, as (name, kwargs)."""
    seen: list[tuple[str, dict]] = []
    names = [n for n in dir(sig) if n.startswith(("job_", "queue_", "worker_"))]
    receivers = {}
    for name in names:

        def receiver(sender, signal=None, _name=name, **kwargs):
            seen.append((_name, kwargs))

        receivers[name] = receiver
        getattr(sig, name).connect(receiver)
    yield seen
    for name, receiver in receivers.items():
        getattr(sig, name).disconnect(receiver)


@pytest.mark.parametrize("mode", [PauseMode.GRACEFUL, PauseMode.AGGRESSIVE, "aggressive"])
def test_pending_job_pauses_and_resumes(mode, received) -> None:
    job = demo.add.enqueue(1, 2)
    paused = pause_job(job.pk, mode=mode, by="alice", reason="bad deploy")
    assert paused.status == Status.PAUSED and is_job_paused(job.pk)
    row = Job.objects.get(pk=job.pk)
    assert (row.paused_by, row.pause_reason, row.pause_mode) == ("alice", "bad deploy", str(mode))
    assert row.paused_at is not None
    assert resume_job(job.pk, by="bob").status == Status.PENDING
    assert not is_job_paused(job.pk)
    names = [name for name, _ in received if name != "job_enqueued"]
    assert names == ["job_paused", "job_resumed"]
    assert received[1][1]["mode"] == mode and received[1][1]["by"] == "alice"
    assert received[1][1]["job"].pk == job.pk


def test_pause_errors() -> None:
    job = demo.add.enqueue(1, 2)
    pause_job(job.pk)
    with pytest.raises(JobAlreadyPaused, match="already paused"):
        pause_job(job.pk, mode=PauseMode.AGGRESSIVE)
    for status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED):
        done = JobFactory(status=status)
        with pytest.raises(CannotPauseStatus):
            pause_job(done.pk)
        with pytest.raises(JobNotPaused):
            resume_job(done.pk)
    with pytest.raises(JobNotFound):
        pause_job(999999)
    with pytest.raises(JobNotFound):
        resume_job(999999)
    with pytest.raises(ValueError, match="is not 'graceful' or 'aggressive'"):
        pause_job(job.pk, mode="gently")


def test_model_methods() -> None:
    job = demo.add.enqueue(1, 2)
    assert job.pause(by="carol").status == Status.PAUSED
    assert job.resume().status == Status.PENDING
    assert job.cancel().status == Status.CANCELLED
    assert job.retry().status == Status.PENDING


def test_waiting_parent_pauses_and_resumes_to_waiting() -> None:
    fanout = FanOutFactory(parent__name="demo.sum_squares", parent__args=[3], children=3)
    assert pause_job(fanout.parent_id).status == Status.PAUSED
    assert resume_job(fanout.parent_id).status == Status.WAITING
    assert set(Job.objects.filter(fanout=fanout).values_list("status", flat=True)) == {Status.PENDING}


def test_paused_jobs_and_queues_lists() -> None:
    a = demo.add.using(queue="emails").enqueue(1, 2)
    demo.add.using(queue="emails").enqueue(1, 2)
    b = demo.add.using(queue="other").enqueue(1, 2)
    pause_job(a.pk)
    pause_job(b.pk)
    assert [j.pk for j in paused_jobs("emails")] == [a.pk]
    assert {j.pk for j in paused_jobs()} == {a.pk, b.pk}
    pause_queue("emails", by="alice", reason="SMTP down")
    pause_queue("payments")
    assert sorted(paused_queues()) == ["emails", "payments"]
    assert is_queue_paused("emails") and not is_queue_paused("other")
    with pytest.raises(QueueAlreadyPaused):
        pause_queue("emails")
    resume_queue("emails")
    with pytest.raises(QueueNotPaused):
        resume_queue("emails")
    with pytest.raises(QueueNotPaused):
        resume_queue("never-seen")
    assert paused_queues() == ["payments"]


def test_raising_receiver_is_logged_and_breaks_nothing(caplog) -> None:
    def bad(**kwargs):
        raise RuntimeError("receiver bug")

    sig.queue_paused.connect(bad)
    try:
        with caplog.at_level(logging.ERROR, logger="django_durable_jobs.signals"):
            pause_queue("emails")
    finally:
        sig.queue_paused.disconnect(bad)
    assert is_queue_paused("emails")
    assert "receiver bug" in caplog.text


def test_aggressive_queue_pause_keeps_a_requested_job_pause() -> None:
    graceful, plain = JobFactory.create_batch(2, name="demo.add", args=[1, 2], queue="q", running=True)
    pause_job(graceful.pk, by="alice")
    pause_queue("q", mode=PauseMode.AGGRESSIVE)
    graceful.refresh_from_db()
    plain.refresh_from_db()
    assert (graceful.status, graceful.pause_mode, graceful.lease) == (Status.PAUSED, "graceful", None)
    assert (plain.status, plain.attempt, plain.lease) == (Status.PENDING, 0, None)
