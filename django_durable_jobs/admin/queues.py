"""The Queues page: every known queue, its job counts per status, and pause/resume.

Queues are not rows of their own (a ``QueueState`` exists only once a queue
was paused), so this page is a custom changelist over ``Job.objects.queue_counts()``
and the pause states, and a queue row's object URL leads back to it (see
``pause_pages``, which the Job types page shares).
"""

from __future__ import annotations

from typing import Any

from django_durable_jobs import pause_queue, resume_queue

from ..models import Job, QueueState
from .pause_pages import MAX_UNTIL_MINUTES, CountsRow, PausePageAdmin, until_from_minutes

__all__ = ["MAX_UNTIL_MINUTES", "QueueAdmin", "QueueRow", "queue_rows", "until_from_minutes"]


class QueueRow(CountsRow):
    """One line of the Queues page."""

    filter_field = "queue"


def queue_rows(using: str) -> list[QueueRow]:
    """Every known queue of database ``using``: those jobs name and those with a pause state row."""
    counts = Job.objects.using(using).queue_counts()
    states = {state.queue: state for state in QueueState.objects.using(using).all()}
    return [
        QueueRow(name, counts.get(name, {}), states.get(name))
        for name in sorted(counts.keys() | states.keys())
    ]


class QueueAdmin(PausePageAdmin):
    """The Queues page: a custom changelist over job counts and pause state."""

    title = "Queues"
    template = "admin/durable_jobs/queues.html"
    rows_name = "queues"
    key_field = "queue"
    label = "Queue"

    def rows(self, using: str) -> list[CountsRow]:
        return list(queue_rows(using))

    def pause(self, key: str, mode: str, **kwargs: Any) -> QueueState:
        return pause_queue(key, mode, **kwargs)

    def resume(self, key: str, **kwargs: Any) -> QueueState:
        return resume_queue(key, **kwargs)
