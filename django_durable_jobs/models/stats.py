"""Per-minute statistics: what the dashboard, ``/metrics`` and ``status`` read.

Rows are small and few (one per minute, queue and job name that saw an
outcome), so reading a week of them stays cheap however big the job table is.
"""

from __future__ import annotations

from django.db import models

from ..validation import NAME_LENGTH, QUEUE_LENGTH


class JobStat(models.Model):
    """Outcomes of one minute, queue and job name, upserted with each outcome batch.

    ``wait_buckets`` and ``run_buckets`` hold one count per bound of
    :data:`django_durable_jobs.stats.WAIT_BUCKETS` / ``RUN_BUCKETS`` plus one for
    "above the last bound" (not cumulative).
    """

    id = models.BigAutoField(primary_key=True)
    minute = models.DateTimeField()
    queue = models.CharField(max_length=QUEUE_LENGTH)
    name = models.CharField(max_length=NAME_LENGTH)
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    retried = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    paused = models.PositiveIntegerField(default=0)
    snoozed = models.PositiveIntegerField(default=0)
    run_count = models.PositiveIntegerField(default=0)
    run_seconds_sum = models.FloatField(default=0.0)
    run_seconds_max = models.FloatField(default=0.0)
    wait_count = models.PositiveIntegerField(default=0)
    wait_seconds_sum = models.FloatField(default=0.0)
    wait_buckets = models.JSONField(default=list)
    run_buckets = models.JSONField(default=list)

    class Meta:
        # The admin lists it as the dashboard page it opens (admin/dashboard.py).
        verbose_name = verbose_name_plural = "dashboard"
        constraints = [
            models.UniqueConstraint(fields=["minute", "queue", "name"], name="durable_jobs_stat_once"),
        ]
        indexes = [models.Index(fields=["minute"], name="durable_jobs_stat_minute")]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} {self.queue} {self.name}"


class JobStatTotal(models.Model):
    """The :class:`JobStat` rows of one queue and job name, added up since statistics began.

    ``/metrics`` reads its counters and histograms from these rows plus the
    few :class:`JobStat` minutes after ``through``, so they never shrink
    (pruning the minutes is no counter reset) and a scrape reads a row per
    queue and name instead of one per minute. Workers fold the minutes in
    once a minute (``state.stats.fold_totals``), not the writer; every row
    carries the same ``through``: the last minute folded in.
    """

    id = models.BigAutoField(primary_key=True)
    queue = models.CharField(max_length=QUEUE_LENGTH)
    name = models.CharField(max_length=NAME_LENGTH)
    completed = models.PositiveBigIntegerField(default=0)
    failed = models.PositiveBigIntegerField(default=0)
    retried = models.PositiveBigIntegerField(default=0)
    cancelled = models.PositiveBigIntegerField(default=0)
    paused = models.PositiveBigIntegerField(default=0)
    snoozed = models.PositiveBigIntegerField(default=0)
    run_count = models.PositiveBigIntegerField(default=0)
    run_seconds_sum = models.FloatField(default=0.0)
    run_seconds_max = models.FloatField(default=0.0)
    wait_count = models.PositiveBigIntegerField(default=0)
    wait_seconds_sum = models.FloatField(default=0.0)
    wait_buckets = models.JSONField(default=list)
    run_buckets = models.JSONField(default=list)
    through = models.DateTimeField()

    class Meta:
        verbose_name = "statistics total"
        constraints = [
            models.UniqueConstraint(fields=["queue", "name"], name="durable_jobs_stat_total_once"),
        ]

    def __str__(self) -> str:
        return f"{self.queue} {self.name} through {self.through:%Y-%m-%d %H:%M}"


class QueueSample(models.Model):
    """How many jobs of a queue were in each unfinished status at one minute."""

    id = models.BigAutoField(primary_key=True)
    minute = models.DateTimeField()
    queue = models.CharField(max_length=QUEUE_LENGTH)
    pending = models.PositiveIntegerField(default=0)
    running = models.PositiveIntegerField(default=0)
    waiting = models.PositiveIntegerField(default=0)
    paused = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["minute", "queue"], name="durable_jobs_sample_once"),
        ]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} {self.queue}"
