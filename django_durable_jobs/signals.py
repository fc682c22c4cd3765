"""Django signals of the job system.

Every signal is sent after the state change it reports is committed, in the
process that made the change. Receivers that raise are logged and never
break the job system (signals go out through ``send_robust``).

Keyword arguments: ``job`` for job signals, ``queue`` for queue signals,
``worker_id`` for worker signals, ``mode`` for pause signals and ``by`` where
known.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger("django_durable_jobs.signals")

job_enqueued = Signal()
job_started = Signal()
job_completed = Signal()
job_failed = Signal()
job_retrying = Signal()
job_cancelled = Signal()
job_paused = Signal()
job_resumed = Signal()
queue_paused = Signal()
queue_resumed = Signal()
job_type_paused = Signal()
job_type_resumed = Signal()
worker_paused = Signal()
worker_resumed = Signal()


def send(signal: Signal, **kwargs: Any) -> None:
    """Send now, logging (never raising) what receivers raise."""
    if not signal.receivers:
        return
    for receiver, outcome in signal.send_robust(sender=None, **kwargs):
        if isinstance(outcome, BaseException):
            logger.error(
                "signal receiver %r raised",
                receiver,
                exc_info=(type(outcome), outcome, outcome.__traceback__),
            )


def send_on_commit(signal: Signal, using: str, **kwargs: Any) -> None:
    """Send once the current transaction (if any) commits; drop it on rollback."""
    if not signal.receivers:
        return
    transaction.on_commit(lambda: send(signal, **kwargs), using=using)
