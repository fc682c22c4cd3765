"""New job rows: enqueue one, enqueue many, and a schedule's fire.

Internal module of the state machine. Rows arrive built and validated by
:mod:`django_durable_jobs.enqueuing`; this module writes them and wakes the
workers of their queues when the transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from .. import signals, storage
from ..models import UNFINISHED, Job
from ..storage import engine


def insert_one(job: Job) -> Job:
    """Insert one job and wake workers on commit; honours ``unique_key``."""
    alias = storage.alias()
    if job.unique_key is None:
        engine(alias).insert_jobs([job])  # one statement: atomic on its own
    else:
        existing = _unfinished_with_key(job.unique_key, alias)
        if existing is not None:
            return existing
        try:
            with transaction.atomic(using=alias):
                engine(alias).insert_jobs([job])
        except IntegrityError:  # another enqueue of the key won the race
            existing = _unfinished_with_key(job.unique_key, alias)
            if existing is None:
                raise
            return existing
    signals.send_on_commit(signals.job_enqueued, alias, job=job)
    return job


def insert_many(jobs: Iterable[Job], count: int) -> list[Job]:
    """Insert the ``count`` jobs ``jobs`` builds in one transaction, and wake workers on commit.

    ``jobs`` may be a generator that validates each item as it builds it: an
    engine streaming rows to the database writes each as it comes, and a bad
    item rolls back the rows written before it.
    """
    if not count:
        return []
    alias = storage.alias()
    # Inside a caller's transaction, a savepoint: a bad item rolls back this enqueue, not the caller's work.
    with transaction.atomic(using=alias):
        built = engine(alias).insert_stream(jobs, count)
    if signals.job_enqueued.receivers:
        for job in built:
            signals.send_on_commit(signals.job_enqueued, alias, job=job)
    return built


def insert_fired(alias: str, job: Job) -> bool:
    """Insert a schedule's job for one fire time; False if that fire already has its job.

    The unique ``(schedule, scheduled_for)`` constraint decides between schedulers
    racing for the same fire; an unfinished job holding the same
    ``unique_key`` holds the fire back.
    """
    try:
        with transaction.atomic(using=alias, savepoint=True):
            engine(alias).insert_jobs([job])
    except IntegrityError:
        jobs = Job.objects.using(alias)
        if jobs.filter(schedule=job.schedule, scheduled_for=job.scheduled_for).exists():
            return False
        if job.unique_key and jobs.filter(unique_key=job.unique_key, status__in=UNFINISHED).exists():
            return False
        raise
    signals.send_on_commit(signals.job_enqueued, alias, job=job)
    return True


def _unfinished_with_key(key: str, alias: str) -> Job | None:
    return Job.objects.using(alias).filter(unique_key=key, status__in=UNFINISHED).first()
