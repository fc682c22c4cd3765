"""Tasks of Django's Tasks framework (also used by the test suite).

They run on whichever backend TASKS names; with
``django_durable_jobs.backend.DurableJobsBackend`` they become durable jobs.
"""

import os

from .models import SideEffect

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the django-tasks backport
    from django_tasks import task


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def greet(name: str, *, greeting: str = "Hello") -> str:
    return f"{greeting}, {name}!"


@task
async def async_add(a: int, b: int) -> int:
    return a + b


@task
def explode(message: str) -> None:
    raise ValueError(message)


@task
def record(key: str) -> int:
    """Leave a SideEffect row: shows which process ran the task, and in what order."""
    return SideEffect.objects.create(key=key, worker_pid=os.getpid()).pk


@task(takes_context=True)
def attempt_info(context, label: str) -> dict:
    return {"label": label, "attempt": context.attempt, "id": context.task_result.id}
