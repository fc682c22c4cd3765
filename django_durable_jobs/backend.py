"""A backend for Django's Tasks framework that stores each task as a durable job.

::

    TASKS = {
        "default": {
            "BACKEND": "django_durable_jobs.backend.DurableJobsBackend",
            "QUEUES": ["default", "emails"],  # omit for ["default"]; [] allows any queue
        }
    }

``django.tasks`` on Django 6, the ``django-tasks`` backport on Django 5.2.

A task enqueued here becomes a :class:`~django_durable_jobs.models.Job` named
``"tasks:<module path of the task>"`` (``queue_name`` -> ``queue``,
``priority`` -> ``priority``, ``run_after`` -> ``run_after``) that
``manage.py runjobs`` executes; a worker that never enqueued finds the task
by importing that module path (:func:`resolve_task_job`, registered with the
job registry as the resolver of ``"tasks:"`` names when this module is
imported, which the app does at start-up). The result id is the job's
primary key, as a string.

What a :class:`TaskResult` reports, read from the job row:

- ``status``: pending, paused and waiting are READY; running is RUNNING;
  completed is SUCCESSFUL; failed and cancelled are FAILED.
- ``errors``: for a FAILED result, one :class:`TaskError` parsed from
  ``Job.last_error``, which the worker writes as
  ``"module.Class: message\\n\\nTraceback (most recent call last): ..."``
  (a builtin exception has no module: ``"ValueError: ..."``).
- ``started_at`` and ``last_attempted_at``: the start of the latest attempt
  (the job row keeps no earlier one).
- ``worker_ids``: one entry per attempt, so that ``attempts`` is the job's
  attempt count; the job row keeps only the worker of the attempt in
  progress, so the others are empty strings.

Job signals of task jobs are forwarded as the framework's ``task_started``
and ``task_finished`` (sender: :class:`DurableJobsBackend`) in every process
that uses this backend: ``TASKS`` names it, or a task job was enqueued or
resolved there. Other processes do not pay for building the job rows that
signals carry.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.module_loading import import_string

try:
    from django.tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import Task, TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
except ImportError:  # Django 5.2: the django-tasks backport
    from django_tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import Task, TaskError
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started

from . import signals, storage, validation
from .context import current_job
from .enqueuing import build_job, insert_one
from .exceptions import InvalidValue
from .models import Job, Status
from .registry import JobDefinition, register, register_resolver

logger = logging.getLogger("django_durable_jobs.backend")

#: Job names of tasks: this prefix, then the task's module path.
NAME_PREFIX = "tasks:"

_STATUS = {
    Status.PENDING: TaskResultStatus.READY,
    Status.PAUSED: TaskResultStatus.READY,
    Status.WAITING: TaskResultStatus.READY,
    Status.RUNNING: TaskResultStatus.RUNNING,
    Status.COMPLETED: TaskResultStatus.SUCCESSFUL,
    Status.FAILED: TaskResultStatus.FAILED,
    Status.CANCELLED: TaskResultStatus.FAILED,
}
_FINISHED = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)
_CLASS_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_TRACEBACK = "Traceback (most recent call last):"


class DurableJobsBackend(BaseTaskBackend):
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def validate_task(self, task: Task) -> None:
        if isinstance(task.priority, bool) or not isinstance(task.priority, int):
            raise InvalidTask(f"priority must be an integer, got {task.priority!r}.")
        super().validate_task(task)
        try:
            validation.queue_name(task.queue_name, "queue_name")
            validation.job_name(job_name(task), "job name")
        except InvalidValue as exc:
            raise InvalidTask(str(exc)) from None

    def enqueue(self, task: Task, args: Iterable[Any], kwargs: dict[str, Any]) -> TaskResult:
        """Store a job for this call; JSON-only arguments (TypeError/ValueError otherwise)."""
        self.validate_task(task)
        definition = register_task(task).using(queue=task.queue_name, priority=task.priority)
        now = timezone.now()  # run_after == created_at tells "not deferred" apart
        job = build_job(
            definition,
            list(args),
            dict(kwargs),
            created_at=now,
            updated_at=now,
            run_after=validation.moment("run_after", task.run_after, now) if task.run_after else now,
        )
        job = insert_one(job)
        result = _task_result(job, task, self.alias)
        transaction.on_commit(
            lambda: task_enqueued.send(type(self), task_result=result), using=storage.alias()
        )
        return result

    def get_result(self, result_id: str) -> TaskResult:
        try:
            pk = int(result_id)
        except (TypeError, ValueError):
            pk = 0
        job = Job.objects.using(storage.alias()).filter(pk=pk).first() if 0 < pk < 2**63 else None
        if job is None or not job.name.startswith(NAME_PREFIX):
            raise TaskResultDoesNotExist(result_id)
        task = import_task(job.name)
        if task is None:
            raise TaskResultDoesNotExist(
                f"{result_id}: its task {job.name.removeprefix(NAME_PREFIX)} cannot be imported"
            )
        return _task_result(job, _task_of(job, task, self.alias), self.alias)

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        yield from super().check(**kwargs)
        if not apps.is_installed("django_durable_jobs"):
            yield checks.Error(
                f"{type(self).__name__} is configured in TASKS, but django_durable_jobs is not "
                "in INSTALLED_APPS.",
                id="durable_jobs.E010",
            )


def job_name(task: Task) -> str:
    return NAME_PREFIX + task.module_path


def register_task(task: Task) -> JobDefinition:
    """Register the handler of ``task`` under its job name (for in-process workers too)."""
    definition = JobDefinition(func=_handler(task), name=job_name(task))
    register(definition)
    forward_task_signals()
    return definition


def resolve_task_job(name: str) -> JobDefinition | None:
    """The handler of a task job this process never enqueued, or None.

    The registry calls this for a ``"tasks:"`` name it does not hold: the
    task is imported by module path and registered. Only
    :class:`Task` objects are accepted, so a job name cannot run an
    arbitrary importable callable.
    """
    if not name.startswith(NAME_PREFIX):
        return None
    task = import_task(name)
    return None if task is None else register_task(task)


def import_task(name: str) -> Task | None:
    """The task behind a ``"tasks:"`` job name, or None (logged) if it cannot be imported."""
    path = name.removeprefix(NAME_PREFIX)
    try:
        task = import_string(path)
    except Exception:
        logger.exception("cannot import the task %s (job name %r)", path, name)
        return None
    if not isinstance(task, Task):
        logger.error("%s is not a task (job name %r)", path, name)
        return None
    return task


def parse_error(last_error: str) -> TaskError:
    """``Job.last_error`` as a :class:`TaskError` (see the module docstring for the format)."""
    class_path = last_error.partition("\n")[0].partition(":")[0].strip()
    if not _CLASS_PATH.fullmatch(class_path):
        class_path = "Exception"  # e.g. "worker lost: lease expired, job reclaimed"
    if "." not in class_path:
        class_path = f"builtins.{class_path}"
    start = last_error.find(_TRACEBACK)
    traceback = last_error[start:] if start >= 0 else last_error
    return TaskError(exception_class_path=class_path, traceback=traceback)


def _handler(task: Task) -> Callable[..., Any]:
    """What the worker calls: the task function, with a TaskContext first if it takes one."""
    func = task.func
    if not task.takes_context:
        return func
    if inspect.iscoroutinefunction(func):

        async def handler(*args: Any, **kwargs: Any) -> Any:
            context = await sync_to_async(_current_context)(task)
            return await func(context, *args, **kwargs)

    else:

        def handler(*args: Any, **kwargs: Any) -> Any:
            return func(_current_context(task), *args, **kwargs)

    functools.update_wrapper(handler, func)
    signature = inspect.signature(func)
    handler.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    return handler


def _current_context(task: Task) -> TaskContext:
    job = Job.objects.using(storage.alias()).get(pk=current_job().id)
    return TaskContext(task_result=_local_task_result(job, task))


def _durable_alias(task: Task) -> str | None:
    """This process's alias for our backend: the task's own if it is ours, else the first."""
    configured = task_backends.settings
    for alias in dict.fromkeys([task.backend, *configured]):
        backend = configured.get(alias, {}).get("BACKEND")
        if backend and issubclass(import_string(backend), DurableJobsBackend):
            return alias
    return None


def _task_of(job: Job, task: Task, alias: str) -> Task:
    """``task`` with the options this job was enqueued with."""
    deferred = job.run_after if job.run_after != job.created_at else None
    return task.using(priority=job.priority, queue_name=job.queue, run_after=deferred, backend=alias)


def _local_task_result(job: Job, task: Task) -> TaskResult:
    """The result as seen in a worker, whose settings may not configure our backend."""
    alias = _durable_alias(task)
    if alias is None:
        return _task_result(job, task, task.backend)
    return _task_result(job, _task_of(job, task, alias), alias)


def _task_result(job: Job, task: Task, alias: str) -> TaskResult:
    status = _STATUS[job.status]
    attempts = job.attempt
    worker_ids = [""] * attempts
    if attempts and job.worker_id:
        worker_ids[-1] = job.worker_id
    result = TaskResult(
        task=task,
        id=str(job.pk),
        status=status,
        enqueued_at=job.created_at,
        started_at=job.started_at,
        last_attempted_at=job.started_at,
        finished_at=job.finished_at if status in _FINISHED else None,
        args=job.args,
        kwargs=job.kwargs,
        backend=alias,
        errors=[parse_error(job.last_error)] if status == TaskResultStatus.FAILED and job.last_error else [],
        worker_ids=worker_ids,
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", job.result)
    return result


def _forward(framework_signal: Signal, job: Job) -> None:
    """Send ``framework_signal`` for a job that came from a task, read fresh from the database."""
    if not job.name.startswith(NAME_PREFIX) or not framework_signal.receivers:
        return
    row = Job.objects.using(storage.alias()).filter(pk=job.pk).first()
    task = import_task(job.name) if row is not None else None
    if task is not None:
        framework_signal.send(DurableJobsBackend, task_result=_local_task_result(row, task))


def _on_started(*, job: Job, **kwargs: Any) -> None:
    _forward(task_started, job)


def _on_finished(*, job: Job, **kwargs: Any) -> None:
    _forward(task_finished, job)


def forward_task_signals() -> None:
    """From now on, send the framework's task signals for the job signals of task jobs."""
    signals.job_started.connect(_on_started, dispatch_uid="django_durable_jobs.backend.started")
    for signal in (signals.job_completed, signals.job_failed, signals.job_cancelled):
        signal.connect(_on_finished, dispatch_uid="django_durable_jobs.backend.finished")


def _configured() -> bool:
    """Whether ``TASKS`` names this backend (or a subclass)."""
    for options in (getattr(settings, "TASKS", None) or {}).values():
        backend = options.get("BACKEND")
        if backend and issubclass(import_string(backend), DurableJobsBackend):
            return True
    return False


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "TASKS" and _configured():
        forward_task_signals()


if _configured():
    forward_task_signals()
setting_changed.connect(_on_setting_changed, dispatch_uid="django_durable_jobs.backend.settings")
register_resolver(NAME_PREFIX, resolve_task_job)
