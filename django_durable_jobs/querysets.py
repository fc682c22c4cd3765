"""Read-only queries shared by the admin and ``manage.py durablejobs``.

``Job.objects`` is a :class:`JobQuerySet` and ``Worker.objects`` a
:class:`WorkerQuerySet`. Nothing here writes: state changes go through the
public API (``pause_job`` and friends). Callers pick the database alias, e.g.
``Job.objects.using(jobs_settings.DATABASE).queue_counts()``.

This module must not import the models (they import it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from django.db import models
from django.db.models import Count, F, IntegerField, Q, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from .conf import jobs_settings
from .statuses import Status

__all__ = ["JobQuerySet", "WorkerQuerySet", "alive_since", "is_alive"]


class _WorkerRow(Protocol):
    stopped_at: datetime | None
    heartbeat_at: datetime


def alive_since(now: datetime | None = None) -> datetime:
    """A worker is alive if its heartbeat is newer than this (and it has not stopped)."""
    return (now or timezone.now()) - timedelta(seconds=jobs_settings.WORKER_DEAD_SECONDS)


def _alive(now: datetime | None) -> Q:
    return Q(stopped_at__isnull=True, heartbeat_at__gt=alive_since(now))


def is_alive(worker: _WorkerRow, now: datetime | None = None) -> bool:
    """The same rule as :meth:`WorkerQuerySet.alive`, for one row in memory."""
    return worker.stopped_at is None and worker.heartbeat_at > alive_since(now)


class JobQuerySet(models.QuerySet):
    def queue_counts(self) -> dict[str, dict[str, int]]:
        """``{queue: {status: count}}`` of these jobs; statuses without jobs are left out."""
        return self._counts_by("queue")

    def name_counts(self) -> dict[str, dict[str, int]]:
        """``{job name: {status: count}}`` of these jobs; statuses without jobs are left out."""
        return self._counts_by("name")

    def _counts_by(self, field: str) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        rows = self.order_by().values_list(field, "status").annotate(n=Count("id"))
        for key, status, n in rows:
            counts.setdefault(key, {})[status] = n
        return counts

    def latest_failed_per_name(self) -> dict[str, int]:
        """``{job name: id}`` of the most recently finished failed job of each name.

        One pass over the failed rows (a window function ranks each name's
        failures); the error texts themselves are not read.
        """
        newest_first = [F("finished_at").desc(nulls_last=True), F("id").desc()]
        ranked = self.filter(status=Status.FAILED).annotate(
            rank=Window(RowNumber(), partition_by=[F("name")], order_by=newest_first)
        )
        return dict(ranked.filter(rank=1).order_by().values_list("name", "id"))

    def running_per_worker(self) -> dict[str, int]:
        """``{worker_id: count}`` of these jobs that are running."""
        rows = (
            self.filter(status=Status.RUNNING, worker_id__isnull=False)
            .order_by()
            .values_list("worker_id")
            .annotate(n=Count("id"))
        )
        return dict(rows)

    def running_count_on(self, worker: Any) -> Coalesce:
        """How many of these jobs run on ``worker`` (an id, or ``OuterRef("pk")`` to annotate
        ``Worker`` rows), as an expression that is 0 for an idle worker."""
        running = (
            self.filter(status=Status.RUNNING, worker_id=worker)
            .order_by()
            .values("worker_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        return Coalesce(Subquery(running, output_field=IntegerField()), 0)


class WorkerQuerySet(models.QuerySet):
    def alive(self, now: datetime | None = None) -> WorkerQuerySet:
        """Workers not stopped whose heartbeat is newer than ``WORKER_DEAD_SECONDS``."""
        return self.filter(_alive(now))

    def dead(self, now: datetime | None = None) -> WorkerQuerySet:
        """Every worker that is not :meth:`alive`: stopped, or silent for too long."""
        return self.exclude(_alive(now))
