"""Job, Checkpoint and FanOut: the rows the state machine owns.

Job and FanOut rows are written only by :mod:`django_durable_jobs.state`: the
admin, the CLI, the Python API, these models' methods and the worker all go
through it, so a pause means the same thing everywhere.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..querysets import JobQuerySet
from ..statuses import TERMINAL, PauseMode, Status
from ..validation import BY_LENGTH, NAME_LENGTH, QUEUE_LENGTH, UNIQUE_KEY_LENGTH, WORKER_ID_LENGTH


class Job(models.Model):
    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=NAME_LENGTH)
    queue = models.CharField(max_length=QUEUE_LENGTH, default="default")
    priority = models.IntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    run_after = models.DateTimeField(default=timezone.now)
    attempt = models.PositiveIntegerField(
        default=0, help_text="Attempts started (interrupted ones excluded)."
    )
    max_retries = models.PositiveIntegerField(default=0)
    reclaims = models.PositiveIntegerField(
        default=0, help_text="Times a worker died while running it (see MAX_RECLAIMS)."
    )
    concurrency_key = models.CharField(
        max_length=UNIQUE_KEY_LENGTH,
        null=True,
        blank=True,
        editable=False,
        help_text="Jobs with one key share a fleet-wide limit: concurrency_limit running at once.",
    )
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True, editable=False)
    rate_key = models.CharField(
        max_length=UNIQUE_KEY_LENGTH,
        null=True,
        blank=True,
        editable=False,
        help_text="Jobs with one key share a fleet-wide rate: rate_limit starts per rate_period s.",
    )
    rate_limit = models.PositiveIntegerField(null=True, blank=True, editable=False)
    rate_period = models.FloatField(null=True, blank=True, editable=False)
    timeout = models.FloatField(
        null=True, blank=True, help_text="Seconds an execution may run before it fails with TimeoutError."
    )
    snoozes = models.PositiveIntegerField(
        default=0, help_text="Times the handler said 'not now' (Snooze); see MAX_SNOOZES."
    )
    delayed = models.BooleanField(
        default=False,
        editable=False,
        help_text="Internal: run_after was in the future when the job became pending. Such rows stay "
        "out of the claim's index until a claim stages them, once due.",
    )
    held = models.BooleanField(
        default=False,
        editable=False,
        help_text="Internal: pending, but its queue or job type is paused. Held rows are also delayed, "
        "so neither the claim nor the stager reads them; a resume releases them.",
    )
    unique_key = models.CharField(max_length=UNIQUE_KEY_LENGTH, null=True, blank=True)

    # Ownership: a fresh token per claim; every write of the execution checks it.
    lease = models.CharField(max_length=32, null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    worker_id = models.CharField(max_length=WORKER_ID_LENGTH, null=True, blank=True)

    # Pause bookkeeping (job level). pause_requested marks a graceful pause of a running job.
    pause_requested = models.CharField(max_length=16, choices=PauseMode.choices, null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.CharField(max_length=BY_LENGTH, blank=True, default="")
    pause_reason = models.TextField(blank=True, default="")
    pause_mode = models.CharField(max_length=16, choices=PauseMode.choices, blank=True, default="")

    # Workflows: a child of a fan-out, and the schedule fire it came from.
    fanout = models.ForeignKey(
        "FanOut",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
        db_index=False,  # durable_jobs_fanout_child covers it, for children only
    )
    fanout_index = models.PositiveIntegerField(null=True, blank=True)
    schedule = models.CharField(
        max_length=NAME_LENGTH,
        null=True,
        blank=True,
        help_text="The schedule that fired this job (its name), or empty.",
    )
    scheduled_for = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    # What the running handler last reported (``set_progress``).
    progress_done = models.BigIntegerField(null=True, blank=True, editable=False)
    progress_total = models.BigIntegerField(null=True, blank=True, editable=False)
    progress_message = models.TextField(blank=True, default="", editable=False)
    progress_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The enqueuing span's W3C trace context (``traceparent``, ``tracestate``).
    trace_context = models.JSONField(null=True, blank=True, editable=False)

    objects = JobQuerySet.as_manager()

    class Meta:
        # No default ordering: it would reach into select_for_update() and take
        # row locks in that order instead of the state machine's (ascending id).
        indexes = [
            # The claim: runnable rows only, in claim order. Stays small however
            # many finished jobs the table holds.
            # Not-yet-due rows are left out (``delayed``), so a backlog of
            # delayed jobs or retries costs a claim nothing.
            # Jobs under a concurrency or rate limit are claimed on their own path.
            models.Index(
                fields=["queue", "-priority", "id"],
                name="durable_jobs_ready",
                condition=Q(
                    status="pending", delayed=False, concurrency_key__isnull=True, rate_key__isnull=True
                ),
            ),
            # The same for workers that serve every queue.
            models.Index(
                fields=["-priority", "id"],
                name="durable_jobs_ready_any",
                condition=Q(
                    status="pending", delayed=False, concurrency_key__isnull=True, rate_key__isnull=True
                ),
            ),
            # Ready jobs under a concurrency or rate limit, in claim order.
            models.Index(
                fields=["-priority", "id"],
                name="durable_jobs_ready_limited",
                condition=Q(status="pending", delayed=False)
                & (Q(concurrency_key__isnull=False) | Q(rate_key__isnull=False)),
            ),
            # Recent starts of each rate key: what a rate-limited claim counts.
            models.Index(
                fields=["rate_key", "started_at"],
                name="durable_jobs_rate_starts",
                condition=Q(rate_key__isnull=False),
            ),
            # How many of each key run now: what a limited claim counts.
            models.Index(
                fields=["concurrency_key"],
                name="durable_jobs_running_limited",
                condition=Q(status="running", concurrency_key__isnull=False),
            ),
            # Delayed rows by due time: what the claim's stager reads.
            models.Index(
                fields=["run_after"],
                name="durable_jobs_delayed",
                condition=Q(status="pending", delayed=True, held=False),
            ),
            # Held rows (paused queue or job type): what a resume releases.
            models.Index(
                fields=["queue", "name"],
                name="durable_jobs_held",
                condition=Q(status="pending", held=True),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="durable_jobs_running_lease",
                condition=Q(status="running"),
            ),
            models.Index(fields=["queue", "status"], name="durable_jobs_queue_status"),
            # Jobs of one name, finished ones included (admin filters). Declared here rather
            # than with db_index, which on PostgreSQL adds a second, varchar_pattern_ops,
            # index that no query uses but every row version pays for.
            models.Index(fields=["name"], name="durable_jobs_name"),
            # Parents waiting on fan-outs: the housekeeping sweep reads only these.
            models.Index(fields=["id"], name="durable_jobs_waiting", condition=Q(status="waiting")),
            models.Index(
                fields=["fanout", "fanout_index"],
                name="durable_jobs_fanout_child",
                condition=Q(fanout__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["unique_key"],
                condition=Q(status__in=["pending", "running", "waiting", "paused"])
                & Q(unique_key__isnull=False),
                name="durable_jobs_unique_key_unfinished",
            ),
            # One job per fire of each schedule, however many schedulers race.
            models.UniqueConstraint(
                fields=["schedule", "scheduled_for"],
                condition=Q(schedule__isnull=False),
                name="durable_jobs_one_job_per_fire",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_paused(self) -> bool:
        return self.status == Status.PAUSED

    def pause(self, mode: str = PauseMode.GRACEFUL, *, by: str = "", reason: str = "") -> Job:
        from django_durable_jobs import pause_job

        return pause_job(self.pk, mode=mode, by=by, reason=reason)

    def resume(self, *, by: str = "") -> Job:
        from django_durable_jobs import resume_job

        return resume_job(self.pk, by=by)

    def cancel(self, *, by: str = "") -> Job:
        from django_durable_jobs import cancel_job

        return cancel_job(self.pk, by=by)

    def retry(self, *, by: str = "") -> Job:
        from django_durable_jobs import retry_job

        return retry_job(self.pk, by=by)


class Checkpoint(models.Model):
    """The saved result of one ``call()`` of a workflow job."""

    # Checkpoints and fan-outs name their job without a foreign-key constraint in
    # the database. With one, every deleted job costs a check of each referencing
    # table at commit: pruning took 2.2 times as long, and a busy queue's pruning
    # fell behind its workers. The state machine keeps what the constraint
    # checked: a checkpoint or fan-out is inserted only under the row lock of its
    # job, while that job runs under the inserting execution's lease (a running
    # job is never pruned); pruning deletes a job's checkpoints and fan-outs in
    # the transaction that deletes it; Job.delete() (the admin's included)
    # cascades as on_delete says.
    job = models.ForeignKey(Job, on_delete=models.CASCADE, db_constraint=False, related_name="checkpoints")
    index = models.PositiveIntegerField()
    target = models.CharField(max_length=NAME_LENGTH)
    value = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="durable_jobs_checkpoint_once")]

    def __str__(self) -> str:
        return f"checkpoint {self.index} of job {self.job_id} ({self.target})"


class FanOut(models.Model):
    """A group of child jobs a parent waits on (one ``fan_out()`` call)."""

    class State(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    # No constraint in the database: see Checkpoint.job.
    parent = models.ForeignKey(Job, on_delete=models.CASCADE, db_constraint=False, related_name="fanouts")
    index = models.PositiveIntegerField(help_text="The parent's call index of this fan_out().")
    strategy = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    total = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    cancel_on_parent_failure = models.BooleanField(default=True)
    timeout_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["parent", "index"], name="durable_jobs_fanout_once")]
        indexes = [
            models.Index(
                fields=["timeout_at"],
                name="durable_jobs_fanout_timeout",
                condition=Q(state="running"),
            )
        ]

    def __str__(self) -> str:
        return f"fan-out {self.index} of job {self.parent_id} ({self.state})"

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.cancelled
