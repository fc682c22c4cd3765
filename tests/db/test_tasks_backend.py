"""Django's Tasks framework on durable jobs: enqueuing, results and signals, no worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from demo import tasks
from django.db import transaction
from django.utils import timezone

from django_durable_jobs import cancel_job
from django_durable_jobs import signals as job_signals
from django_durable_jobs.backend import DurableJobsBackend
from django_durable_jobs.models import Job, Status

from ..factories import JobFactory
from ..tasks_framework import (
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
    task_enqueued,
    task_finished,
    task_started,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("durable_tasks")]


def job_of(result) -> Job:
    return Job.objects.get(pk=int(result.id))


class Received(list):
    """A signal receiver that keeps what it was sent."""

    def __call__(self, sender, task_result, **kwargs) -> None:
        self.append((sender, task_result))


@pytest.fixture
def received():
    connected = []

    def connect(signal) -> Received:
        receiver = Received()
        signal.connect(receiver)
        connected.append((signal, receiver))
        return receiver

    yield connect
    for signal, receiver in connected:
        signal.disconnect(receiver)


# --------------------------------------------------------------------- the backend


def test_enqueue_stores_a_job_with_the_task_options() -> None:
    later = timezone.now() + timedelta(hours=1)
    result = tasks.add.using(priority=10, queue_name="emails", run_after=later).enqueue(1, b=2)
    job = job_of(result)
    assert job.name == "tasks:demo.tasks.add"
    assert (job.queue, job.priority, job.run_after) == ("emails", 10, later)
    assert (job.args, job.kwargs, job.status) == ([1], {"b": 2}, Status.PENDING)
    assert result.status == TaskResultStatus.READY
    assert result.enqueued_at == job.created_at
    assert (result.args, result.kwargs, result.backend) == ([1], {"b": 2}, "default")
    assert (result.attempts, result.errors, result.is_finished) == (0, [], False)

    fetched = tasks.add.get_result(result.id)
    assert fetched.id == result.id
    assert fetched.status == TaskResultStatus.READY
    assert (fetched.task.priority, fetched.task.queue_name) == (10, "emails")
    assert fetched.task.run_after == later
    assert fetched.task.func is tasks.add.func
    with pytest.raises(ValueError, match="not finished"):
        _ = fetched.return_value


def test_a_task_without_run_after_is_not_reported_as_deferred() -> None:
    result = tasks.add.enqueue(1, 2)
    assert result.task.run_after is None
    assert tasks.add.get_result(result.id).task.run_after is None


def test_task_enqueued_is_sent_after_commit_only() -> None:
    receiver = Received()
    task_enqueued.connect(receiver)
    try:
        with transaction.atomic():
            result = tasks.add.enqueue(1, 2)
            assert receiver == []
        assert [(sender, r.id) for sender, r in receiver] == [(DurableJobsBackend, result.id)]

        with pytest.raises(RuntimeError), transaction.atomic():
            tasks.add.enqueue(3, 4)
            raise RuntimeError("roll back")
        assert len(receiver) == 1
        assert Job.objects.count() == 1
    finally:
        task_enqueued.disconnect(receiver)


def test_aenqueue_and_aget_result() -> None:
    result = async_to_sync(tasks.async_add.aenqueue)(1, 2)
    fetched = async_to_sync(tasks.async_add.aget_result)(result.id)
    assert (fetched.id, fetched.status) == (result.id, TaskResultStatus.READY)


def test_get_result_of_an_unknown_id_raises_task_result_does_not_exist() -> None:
    from demo import jobs

    plain_job = jobs.add.enqueue(1, 2)  # a durable job, not a task
    for result_id in ("999999", "not-a-number", "²", str(2**70), str(plain_job.pk)):
        with pytest.raises(TaskResultDoesNotExist):
            task_backends["default"].get_result(result_id)


# ------------------------------------------------------------------ refused options


def test_a_non_json_argument_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match=r"argument 'b' of job 'tasks:demo.tasks.add': object .* is not JSON"):
        tasks.add.enqueue(1, object())
    with pytest.raises(TypeError, match="bad arguments"):
        tasks.add.enqueue(1)
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"priority": 500}, "priority must be a whole number between -100 and 100"),
        ({"priority": "high"}, "priority must be an integer"),
        ({"queue_name": "nope"}, "Queue 'nope' is not valid"),
        ({"run_after": timezone.now().replace(tzinfo=None)}, "aware"),
    ],
)
def test_bad_task_options_are_refused_with_invalid_task(options, message) -> None:
    with pytest.raises(InvalidTask, match=message):
        tasks.add.using(**options).enqueue(1, 2)
    assert Job.objects.count() == 0


# ------------------------------------------------------------------ framework signals


def test_job_signals_of_task_jobs_are_forwarded_as_task_signals(received) -> None:
    started, finished = received(task_started), received(task_finished)
    result = tasks.add.enqueue(1, 2)
    row = Job.objects.filter(pk=result.id)
    as_the_worker_sends_it = Job(pk=int(result.id), name="tasks:demo.tasks.add")  # no query
    row.update(status=Status.RUNNING, attempt=1, started_at=timezone.now())
    job_signals.send(job_signals.job_started, job=as_the_worker_sends_it)
    row.update(status=Status.COMPLETED, result=3, finished_at=timezone.now())
    job_signals.send(job_signals.job_completed, job=as_the_worker_sends_it)

    [(sender, running)] = started
    assert sender is DurableJobsBackend
    assert (running.id, running.status, running.attempts) == (result.id, "RUNNING", 1)
    [(sender, done)] = finished
    assert (done.status, done.return_value, done.backend) == ("SUCCESSFUL", 3, "default")


def test_a_failed_or_cancelled_task_job_sends_task_finished(received) -> None:
    finished = received(task_finished)
    last_error = "ValueError: x\n\nTraceback (most recent call last):\n"
    failed = JobFactory(name="tasks:demo.tasks.explode", args=["x"], failed=True, last_error=last_error)
    job_signals.send(job_signals.job_failed, job=failed)
    cancelled = tasks.add.enqueue(1, 2)
    cancel_job(int(cancelled.id))

    assert [(r.id, r.status) for _, r in finished] == [
        (str(failed.pk), TaskResultStatus.FAILED),
        (cancelled.id, TaskResultStatus.FAILED),
    ]
    assert finished[0][1].errors[0].exception_class is ValueError


def test_plain_jobs_send_no_task_signals(received) -> None:
    from demo import jobs

    started = received(task_started)
    job = jobs.add.enqueue(1, 2)
    job_signals.send(job_signals.job_started, job=job)
    assert started == []
