"""Pause by job type (issue 13): the transitions, the claim, signals and the command line, no worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from demo import jobs as demo
from django.core.management import call_command
from django.utils import timezone

from django_durable_jobs import (
    InvalidValue,
    JobTypeAlreadyPaused,
    JobTypeNotPaused,
    PauseMode,
    is_job_type_paused,
    pause_job_type,
    paused_job_types,
    resume_job_type,
)
from django_durable_jobs import signals as sig
from django_durable_jobs.models import Job, JobTypeState, Status
from django_durable_jobs.state import execution
from django_durable_jobs.state.pauses import resume_due_pauses

from ..factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


def claim() -> set[int]:
    return {job.id for job in execution.claim("default", "w", None, 50)}


@pytest.fixture
def received():
    seen: list[tuple[str, dict]] = []

    def paused(sender, signal=None, **kwargs):
        seen.append(("paused", kwargs))

    def resumed(sender, signal=None, **kwargs):
        seen.append(("resumed", kwargs))

    sig.job_type_paused.connect(paused)
    sig.job_type_resumed.connect(resumed)
    yield seen
    sig.job_type_paused.disconnect(paused)
    sig.job_type_resumed.disconnect(resumed)


def test_a_paused_type_is_not_claimed_in_any_queue_and_resumes(received) -> None:
    held = [demo.add.enqueue(1, 2), demo.add.using(queue="other").enqueue(3, 4)]
    free = demo.square.enqueue(3)
    state = pause_job_type("demo.add", by="alice", reason="bad deploy")
    assert (state.paused, state.pause_mode, state.paused_by, state.reason) == (
        True,
        PauseMode.GRACEFUL,
        "alice",
        "bad deploy",
    )
    assert is_job_type_paused("demo.add") and paused_job_types() == ["demo.add"]
    assert claim() == {free.pk}
    resume_job_type("demo.add", by="bob")
    assert not is_job_type_paused("demo.add")
    assert claim() == {job.pk for job in held}
    assert received == [
        ("paused", {"name": "demo.add", "mode": PauseMode.GRACEFUL, "by": "alice"}),
        ("resumed", {"name": "demo.add", "by": "bob"}),
    ]


def test_graceful_lets_running_jobs_finish_and_aggressive_puts_them_back() -> None:
    running = JobFactory(running=True, name="demo.add")
    pause_job_type("demo.add")
    assert Job.objects.get(pk=running.pk).status == Status.RUNNING
    resume_job_type("demo.add")
    pause_job_type("demo.add", PauseMode.AGGRESSIVE)
    row = Job.objects.get(pk=running.pk)
    assert (row.status, row.attempt, row.lease) == (Status.PENDING, 0, None)


def test_until_resumes_by_itself() -> None:
    job = demo.add.enqueue(1, 2)
    pause_job_type("demo.add", until=timedelta(minutes=5))
    assert resume_due_pauses() == []
    assert resume_due_pauses(timezone.now() + timedelta(minutes=6)) == ["demo.add"]
    assert claim() == {job.pk}


def test_errors_name_the_problem() -> None:
    pause_job_type("demo.add")
    with pytest.raises(JobTypeAlreadyPaused, match="job type 'demo.add' is already paused"):
        pause_job_type("demo.add")
    with pytest.raises(JobTypeNotPaused, match="job type 'demo.square' is not paused"):
        resume_job_type("demo.square")
    with pytest.raises(InvalidValue, match=r"^name: 'a\\x00' contains a NUL character"):
        pause_job_type("a\x00")
    with pytest.raises(InvalidValue, match=r"^until: .* is not in the future"):
        pause_job_type("demo.square", until=timedelta(0))
    assert list(JobTypeState.objects.filter(paused=True).values_list("name", flat=True)) == ["demo.add"]


def test_the_command_line_pauses_and_resumes_types(capsys) -> None:
    call_command("durablejobs", "pause-job-type", "demo.add", "--mode", "aggressive", "--until", "30m")
    state = JobTypeState.objects.get(name="demo.add")
    assert state.paused and state.pause_mode == PauseMode.AGGRESSIVE
    assert timedelta(minutes=29) < state.paused_until - timezone.now() <= timedelta(minutes=30)
    call_command("durablejobs", "status")
    assert "job type demo.add paused by" in capsys.readouterr().out
    call_command("durablejobs", "resume-job-type", "demo.add")
    assert not JobTypeState.objects.get(name="demo.add").paused
