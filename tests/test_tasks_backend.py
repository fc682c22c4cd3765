"""Django's Tasks framework on durable jobs: ``@task`` functions run by real ``runjobs``."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync

try:
    from django.tasks import TaskResultStatus, task_backends
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
except ImportError:  # Django 5.2: the django-tasks backport
    pytest.importorskip("django_tasks", reason="Django 5.2 needs django-tasks for django.tasks")
    from django_tasks import TaskResultStatus, task_backends
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started

from demo import tasks
from demo.models import SideEffect
from django.db import transaction
from django.utils import timezone

from django_durable_jobs import cancel_job
from django_durable_jobs import signals as job_signals
from django_durable_jobs.backend import (
    DurableJobsBackend,
    parse_error,
    resolve_task_job,
)
from django_durable_jobs.models import Job, Status

pytestmark = pytest.mark.django_db(transaction=True)

BACKEND = "django_durable_jobs.backend.DurableJobsBackend"


@pytest.fixture(autouse=True)
def durable_tasks(settings) -> None:
    settings.TASKS = {"default": {"BACKEND": BACKEND, "QUEUES": ["default", "emails"]}}


@pytest.fixture
def burst(run_worker):
    """Run ``runjobs --burst`` with the given arguments to completion."""

    def run(*args: str) -> str:
        worker = run_worker("--burst", *args)
        assert worker.wait(timeout=60) == 0, worker.output()
        return worker.output()

    return run


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


def test_backend_is_configured_with_truthful_capabilities() -> None:
    assert isinstance(task_backends["default"], DurableJobsBackend)
    assert task_backends["default"].supports_defer
    assert task_backends["default"].supports_async_task
    assert task_backends["default"].supports_get_result
    assert task_backends["default"].supports_priority


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
    with pytest.raises(TypeError, match=r"argument 'b' of job 'tasks:demo.tasks.add' is not JSON"):
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


def test_a_queue_name_the_job_system_cannot_store_is_refused(settings) -> None:
    settings.TASKS = {"default": {"BACKEND": BACKEND, "QUEUES": []}}  # any queue
    with pytest.raises(InvalidTask, match="may not contain"):
        tasks.add.using(queue_name="a:b")


# ------------------------------------------------------------------ a real worker


def test_runjobs_runs_tasks_and_get_result_reports_their_values(burst) -> None:
    add = tasks.add.enqueue(2, 3)
    greet = tasks.greet.enqueue("Ada", greeting="Hi")
    async_add = tasks.async_add.enqueue(4, 5)
    recorded = tasks.record.enqueue("ran")
    burst()

    for task, result, value in [
        (tasks.add, add, 5),
        (tasks.greet, greet, "Hi, Ada!"),
        (tasks.async_add, async_add, 9),
    ]:
        fetched = task.get_result(result.id)
        assert fetched.status == TaskResultStatus.SUCCESSFUL
        assert fetched.return_value == value
        assert (fetched.is_finished, fetched.attempts, fetched.errors) == (True, 1, [])
        assert fetched.enqueued_at <= fetched.started_at <= fetched.finished_at
        assert fetched.last_attempted_at == fetched.started_at

    assert SideEffect.objects.get(key="ran").worker_pid != os.getpid()
    recorded.refresh()  # the framework's refresh() goes through get_result()
    assert recorded.status == TaskResultStatus.SUCCESSFUL
    assert recorded.return_value == SideEffect.objects.get(key="ran").pk


def test_a_failing_task_is_failed_with_its_exception_and_traceback(burst) -> None:
    result = tasks.explode.enqueue("boom")
    burst()
    fetched = tasks.explode.get_result(result.id)
    assert fetched.status == TaskResultStatus.FAILED
    assert fetched.is_finished and fetched.finished_at is not None
    assert fetched.attempts == 1
    [error] = fetched.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert error.exception_class is ValueError
    assert error.traceback.startswith("Traceback (most recent call last):")
    assert "in explode" in error.traceback
    assert error.traceback.rstrip().endswith("ValueError: boom")
    with pytest.raises(ValueError, match="Task failed"):
        _ = fetched.return_value


def test_a_task_with_context_gets_its_result_id_and_attempt(burst) -> None:
    result = tasks.attempt_info.enqueue("ctx")
    burst()
    fetched = tasks.attempt_info.get_result(result.id)
    assert fetched.status == TaskResultStatus.SUCCESSFUL
    assert fetched.return_value == {"label": "ctx", "attempt": 1, "id": result.id}


def test_higher_priority_tasks_run_first(burst) -> None:
    tasks.record.using(priority=-5).enqueue("low")
    tasks.record.using(priority=50).enqueue("high")
    tasks.record.enqueue("middle")
    burst("--concurrency", "1")
    assert list(SideEffect.objects.order_by("id").values_list("key", flat=True)) == [
        "high",
        "middle",
        "low",
    ]


def test_queue_name_decides_which_workers_run_a_task(burst) -> None:
    email = tasks.record.using(queue_name="emails").enqueue("email")
    default = tasks.record.enqueue("default")
    burst("--queue", "default")
    assert tasks.record.get_result(default.id).status == TaskResultStatus.SUCCESSFUL
    assert tasks.record.get_result(email.id).status == TaskResultStatus.READY
    burst("--queue", "emails")
    assert tasks.record.get_result(email.id).status == TaskResultStatus.SUCCESSFUL


def test_a_deferred_task_waits_for_run_after(burst) -> None:
    soon = timezone.now() + timedelta(seconds=2)
    due_soon = tasks.record.using(run_after=soon).enqueue("soon")
    later = tasks.record.using(run_after=timezone.now() + timedelta(hours=1)).enqueue("later")
    burst()  # --burst waits for work due within a few seconds, not for an hour
    fetched = tasks.record.get_result(due_soon.id)
    assert fetched.status == TaskResultStatus.SUCCESSFUL
    assert fetched.started_at >= soon
    assert tasks.record.get_result(later.id).status == TaskResultStatus.READY


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
    failed = tasks.explode.enqueue("x")
    last_error = "ValueError: x\n\nTraceback (most recent call last):\n"
    Job.objects.filter(pk=failed.id).update(status=Status.FAILED, attempt=1, last_error=last_error)
    job_signals.send(job_signals.job_failed, job=job_of(failed))
    cancelled = tasks.add.enqueue(1, 2)
    cancel_job(int(cancelled.id))

    assert [(r.id, r.status) for _, r in finished] == [
        (failed.id, TaskResultStatus.FAILED),
        (cancelled.id, TaskResultStatus.FAILED),
    ]
    assert finished[0][1].errors[0].exception_class is ValueError


def test_the_worker_forwards_signals_of_sync_and_async_tasks_cleanly(burst) -> None:
    tasks.add.enqueue(1, 2)
    tasks.async_add.enqueue(1, 2)
    output = burst()
    assert "signal receiver" not in output, output


def test_plain_jobs_send_no_task_signals(received) -> None:
    from demo import jobs

    started = received(task_started)
    job = jobs.add.enqueue(1, 2)
    job_signals.send(job_signals.job_started, job=job)
    assert started == []


# ------------------------------------------------------------------ worker lookup, errors


def test_resolve_task_job_imports_tasks_only() -> None:
    definition = resolve_task_job("tasks:demo.tasks.greet")
    assert definition is not None and definition.func is tasks.greet.func
    assert definition.name == "tasks:demo.tasks.greet"
    assert resolve_task_job("tasks:os.getcwd") is None  # importable, but not a Task
    assert resolve_task_job("tasks:demo.tasks.missing") is None
    assert resolve_task_job("demo.add") is None


def test_resolve_task_job_hides_the_context_argument() -> None:
    definition = resolve_task_job("tasks:demo.tasks.attempt_info")
    assert list(definition.signature.parameters) == ["label"]


@pytest.mark.parametrize(
    ("last_error", "class_path", "traceback"),
    [
        (
            "demo.Err: bad\n\nTraceback (most recent call last):\n  x\ndemo.Err: bad\n",
            "demo.Err",
            "Traceback (most recent call last):\n  x\ndemo.Err: bad\n",
        ),
        ("KeyError: 'k'", "builtins.KeyError", "KeyError: 'k'"),
        (
            "worker lost: lease expired, job reclaimed",
            "builtins.Exception",
            "worker lost: lease expired, job reclaimed",
        ),
    ],
)
def test_parse_error(last_error, class_path, traceback) -> None:
    error = parse_error(last_error)
    assert (error.exception_class_path, error.traceback) == (class_path, traceback)
