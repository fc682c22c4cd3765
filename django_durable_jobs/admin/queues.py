"""The Queues page: every known queue, its job counts per status, and pause/resume.

Queues are not rows of their own (a ``QueueState`` exists only once a queue
was paused), so this page is a custom changelist over ``Job.objects.queue_counts()``
and the pause states, and a queue row's object URL leads back to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from django_durable_jobs import pause_queue, resume_queue

from .. import validation
from ..conf import jobs_settings
from ..exceptions import InvalidValue
from ..models import Job, QueueState
from ..statuses import PauseMode, Status
from .common import JobTablesAdmin, operation, pause_or_resume

#: The longest auto-resume delay the pause form accepts, in minutes (a year).
MAX_UNTIL_MINUTES = 60 * 24 * 366


@dataclass
class QueueRow:
    """One line of the Queues page."""

    name: str
    counts: dict[str, int]
    state: QueueState | None

    @property
    def paused(self) -> bool:
        return bool(self.state and self.state.paused)

    @property
    def running(self) -> int:
        return self.counts.get(Status.RUNNING, 0)

    @property
    def drain(self) -> str:
        """Whether a paused queue still has jobs running (a graceful pause lets them finish)."""
        if not self.paused:
            return ""
        return f"paused — {self.running} still running" if self.running else "paused — drained"

    @property
    def cells(self) -> list[tuple[str, int, str]]:
        """(status, count, link to those jobs) in status order."""
        jobs_url = reverse("admin:durable_jobs_job_changelist")
        return [
            (
                status,
                self.counts.get(status, 0),
                f"{jobs_url}?{urlencode({'queue': self.name, 'status__exact': status})}",
            )
            for status in Status.values
        ]


def queue_rows(using: str) -> list[QueueRow]:
    """Every known queue of database ``using``: those jobs name and those with a pause state row."""
    counts = Job.objects.using(using).queue_counts()
    states = {state.queue: state for state in QueueState.objects.using(using).all()}
    return [
        QueueRow(name, counts.get(name, {}), states.get(name))
        for name in sorted(counts.keys() | states.keys())
    ]


def until_from_minutes(text: str) -> datetime | None:
    """The optional auto-resume time of a queue pause form: a number of minutes from now."""
    text = validation.text("until", text).strip()
    if not text:
        return None
    try:
        minutes = float(text)
    except ValueError:
        raise InvalidValue("until", f"{validation.show(text)} is not a number of minutes") from None
    if not 0 < minutes <= MAX_UNTIL_MINUTES:  # also refuses nan
        raise InvalidValue(
            "until",
            f"{validation.show(text)} minutes is outside 0 (exclusive)..{MAX_UNTIL_MINUTES:,} (a year)",
        )
    return timezone.now() + timedelta(minutes=minutes)


class QueueAdmin(JobTablesAdmin):
    """The Queues page: a custom changelist over job counts and pause state."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "operate/<str:action>/",
                self.admin_site.admin_view(self.operate_view),
                name="durable_jobs_queuestate_operate",
            ),
            path("<path:object_id>/", self.admin_site.admin_view(self.to_changelist)),
            *super().get_urls(),
        ]

    def to_changelist(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Queue rows have no page of their own: everything is on the Queues page."""
        return redirect("admin:durable_jobs_queuestate_changelist")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Queues",
            "queues": queue_rows(jobs_settings.DATABASE),
            "statuses": Status.values,
            "modes": PauseMode.choices,
            "can_operate": self.has_change_permission(request),
            "pause_url": reverse("admin:durable_jobs_queuestate_operate", args=["pause"]),
            "resume_url": reverse("admin:durable_jobs_queuestate_operate", args=["resume"]),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/durable_jobs/queues.html", context)

    @operation
    def operate_view(self, request: HttpRequest, action: str) -> HttpResponse:
        queue = request.POST.get("queue", "")

        def pause(mode: str, **kwargs: Any) -> None:
            until = until_from_minutes(request.POST.get("until", ""))
            pause_queue(queue, mode, until=until, **kwargs)

        resume = partial(resume_queue, queue)
        pause_or_resume(self, request, action, f"Queue {queue!r}", pause, resume)
        return redirect("admin:durable_jobs_queuestate_changelist")
