"""Django's Tasks framework on durable jobs: the backend's parts that need no database."""

from __future__ import annotations

import pytest
from demo import tasks

from django_durable_jobs.backend import DurableJobsBackend, parse_error, resolve_task_job

from ..tasks_framework import BACKEND, InvalidTask, task_backends

pytestmark = pytest.mark.usefixtures("durable_tasks")


def test_backend_is_configured_with_truthful_capabilities() -> None:
    assert isinstance(task_backends["default"], DurableJobsBackend)
    assert task_backends["default"].supports_defer
    assert task_backends["default"].supports_async_task
    assert task_backends["default"].supports_get_result
    assert task_backends["default"].supports_priority


def test_a_queue_name_the_job_system_cannot_store_is_refused(settings) -> None:
    settings.TASKS = {"default": {"BACKEND": BACKEND, "QUEUES": []}}  # any queue
    with pytest.raises(InvalidTask, match="may not contain"):
        tasks.add.using(queue_name="a:b")


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
