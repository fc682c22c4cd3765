"""The Workers page: heartbeat, running jobs, pause state and pause/resume buttons.

"Alive" is the one rule of ``Worker.objects.alive()`` / ``Worker.is_alive()``:
not stopped, and a heartbeat newer than ``WORKER_DEAD_SECONDS``. Only live
workers get buttons; a dead one's row may be deleted. The bulk actions pause
(graceful, aggressive) and resume the selected live workers after a
confirmation page that asks for a reason (a pause keeps it in ``reason``).
A worker's page shows its pool (threads or processes), its process pool's
children and the handler threads it abandoned.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.db.models import OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from django_durable_jobs import pause_worker, resume_worker

from ..conf import jobs_settings
from ..exceptions import DurableJobsError
from ..models import Job, PauseMode, Worker
from .common import (
    LISTED,
    ReadOnlyRowsAdmin,
    Selected,
    confirmation_page,
    confirmed_reason,
    cut_reason,
    operate_url,
    operation,
    pause_or_resume,
    summary,
)

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
        "pool",
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
    actions = ["pause_graceful", "pause_aggressive", "resume"]
    readonly_fields = ["queue_list", "heartbeat", "running_jobs", "pause_state", "pool_children"]
    fields = [
        "id",
        "host",
        "pid",
        "queue_list",
        "concurrency",
        "pool",
        "pool_children",
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

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6 passes action_location; Django 5.2 does not know the argument.
        extra = {} if action_location is None else {"action_location": action_location}
        actions = super().get_actions(request, **extra)
        actions.pop("delete_selected", None)  # a live worker's row must stay
        return actions

    @admin.display(description="children")
    def pool_children(self, worker: Worker) -> SafeString | str:
        """The process pool's children: pid, the job each runs now, how many it ran."""
        children = worker.children if isinstance(worker.children, list) else []
        if not children:
            return "-" if worker.pool != "process" else "none yet"
        rows = []
        for child in children:
            child = child if isinstance(child, dict) else {}
            job = child.get("job")
            running = "idle"
            if job:
                url = reverse("admin:durable_jobs_job_change", args=[quote(job)])
                running = format_html('<a href="{}">job {}</a>', url, job)
            rows.append((child.get("pid", "?"), running, child.get("jobs", "?")))
        head = "".join(f'<th scope="col">{title}</th>' for title in ("pid", "running", "jobs run"))
        return format_html(
            '<table class="djj-table djj-children"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
            SafeString(head),
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    # -- bulk actions (each asks first, see ``common.confirmation_page``)

    @admin.action(description="Pause selected workers (graceful)", permissions=["change"])
    def pause_graceful(self, request: HttpRequest, queryset: QuerySet[Worker]) -> TemplateResponse | None:
        return self.confirmed_bulk(request, queryset, "pause_graceful", PauseMode.GRACEFUL)

    @admin.action(description="Pause selected workers (aggressive)", permissions=["change"])
    def pause_aggressive(self, request: HttpRequest, queryset: QuerySet[Worker]) -> TemplateResponse | None:
        return self.confirmed_bulk(request, queryset, "pause_aggressive", PauseMode.AGGRESSIVE)

    @admin.action(description="Resume selected workers", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Worker]) -> TemplateResponse | None:
        return self.confirmed_bulk(request, queryset, "resume")

    def confirmed_bulk(
        self, request: HttpRequest, queryset: QuerySet[Worker], name: str, mode: str = ""
    ) -> TemplateResponse | None:
        """The confirmation page of bulk action ``name``; once confirmed, the action itself."""
        reason, error = confirmed_reason(request)
        if reason is not None:
            self.bulk(request, queryset, mode, reason)
            return None
        if mode:
            button = "Pause now" if mode == PauseMode.AGGRESSIVE else "Pause"
            note = (
                "The workers claim nothing more; their running jobs go back to pending now."
                if mode == PauseMode.AGGRESSIVE
                else "The workers claim nothing more; their running jobs finish."
            )
            title = f"{button}: the selected workers will be paused ({mode})"
        else:
            button, note = "Resume", "The workers claim jobs again."
            title = "Resume: the selected workers will claim again"
        rows = (
            Selected(
                worker.pk,
                reverse("admin:durable_jobs_worker_change", args=[quote(worker.pk)]),
                self.blocker(worker, bool(mode)),
            )
            for worker in queryset.order_by("id")[:LISTED]
        )
        return confirmation_page(
            self, request, rows, action=name, title=title, button=button, note=note, error=error
        )

    @staticmethod
    def blocker(worker: Worker, pause: bool) -> str:
        """Why a bulk pause (or resume) skips ``worker``, or ""."""
        if not worker.is_alive():
            return f"worker {worker.pk!r} is not alive"
        if pause and worker.paused:
            return f"worker {worker.pk!r} is already paused"
        if not pause and not worker.paused:
            return f"worker {worker.pk!r} is not paused"
        return ""

    def bulk(self, request: HttpRequest, queryset: QuerySet[Worker], mode: str, reason: str) -> None:
        """Pause (``mode``) or resume the live workers selected, one by one, through the public API."""
        by = request.user.get_username()
        changed, skipped = 0, []
        for worker in queryset.order_by("id"):
            why_not = self.blocker(worker, bool(mode))
            if not why_not:
                try:
                    if mode:
                        done = f"paused ({mode})"
                        pause_worker(worker.pk, mode, by=by, reason=reason)
                    else:
                        done = "resumed"
                        resume_worker(worker.pk, by=by)
                except DurableJobsError as exc:  # it changed since the page was drawn
                    why_not = str(exc)
                else:
                    changed += 1
                    self.log_change(
                        request,
                        worker,
                        f"{done.capitalize()} from the workers list" + (f": {reason}" if reason else ""),
                    )
                    continue
            skipped.append(why_not)
        level = messages.WARNING if skipped else messages.SUCCESS
        done = f"paused ({mode})" if mode else "resumed"
        self.message_user(request, summary(changed, "worker", done, skipped), level)

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
