"""What operators control: queue, job type and schedule pauses, and the worker registry."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ..querysets import WorkerQuerySet, is_alive
from ..statuses import PauseMode
from ..validation import BY_LENGTH, NAME_LENGTH, QUEUE_LENGTH, WORKER_ID_LENGTH


class PauseState(models.Model):
    """What a durable pause records; a missing row means "running"."""

    paused = models.BooleanField(default=False)
    pause_mode = models.CharField(max_length=16, choices=PauseMode.choices, blank=True, default="")
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.CharField(max_length=BY_LENGTH, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    paused_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class QueueState(PauseState):
    """Durable pause state of one queue."""

    queue = models.CharField(max_length=QUEUE_LENGTH, primary_key=True)

    class Meta:
        ordering = ["queue"]
        verbose_name = "queue"

    def __str__(self) -> str:
        return f"{self.queue} ({'paused' if self.paused else 'running'})"


class JobTypeState(PauseState):
    """Durable pause state of one job type: every job of one registered name."""

    name = models.CharField(max_length=NAME_LENGTH, primary_key=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "job type"

    def __str__(self) -> str:
        return f"{self.name} ({'paused' if self.paused else 'running'})"


class Worker(models.Model):
    """The worker registry: one row per ``runjobs`` process."""

    id = models.CharField(max_length=WORKER_ID_LENGTH, primary_key=True)
    host = models.CharField(max_length=255)
    pid = models.IntegerField()
    queues = models.JSONField(default=list, help_text="Queue names; empty means every queue.")
    concurrency = models.PositiveIntegerField(default=1)
    pool = models.CharField(
        max_length=16, default="thread", help_text="Where handlers run: thread or process."
    )
    children = models.JSONField(
        default=list, blank=True, help_text="Process pool: one entry per child (pid, job, jobs run)."
    )
    abandoned_threads = models.PositiveIntegerField(
        default=0, help_text="Handler threads given up on: interrupted, still stuck in a call."
    )
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    paused = models.BooleanField(default=False)
    pause_mode = models.CharField(max_length=16, choices=PauseMode.choices, blank=True, default="")
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.CharField(max_length=BY_LENGTH, blank=True, default="")
    reason = models.TextField(blank=True, default="")

    objects = WorkerQuerySet.as_manager()

    class Meta:
        ordering = ["-heartbeat_at"]

    def __str__(self) -> str:
        return self.id

    def is_alive(self, now=None) -> bool:
        return is_alive(self, now)


class Schedule(PauseState):
    """A schedule as a row: synchronised from code when ``runjobs --scheduler`` starts.

    The code (``schedule()``, ``@job(schedule=...)``) says when and what; the
    row keeps what the fleet shares: the pause, the last and next fire, and
    whether the code still declares it (``orphaned`` rows are kept, not fired).
    """

    class CatchUp(models.TextChoices):
        LATEST = "latest", "fire once for the latest missed time"
        SKIP = "skip", "skip missed fires"
        ALL = "all", "fire every missed time (within catch_up_window)"

    class Overlap(models.TextChoices):
        ALLOW = "allow", "fire anyway"
        SKIP = "skip", "skip the fire"
        BUFFER_ONE = "buffer_one", "keep one fire until the previous one ends"

    class WhilePaused(models.TextChoices):
        SKIP = "skip", "skip the fire"
        COALESCE = "coalesce", "at most one fire waits"
        QUEUE = "queue", "every fire waits"

    name = models.CharField(max_length=NAME_LENGTH, primary_key=True)
    job_name = models.CharField(max_length=NAME_LENGTH)
    spec = models.CharField(max_length=255, help_text="When it fires, as the code declares it.")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    catch_up = models.CharField(max_length=16, choices=CatchUp.choices, default=CatchUp.LATEST)
    catch_up_window = models.FloatField(null=True, blank=True, help_text="Seconds; empty: no limit.")
    overlap = models.CharField(max_length=16, choices=Overlap.choices, default=Overlap.ALLOW)
    while_paused = models.CharField(max_length=16, choices=WhilePaused.choices, default=WhilePaused.COALESCE)
    orphaned = models.BooleanField(default=False, help_text="No longer declared in code: not fired.")
    last_fire_at = models.DateTimeField(null=True, blank=True, help_text="The fire time last dealt with.")
    last_job_id = models.BigIntegerField(null=True, blank=True)
    next_fire_at = models.DateTimeField(null=True, blank=True)
    buffered_fire_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: {self.job_name} {self.spec}"
