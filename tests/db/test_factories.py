"""The factories build rows the state machine accepts as the state they claim to be."""

from __future__ import annotations

import pytest
from django.utils import timezone

from django_durable_jobs import is_queue_paused, paused_jobs, resume_job, resume_queue, resume_worker
from django_durable_jobs.models import TERMINAL, FanOut, Job, Status
from django_durable_jobs.state.jobs import refusal

from ..factories import FanOutFactory, JobFactory, QueueStateFactory, WorkerFactory, make_children

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("status", Status.values)
def test_a_trait_and_the_status_argument_make_the_same_job(status):
    by_trait, by_status = JobFactory(**{status: True}), JobFactory(status=status)
    fields = ["status", "attempt", "worker_id", "paused_by", "pause_mode", "result", "last_error"]
    assert [getattr(by_trait, f) for f in fields] == [getattr(by_status, f) for f in fields]
    for field in ("lease", "lease_expires_at", "started_at", "paused_at", "finished_at"):
        assert (getattr(by_trait, field) is None) is (getattr(by_status, field) is None), field


@pytest.mark.parametrize("status", Status.values)
def test_each_status_fills_the_fields_it_implies(status):
    job = Job.objects.get(pk=JobFactory(status=status).pk)
    assert job.status == status
    assert (job.lease is not None) is (job.lease_expires_at is not None) is (status == Status.RUNNING)
    assert (job.finished_at is not None) is (status in TERMINAL)
    assert (job.paused_at is not None) is bool(job.pause_mode) is (status == Status.PAUSED)
    assert (job.result is not None) is (status == Status.COMPLETED)
    assert bool(job.last_error) is (status == Status.FAILED)
    if status == Status.RUNNING:
        assert job.lease_expires_at > timezone.now() and job.attempt == 1 and job.started_at


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        (Status.PENDING, {"pause", "cancel"}),
        (Status.RUNNING, {"pause", "cancel"}),
        (Status.WAITING, {"pause", "cancel"}),
        (Status.PAUSED, {"resume", "cancel"}),
        (Status.COMPLETED, set()),
        (Status.FAILED, {"retry"}),
        (Status.CANCELLED, {"retry"}),
    ],
)
def test_the_state_machine_offers_each_factory_job_the_actions_of_its_status(status, allowed):
    job = JobFactory(status=status)
    assert {a for a in ("pause", "resume", "cancel", "retry") if refusal(job, a) is None} == allowed


def test_a_paused_job_resumes_to_pending():
    job = JobFactory(paused=True)
    assert [j.pk for j in paused_jobs()] == [job.pk]
    assert resume_job(job.pk).status == Status.PENDING


def test_fan_out_children_are_numbered_and_counted():
    fanout = FanOutFactory(children=3, children__status=Status.COMPLETED)
    assert fanout.parent.status == Status.WAITING and fanout.index == 0
    make_children(fanout, 2, Status.FAILED)
    make_children(fanout, 1)
    fanout = FanOut.objects.get(pk=fanout.pk)
    assert (fanout.total, fanout.succeeded, fanout.failed, fanout.cancelled) == (6, 3, 2, 0)
    children = Job.objects.filter(fanout=fanout).order_by("fanout_index")
    assert [c.fanout_index for c in children] == list(range(6))
    assert FanOutFactory(parent=fanout.parent).index == 1


def test_workers_alive_dead_and_paused():
    alive, dead, stopped, paused = (
        WorkerFactory(),
        WorkerFactory(dead=True),
        WorkerFactory(stopped=True),
        WorkerFactory(paused=True),
    )
    assert [w.is_alive() for w in (alive, dead, stopped, paused)] == [True, False, False, True]
    assert (paused.pause_mode, paused.paused_at is not None) == ("graceful", True)
    assert not resume_worker(paused.pk).paused


def test_a_paused_queue_is_paused_for_the_api():
    state = QueueStateFactory(queue="emails", paused=True)
    assert is_queue_paused("emails") and state.paused_at is not None
    assert not resume_queue("emails").paused
