"""``current_job().set_progress()``: checked input, a fenced write, one write a second, the last kept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from django_durable_jobs import InvalidValue, JobInterrupted, PauseMode, pause_job
from django_durable_jobs import context as context_module
from django_durable_jobs.context import JobContext
from django_durable_jobs.models import Job

from ..factories import JobFactory

pytestmark = pytest.mark.django_db


class Clock:
    """``time.monotonic`` of the context module, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(context_module.time, "monotonic", fake)
    return fake


def context_of(job: Job, lease: str | None = None) -> JobContext:
    """The context the worker would hand the handler of ``job`` (or of a stale execution)."""
    return JobContext(
        id=job.pk,
        name=job.name,
        queue=job.queue,
        attempt=job.attempt,
        max_retries=job.max_retries,
        lease=lease or job.lease,
        args=[],
        kwargs={},
    )


def progress_of(job: Job) -> tuple[Any, Any, str]:
    return Job.objects.values_list("progress_done", "progress_total", "progress_message").get(pk=job.pk)


def test_a_report_is_stored_with_its_time() -> None:
    job = JobFactory(running=True)
    context_of(job).set_progress(3, 10, "copying rows")
    stored = Job.objects.get(pk=job.pk)
    assert (stored.progress_done, stored.progress_total, stored.progress_message) == (3, 10, "copying rows")
    assert stored.progress_at is not None and stored.progress_at >= stored.started_at
    assert stored.updated_at == job.updated_at  # a report is no state change


@pytest.mark.parametrize(
    "args, message",
    [
        ((-1,), "done: -1 is outside 0..9223372036854775807"),
        ((1.5,), "done: 1.5 is not an integer"),
        ((True,), "done: True is not an integer"),
        ((5, 4), "total: 4 is less than done (5)"),
        ((1, -3), "total: -3 is outside 0..9223372036854775807"),
        ((1, None, 7), "message: 7 is not a string"),
        ((1, 2, "a\x00b"), "message: 'a\\x00b' contains a NUL character, which the database cannot store"),
    ],
)
def test_bad_reports_are_refused_naming_the_problem(args: tuple, message: str) -> None:
    job = JobFactory(running=True)
    with pytest.raises(InvalidValue) as refused:
        context_of(job).set_progress(*args)
    assert str(refused.value) == message
    assert progress_of(job) == (None, None, "")


def test_a_long_message_is_cut_keeping_its_start_and_end() -> None:
    job = JobFactory(running=True)
    context_of(job).set_progress(1, None, "start" + "x" * 5000 + "end")
    _, total, message = progress_of(job)
    assert total is None
    assert len(message) <= 1000 and message.startswith("start") and message.endswith("end")
    assert "characters cut" in message


def test_one_write_a_second_and_the_last_report_is_never_lost(clock: Clock) -> None:
    job = JobFactory(running=True)
    ctx = context_of(job)
    ctx.set_progress(1, 10)
    clock.now += 0.3
    ctx.set_progress(2, 10)
    ctx.set_progress(3, 10, "held back")
    assert progress_of(job) == (1, 10, "")  # the throttle held 2 and 3 back

    clock.now += 0.8  # over a second since the write: the next report goes through
    ctx.set_progress(4, 10, "next second")
    assert progress_of(job) == (4, 10, "next second")

    ctx.set_progress(9, 10, "last")
    assert progress_of(job) == (4, 10, "next second")
    ctx.flush_progress()  # what the worker does when the handler returns
    assert progress_of(job) == (9, 10, "last")
    ctx.flush_progress()  # nothing held back any more: no write
    assert progress_of(job) == (9, 10, "last")


def test_a_stale_execution_writes_nothing() -> None:
    job = JobFactory(running=True)
    current, stale = context_of(job), context_of(job, lease="lease-of-a-reclaimed-attempt")
    current.set_progress(5, 10, "current")
    with pytest.raises(JobInterrupted, match="lost lease"):
        stale.set_progress(8, 10, "stale")
    assert stale.interrupted == "lost lease"
    assert progress_of(job) == (5, 10, "current")
    with pytest.raises(JobInterrupted):  # it stays stopped, without asking the database again
        stale.set_progress(9, 10, "stale again")


def test_an_execution_whose_job_was_paused_writes_nothing_even_when_it_flushes(clock: Clock) -> None:
    job = JobFactory(running=True)
    ctx = context_of(job)
    ctx.set_progress(1, 10, "before the pause")
    clock.now += 0.1
    ctx.set_progress(2, 10, "held back")
    pause_job(job.pk, PauseMode.AGGRESSIVE, by="ops")  # takes the lease away
    ctx.flush_progress()  # fenced: no write, no error
    assert progress_of(job) == (1, 10, "before the pause")
    clock.now += 2
    with pytest.raises(JobInterrupted):
        ctx.set_progress(3, 10, "after the pause")
    assert progress_of(job) == (1, 10, "before the pause")


@pytest.mark.django_db(transaction=True)  # the write runs on another thread's connection
def test_async_handlers_await_aset_progress() -> None:
    job = JobFactory(running=True)
    ctx = context_of(job)

    async def handler() -> None:
        with pytest.raises(RuntimeError, match="await aset_progress"):
            ctx.set_progress(1, 4)
        await ctx.aset_progress(2, 4, "async")
        await ctx.aset_progress(3, 4, "held back")

    asyncio.run(handler())
    assert progress_of(job) == (2, 4, "async")
    ctx.flush_progress()
    assert progress_of(job) == (3, 4, "held back")
