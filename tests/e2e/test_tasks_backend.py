"""Django's Tasks framework on durable jobs: ``@task`` functions run by real ``runjobs``."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from demo import tasks
from demo.models import SideEffect
from django.utils import timezone

from ..tasks_framework import TaskResultStatus

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("durable_tasks")]


@pytest.fixture
def burst(run_worker):
    """Run ``runjobs --burst`` with the given arguments to completion."""

    def run(*args: str) -> str:
        worker = run_worker("--burst", *args)
        assert worker.wait(timeout=60) == 0, worker.output()
        return worker.output()

    return run


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


def test_the_worker_forwards_signals_of_sync_and_async_tasks_cleanly(burst) -> None:
    tasks.add.enqueue(1, 2)
    tasks.async_add.enqueue(1, 2)
    output = burst()
    assert "signal receiver" not in output, output
