"""Django's Tasks framework for the tests: built into Django 6, the django-tasks backport on 5.2.

Importing this module skips the importing test module when neither is there.
"""

from __future__ import annotations

import pytest

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

__all__ = [
    "BACKEND",
    "InvalidTask",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]

BACKEND = "django_durable_jobs.backend.DurableJobsBackend"
