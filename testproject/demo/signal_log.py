"""Records the job system's signals in the database when DJJ_SIGNAL_LOG=1.

Used by the tests to see which signals a worker process sent, and in what order.
"""

import os

from django_durable_jobs import signals

NAMES = [
    "job_enqueued",
    "job_started",
    "job_completed",
    "job_failed",
    "job_retrying",
    "job_cancelled",
    "job_paused",
    "job_resumed",
    "queue_paused",
    "queue_resumed",
    "worker_paused",
    "worker_resumed",
]


def _receiver(name):
    def receive(sender, **kwargs):
        from demo.models import SignalLog

        job = kwargs.get("job")
        SignalLog.objects.create(
            name=name,
            job_id=job.pk if job is not None else None,
            pid=os.getpid(),
            detail=str(kwargs.get("mode") or kwargs.get("queue") or kwargs.get("worker_id") or ""),
        )

    return receive


def connect() -> None:
    for name in NAMES:
        getattr(signals, name).connect(_receiver(name), weak=False, dispatch_uid=f"demo-log-{name}")
