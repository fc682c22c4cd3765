"""The Workers page: heartbeat, running jobs, pause state and pause/resume buttons.

"Alive" is the one rule of ``Worker.objects.alive()`` / ``Worker.is_alive()``:
not stopped, and a heartbeat newer than ``WORKER_DEAD_SECONDS``. Only live
workers get buttons; a dead one's row may be deleted.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from django_durable_jobs import pause_worker, resume_worker

from ..conf import jobs_settings
from ..models import Job, Worker
from .common import ReadOnlyRowsAdmin, cut_reason, operate_url, operation, pause_or_resume

#: Up to this age a heartbeat is shown in seconds, then as Django's "timesince".
SECONDS_SHOWN_UNTIL = 120


class AliveFilter(admin.SimpleListFilter):
    title = "liveness"
    parameter_name = "alive"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "alive"), ("no", "dead or stopped")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Worker]) -> QuerySet[Worker]:
        if self.value() == "yes":
            return queryset.alive()
        if self.value() == "no":
            return queryset.dead()
        return queryset


class WorkerAdmin(ReadOnlyRowsAdmin):
    list_display = [
        "id",
        "host",
        "pid",
        "queue_list",
        "concurrency",
        "heartbeat",
        "running_jobs",
        "abandoned_threads",
        "pause_state",
    ]
    list_filter = [AliveFilter, "paused", "host"]
    filter_fields = ("id",)
    #: Most recent heartbeat first, whatever the model's default ordering.
    ordering = ["-heartbeat_at"]
    search_fields = ["id", "host"]
    actions = None
    readonly_fields = ["queue_list", "heartbeat", "running_jobs", "pause_state"]
    fields = [
        "id",
        "host",
        "pid",
        "queue_list",
        "concurrency",
        "started_at",
        "heartbeat",
        "stopped_at",
        "running_jobs",
        "abandoned_threads",
        "pause_state",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Worker]:
        running = Job.objects.using(jobs_settings.DATABASE).running_count_on(OuterRef("pk"))
        return super().get_queryset(request).annotate(running_count=running)

    def get_list_display(self, request: HttpRequest) -> list[str]:
        if self.has_change_permission(request):
            return [*self.list_display, "buttons"]
        return list(self.list_display)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            "title": "Workers",
            "dead_after": jobs_settings.WORKER_DEAD_SECONDS,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request: HttpRequest, obj: Worker | None = None) -> bool:
        return (obj is None or not obj.is_alive()) and super().has_delete_permission(request, obj)

    @admin.display(description="queues")
    def queue_list(self, worker: Worker) -> str:
        return ", ".join(worker.queues) if worker.queues else "all"

    @admin.display(description="heartbeat", ordering="heartbeat_at")
    def heartbeat(self, worker: Worker) -> SafeString:
        age = (timezone.now() - worker.heartbeat_at).total_seconds()
        ago = f"{age:.0f} s ago" if age < SECONDS_SHOWN_UNTIL else f"{timesince(worker.heartbeat_at)} ago"
        if worker.stopped_at is not None:
            return format_html('<span class="djj-badge djj-stopped">stopped</span> {}', ago)
        if not worker.is_alive():
            return format_html('<span class="djj-badge djj-dead">dead</span> {}', ago)
        return format_html('<span class="djj-badge djj-alive">alive</span> {}', ago)

    @admin.display(description="running jobs", ordering="running_count")
    def running_jobs(self, worker: Worker) -> SafeString | int:
        count = getattr(worker, "running_count", None)
        if count is None:
            jobs = Job.objects.using(jobs_settings.DATABASE).filter(worker_id=worker.pk)
            count = jobs.running_per_worker().get(worker.pk, 0)
        if not count:
            return 0
        url = reverse("admin:durable_jobs_job_changelist")
        return format_html('<a href="{}?{}">{}</a>', url, urlencode({"worker_id": worker.pk}), count)

    @admin.display(description="paused", ordering="paused")
    def pause_state(self, worker: Worker) -> SafeString | str:
        if not worker.paused:
            return "-"
        who = f" by {worker.paused_by}" if worker.paused_by else ""
        why = f": {cut_reason(worker.reason)}" if worker.reason else ""
        return format_html(
            '<span class="djj-badge djj-paused">paused</span> {}{}{}', worker.pause_mode, who, why
        )

    @admin.display(description="operate")
    def buttons(self, worker: Worker) -> SafeString | str:
        """Submit buttons of the changelist form, each posting to its own operate URL."""
        if not worker.is_alive():
            return "-"
        if worker.paused:
            choices = [("resume", "", "Resume")]
        else:
            choices = [
                ("pause", "graceful", "Pause"),
                ("pause", "aggressive", "Pause (aggressive)"),
            ]
        button = '<button type="submit" class="button" formaction="{}" name="mode" value="{}">{}</button>'
        return format_html_join(
            " ",
            button,
            ((operate_url("worker", worker.pk, action), mode, label) for action, mode, label in choices),
        )

    @operation
    def operate_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        worker_id = unquote(object_id)
        pause = partial(pause_worker, worker_id)
        resume = partial(resume_worker, worker_id)
        pause_or_resume(self, request, action, f"Worker {worker_id!r}", pause, resume)
        return redirect("admin:durable_jobs_worker_changelist")
