"""factory_boy factories for the job tables, written to ``jobs_settings.DATABASE``.

A job in any status, with the fields that status implies filled in::

    JobFactory()                          # pending demo.noop
    JobFactory(running=True)              # lease, lease_expires_at, worker_id, started_at, attempt=1
    JobFactory(status=Status.FAILED)      # the same as JobFactory(failed=True)
    JobFactory(running=True, expired=True, attempt=2)   # a dead worker's job
    JobFactory(paused=True, pause_mode=PauseMode.AGGRESSIVE, paused_by="alice")

Every filled-in field can still be given explicitly. A fan-out and its children::

    fanout = FanOutFactory(children=5)    # a waiting parent, 5 pending demo.noop children
    FanOutFactory(children=3, children__status=Status.COMPLETED, strategy=CollectAll().to_json())
    make_children(fanout, 2, status=Status.FAILED, name="demo.square")

and workers and queues: ``WorkerFactory()``, ``WorkerFactory(dead=True)``,
``WorkerFactory(paused=True)``, ``QueueStateFactory(queue="emails", paused=True)``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import factory
from django.db.models import Manager
from django.utils import timezone
from factory.django import DjangoModelFactory

from django_durable_jobs.conf import jobs_settings
from django_durable_jobs.models import (
    TERMINAL,
    Checkpoint,
    FanOut,
    Job,
    PauseMode,
    QueueState,
    Status,
    Worker,
)
from django_durable_jobs.strategies import FailFast

FACTORY_WORKER = "factory-worker"
FACTORY_USER = "factory"

#: Statuses whose job has started at least once (attempt 1, started_at set).
_STARTED = {Status.RUNNING, Status.WAITING, Status.COMPLETED, Status.FAILED}


def _now_if(condition: Any) -> Any:
    return timezone.now() if condition else None


class DurableJobsFactory(DjangoModelFactory):
    """Writes through the database alias the job tables live in."""

    class Meta:
        abstract = True
        skip_postgeneration_save = True

    @classmethod
    def _get_manager(cls, model_class: type) -> Manager:
        return super()._get_manager(model_class).db_manager(jobs_settings.DATABASE)


class JobFactory(DurableJobsFactory):
    """A job; ``status`` (or one trait per status) fills in the fields it implies."""

    class Meta:
        model = Job

    class Params:
        pending = factory.Trait(status=Status.PENDING)
        running = factory.Trait(status=Status.RUNNING)
        waiting = factory.Trait(status=Status.WAITING)
        paused = factory.Trait(status=Status.PAUSED)
        completed = factory.Trait(status=Status.COMPLETED)
        failed = factory.Trait(status=Status.FAILED)
        cancelled = factory.Trait(status=Status.CANCELLED)
        #: A running job whose lease ran out: its worker is gone.
        expired = factory.Trait(
            lease_expires_at=factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=5))
        )

    name = "demo.noop"
    queue = "default"
    status = Status.PENDING
    args = factory.LazyFunction(list)
    kwargs = factory.LazyFunction(dict)
    attempt = factory.LazyAttribute(lambda o: 1 if o.status in _STARTED else 0)

    lease = factory.LazyAttribute(lambda o: uuid.uuid4().hex if o.status == Status.RUNNING else None)
    lease_expires_at = factory.LazyAttribute(
        lambda o: (
            timezone.now() + timedelta(seconds=jobs_settings.LEASE_SECONDS)
            if o.status == Status.RUNNING
            else None
        )
    )
    worker_id = factory.LazyAttribute(lambda o: FACTORY_WORKER if o.status == Status.RUNNING else None)
    started_at = factory.LazyAttribute(lambda o: _now_if(o.status in _STARTED))

    paused_at = factory.LazyAttribute(lambda o: _now_if(o.status == Status.PAUSED))
    paused_by = factory.LazyAttribute(lambda o: FACTORY_USER if o.status == Status.PAUSED else "")
    pause_reason = factory.LazyAttribute(lambda o: "paused by a factory" if o.status == Status.PAUSED else "")
    pause_mode = factory.LazyAttribute(lambda o: PauseMode.GRACEFUL if o.status == Status.PAUSED else "")

    result = factory.LazyAttribute(lambda o: "ok" if o.status == Status.COMPLETED else None)
    last_error = factory.LazyAttribute(
        lambda o: "RuntimeError: failed in a factory" if o.status == Status.FAILED else ""
    )
    finished_at = factory.LazyAttribute(lambda o: _now_if(o.status in TERMINAL))


def make_children(fanout: FanOut, count: int, status: str = Status.PENDING, **fields: Any) -> list[Job]:
    """Create ``count`` children of ``fanout`` in ``status``, indexed after the existing ones.

    The fan-out's ``total`` grows to cover every child, and finished children
    are counted in ``succeeded``/``failed``/``cancelled`` as the worker would.
    """
    alias = jobs_settings.DATABASE
    start = Job.objects.using(alias).filter(fanout=fanout).count()
    children = [
        JobFactory(fanout=fanout, fanout_index=start + offset, status=status, **fields)
        for offset in range(count)
    ]
    counter = {Status.COMPLETED: "succeeded", Status.FAILED: "failed", Status.CANCELLED: "cancelled"}
    changed = []
    if status in counter:
        setattr(fanout, counter[status], getattr(fanout, counter[status]) + count)
        changed.append(counter[status])
    if fanout.total < start + count:
        fanout.total = start + count
        changed.append("total")
    if changed:
        fanout.save(using=alias, update_fields=changed)
    return children


def _next_fanout_index(fanout: Any) -> int:
    return FanOut.objects.using(jobs_settings.DATABASE).filter(parent=fanout.parent).count()


class FanOutFactory(DurableJobsFactory):
    """A running fan-out of a waiting parent; ``children=N`` also creates its children.

    ``children__status`` and other ``children__<field>`` arguments go to
    :func:`make_children`.
    """

    class Meta:
        model = FanOut

    parent = factory.SubFactory(JobFactory, waiting=True)
    index = factory.LazyAttribute(_next_fanout_index)
    strategy = factory.LazyFunction(lambda: FailFast().to_json())
    state = FanOut.State.RUNNING
    total = 0

    @factory.post_generation
    def children(self, create: bool, extracted: int | None, **fields: Any) -> None:
        if create and extracted:
            make_children(self, extracted, **fields)


class WorkerFactory(DurableJobsFactory):
    """A live ``runjobs`` process; ``dead=True`` ages its heartbeat, ``paused=True`` pauses it."""

    class Meta:
        model = Worker

    class Params:
        alive = factory.Trait(heartbeat_at=factory.LazyFunction(timezone.now), stopped_at=None)
        dead = factory.Trait(
            heartbeat_at=factory.LazyFunction(
                lambda: timezone.now() - timedelta(seconds=jobs_settings.WORKER_DEAD_SECONDS + 60)
            )
        )
        stopped = factory.Trait(stopped_at=factory.LazyFunction(timezone.now))

    id = factory.Sequence(lambda n: f"factory-worker-{n}")
    host = "factory-host"
    pid = factory.Sequence(lambda n: 100_000 + n)
    queues = factory.LazyFunction(list)
    concurrency = 1
    heartbeat_at = factory.LazyFunction(timezone.now)
    paused = False
    pause_mode = factory.LazyAttribute(lambda o: PauseMode.GRACEFUL if o.paused else "")
    paused_at = factory.LazyAttribute(lambda o: _now_if(o.paused))
    paused_by = factory.LazyAttribute(lambda o: FACTORY_USER if o.paused else "")
    reason = factory.LazyAttribute(lambda o: "paused by a factory" if o.paused else "")


class QueueStateFactory(DurableJobsFactory):
    """The pause state of a queue; ``paused=True`` fills in who, when and why."""

    class Meta:
        model = QueueState

    queue = factory.Sequence(lambda n: f"factory-queue-{n}")
    paused = False
    pause_mode = factory.LazyAttribute(lambda o: PauseMode.GRACEFUL if o.paused else "")
    paused_at = factory.LazyAttribute(lambda o: _now_if(o.paused))
    paused_by = factory.LazyAttribute(lambda o: FACTORY_USER if o.paused else "")
    reason = factory.LazyAttribute(lambda o: "paused by a factory" if o.paused else "")


def _next_checkpoint_index(checkpoint: Any) -> int:
    return Checkpoint.objects.using(jobs_settings.DATABASE).filter(job=checkpoint.job).count()


class CheckpointFactory(DurableJobsFactory):
    """The saved result of a workflow job's next ``call()``."""

    class Meta:
        model = Checkpoint

    job = factory.SubFactory(JobFactory, running=True)
    index = factory.LazyAttribute(_next_checkpoint_index)
    target = "demo.noop"
    value = None
