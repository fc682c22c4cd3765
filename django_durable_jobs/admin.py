"""The Django admin: operate jobs, queues and workers.

Every state change goes through :mod:`django_durable_jobs.transitions`, so a
pause from the admin is the same pause as from Python or the command line
(same checks, same signals). Rows are never edited by hand: object pages are
view-only, and the model's *change* permission gates the operate buttons and
bulk actions instead of a form.

Each button is a small POST form to a view added by ``get_urls`` and wrapped
in ``admin_site.admin_view`` (login, staff, CSRF). A GET to such a view
changes nothing (405). Outcomes, good or bad, are reported as admin messages
in the words of the error the transition raised ("job 5 is already paused").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial, wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

import django_durable_jobs as transitions

from .conf import jobs_settings
from .exceptions import (
    DurableJobsError,
    JobNotFound,
)
from .models import Checkpoint, Job, PauseMode, QueueState, Status, Worker
from .state.jobs import refusal

#: How many reasons a bulk action lists before it says "and N more".
MAX_REASONS_SHOWN = 5
#: How many children of one fan-out the job page lists before linking to the rest.
MAX_CHILDREN_SHOWN = 50

View = Callable[..., HttpResponse]


def operation(view: View) -> View:
    """A state-changing admin view: POST only, and only with the model's change permission."""

    @wraps(view)
    def wrapper(self: admin.ModelAdmin, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        return view(self, request, *args, **kwargs)

    return wrapper


def status_badge(status: str) -> SafeString:
    return format_html('<span class="djj-badge djj-{}">{}</span>', status, status)


def pretty_json(value: Any) -> SafeString:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html('<pre class="djj-pre">{}</pre>', text)


def short_datetime(value: datetime | None) -> SafeString:
    """A compact local time for list columns; the full one shows on hover."""
    if value is None:
        return format_html("-")
    local = timezone.localtime(value)
    return format_html(
        '<span title="{}">{}</span>',
        date_format(local, "DATETIME_FORMAT"),
        date_format(local, "M j, H:i:s"),
    )


def _mode(request: HttpRequest) -> str:
    return request.POST.get("mode", PauseMode.GRACEFUL)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def summary(changed: int, noun: str, done: str, skipped: list[str]) -> str:
    """E.g. "2 jobs paused; 1 skipped: job 7 is already paused"."""
    text = f"{_plural(changed, noun)} {done}"
    if skipped:
        reasons = "; ".join(skipped[:MAX_REASONS_SHOWN])
        if len(skipped) > MAX_REASONS_SHOWN:
            reasons += f"; and {len(skipped) - MAX_REASONS_SHOWN} more"
        text += f"; {len(skipped)} skipped: {reasons}"
    return text


# --------------------------------------------------------------------------- jobs

JOB_ACTIONS = {
    "pause": "paused",
    "resume": "resumed",
    "cancel": "cancelled",
    "retry": "queued again",
}


def job_blocker(job: Job, action: str, mode: str = PauseMode.GRACEFUL) -> str | None:
    """Why ``action`` does not apply to ``job`` (None if it does), in its error's words."""
    error = refusal(job, action, mode)
    return None if error is None else str(error)


def run_job_action(job_id: Any, action: str, *, by: str, mode: str, reason: str = "") -> Job:
    if action == "pause":
        return transitions.pause_job(job_id, mode, by=by, reason=reason)
    if action == "resume":
        return transitions.resume_job(job_id, by=by)
    if action == "cancel":
        return transitions.cancel_job(job_id, by=by)
    if action == "retry":
        return transitions.retry_job(job_id, by=by)
    raise ValueError(f"unknown job action {action!r}")


def pause_or_resume(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    action: str,
    label: str,
    pause: Callable[..., Any],
    resume: Callable[..., Any],
) -> None:
    """Run a pause/resume button of the queues or workers page; report it as a message."""
    by = request.user.get_username()
    try:
        if action == "pause":
            mode = _mode(request)
            pause(mode, by=by, reason=request.POST.get("reason", "").strip())
            done = f"paused ({mode})"
        elif action == "resume":
            resume(by=by)
            done = "resumed"
        else:
            raise Http404(f"no action {action!r}")
    except (DurableJobsError, ValueError) as exc:
        model_admin.message_user(request, str(exc), messages.ERROR)
    else:
        model_admin.message_user(request, f"{label} {done}.", messages.SUCCESS)


class ReadOnlyRowsAdmin(admin.ModelAdmin):
    """Object pages are view-only; the model-level change permission gates operations."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request)

    def get_urls(self) -> list[URLPattern]:
        """``<id>/operate/<action>/``: the row's POST-only buttons, served by the
        subclass's ``operate_view`` (see ``operation``)."""
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/operate/<str:action>/",
                self.admin_site.admin_view(self.operate_view),
                name=f"{opts.app_label}_{opts.model_name}_operate",
            ),
            *super().get_urls(),
        ]


class JobAdmin(ReadOnlyRowsAdmin):
    list_display = [
        "id",
        "name",
        "queue",
        "status_badge",
        "attempts",
        "run_after_short",
        "updated_short",
        "pause_info",
    ]
    list_display_links = ["id", "name"]
    list_filter = ["status", "queue", "name"]
    search_fields = ["name"]
    search_help_text = "Job id or name"
    show_full_result_count = False
    actions = ["pause_graceful", "pause_aggressive", "resume", "cancel", "retry"]
    pause_fields = ["pause_requested", "pause_mode", "paused_at", "paused_by", "pause_reason"]
    timing_fields = [
        "run_after",
        "scheduled_for",
        "created_at",
        "started_at",
        "finished_at",
        "updated_at",
    ]
    execution_fields = ["worker_id", "lease_expires_at", "parent_fanout", "unique_key"]
    readonly_fields = [
        "status_badge",
        "attempts",
        "args_pretty",
        "kwargs_pretty",
        "result_pretty",
        "error_pretty",
        "parent_fanout",
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Job | None = None) -> list[Any]:
        """The job's data; pause and execution details fold away when they say nothing."""
        pausing = obj is not None and (obj.status == Status.PAUSED or bool(obj.pause_requested))
        executing = obj is not None and (obj.status == Status.RUNNING or obj.fanout_id is not None)
        return [
            (None, {"fields": ["id", "name", "queue", "priority", "status_badge", "attempts"]}),
            ("Pause", {"fields": self.pause_fields, "classes": [] if pausing else ["collapse"]}),
            ("Data", {"fields": ["args_pretty", "kwargs_pretty", "result_pretty", "error_pretty"]}),
            ("Timing", {"fields": self.timing_fields}),
            (
                "Execution",
                {"fields": self.execution_fields, "classes": [] if executing else ["collapse"]},
            ),
        ]

    # -- columns and fields

    @admin.display(description="status", ordering="status")
    def status_badge(self, job: Job) -> SafeString:
        return status_badge(job.status)

    @admin.display(description="attempt", ordering="attempt")
    def attempts(self, job: Job) -> str:
        return f"{job.attempt}/{job.max_retries + 1}"

    @admin.display(description="run after", ordering="run_after")
    def run_after_short(self, job: Job) -> SafeString:
        return short_datetime(job.run_after)

    @admin.display(description="updated", ordering="updated_at")
    def updated_short(self, job: Job) -> SafeString:
        return short_datetime(job.updated_at)

    @admin.display(description="paused")
    def pause_info(self, job: Job) -> str:
        if job.status == Status.RUNNING and job.pause_requested:
            who = f" by {job.paused_by}" if job.paused_by else ""
            return f"pause requested{who}" + (f": {job.pause_reason}" if job.pause_reason else "")
        if job.status != Status.PAUSED:
            return ""
        who = f"{job.pause_mode or 'paused'}{' by ' + job.paused_by if job.paused_by else ''}"
        return who + (f": {job.pause_reason}" if job.pause_reason else "")

    @admin.display(description="args")
    def args_pretty(self, job: Job) -> SafeString:
        return pretty_json(job.args)

    @admin.display(description="kwargs")
    def kwargs_pretty(self, job: Job) -> SafeString:
        return pretty_json(job.kwargs)

    @admin.display(description="result")
    def result_pretty(self, job: Job) -> SafeString:
        return pretty_json(job.result)

    @admin.display(description="last error")
    def error_pretty(self, job: Job) -> SafeString | str:
        return format_html('<pre class="djj-pre">{}</pre>', job.last_error) if job.last_error else "-"

    @admin.display(description="parent fan-out")
    def parent_fanout(self, job: Job) -> SafeString | str:
        if job.fanout_id is None:
            return "-"
        fanout = job.fanout
        url = reverse("admin:durable_jobs_job_change", args=[fanout.parent_id])
        return format_html(
            'child {} of fan-out {} of <a href="{}">job {}</a> ({})',
            job.fanout_index,
            fanout.index,
            url,
            fanout.parent_id,
            fanout.state,
        )

    # -- list

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Job], search_term: str
    ) -> tuple[QuerySet[Job], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().lstrip("#")
        if term.isdigit():
            results |= queryset.filter(pk=int(term))
        return results, may_have_duplicates

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(request, {"title": "Jobs", **(extra_context or {})})

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6 passes action_location; Django 5.2 does not know the argument.
        extra = {} if action_location is None else {"action_location": action_location}
        actions = super().get_actions(request, **extra)
        actions.pop("delete_selected", None)  # would bypass the state machine for live jobs
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return (obj is None or obj.is_finished) and super().has_delete_permission(request, obj)

    # -- bulk actions

    @admin.action(description="Pause selected jobs (graceful)", permissions=["change"])
    def pause_graceful(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.bulk(request, queryset, "pause", PauseMode.GRACEFUL)

    @admin.action(description="Pause selected jobs (aggressive)", permissions=["change"])
    def pause_aggressive(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.bulk(request, queryset, "pause", PauseMode.AGGRESSIVE)

    @admin.action(description="Resume selected jobs", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.bulk(request, queryset, "resume")

    @admin.action(description="Cancel selected jobs", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.bulk(request, queryset, "cancel")

    @admin.action(description="Retry selected jobs", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.bulk(request, queryset, "retry")

    def bulk(
        self,
        request: HttpRequest,
        queryset: QuerySet[Job],
        action: str,
        mode: str = PauseMode.GRACEFUL,
    ) -> None:
        """Apply ``action`` to the eligible rows one by one, through the transitions."""
        by = request.user.get_username()
        changed, skipped = 0, []
        for job in queryset.only("id", "status", "pause_requested").order_by("id"):
            why_not = job_blocker(job, action, mode)
            if why_not is None:
                try:
                    run_job_action(job.pk, action, by=by, mode=mode)
                except DurableJobsError as exc:  # it changed since the page was drawn
                    why_not = str(exc)
                else:
                    changed += 1
                    continue
            skipped.append(why_not)
        level = messages.WARNING if skipped else messages.SUCCESS
        self.message_user(request, summary(changed, "job", JOB_ACTIONS[action], skipped), level)

    # -- the job page

    @operation
    def operate_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        if action not in JOB_ACTIONS:
            raise Http404(f"no job action {action!r}")
        job_id = unquote(object_id)
        mode = _mode(request)
        try:
            job = run_job_action(
                job_id,
                action,
                by=request.user.get_username(),
                mode=mode,
                reason=request.POST.get("reason", "").strip(),
            )
        except JobNotFound as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return redirect("admin:durable_jobs_job_changelist")
        except (DurableJobsError, ValueError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            done = JOB_ACTIONS[action]
            if action == "pause":
                done = f"paused ({mode})"
                if job.status == Status.RUNNING:
                    done = "asked to pause: it pauses when its running attempt ends"
            self.message_user(request, f"Job {job.pk} {done}.", messages.SUCCESS)
        return redirect("admin:durable_jobs_job_change", quote(job_id))

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Job | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(self.job_page_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def job_page_context(self, request: HttpRequest, job: Job) -> dict[str, Any]:
        can_operate = self.has_change_permission(request)
        fanouts = []
        for fanout in job.fanouts.order_by("index"):
            children = list(fanout.children.order_by("fanout_index", "id")[:MAX_CHILDREN_SHOWN])
            more_url = ""
            if fanout.total > len(children):
                more_url = reverse("admin:durable_jobs_job_changelist") + f"?fanout__id__exact={fanout.pk}"
            fanouts.append({"fanout": fanout, "children": children, "more_url": more_url})
        return {
            "title": f"Job {job.pk}: {job.name}",
            "can_operate": can_operate,
            "operate_urls": {
                action: reverse("admin:durable_jobs_job_operate", args=[quote(job.pk), action])
                for action in JOB_ACTIONS
            },
            "can": {
                "pause_graceful": job_blocker(job, "pause", PauseMode.GRACEFUL) is None,
                "pause_aggressive": job_blocker(job, "pause", PauseMode.AGGRESSIVE) is None,
                "resume": job_blocker(job, "resume") is None,
                "cancel": job_blocker(job, "cancel") is None,
                "retry": job_blocker(job, "retry") is None,
            },
            "checkpoints": [
                {
                    "index": checkpoint.index,
                    "target": checkpoint.target,
                    "value_html": pretty_json(checkpoint.value),
                    "created_at": checkpoint.created_at,
                }
                for checkpoint in Checkpoint.objects.filter(job=job).order_by("index")
            ],
            "fanouts": fanouts,
        }


# --------------------------------------------------------------------------- queues


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


def queue_rows() -> list[QueueRow]:
    """Every known queue: those jobs name and those with a pause state row."""
    counts: dict[str, dict[str, int]] = {}
    for row in Job.objects.order_by().values("queue", "status").annotate(n=Count("id")):
        counts.setdefault(row["queue"], {})[row["status"]] = row["n"]
    states = {state.queue: state for state in QueueState.objects.all()}
    return [
        QueueRow(name, counts.get(name, {}), states.get(name))
        for name in sorted(counts.keys() | states.keys())
    ]


def until_from_minutes(text: str) -> Any:
    """The optional auto-resume time of a queue pause form."""
    text = text.strip()
    if not text:
        return None
    try:
        minutes = float(text)
    except ValueError:
        raise ValueError(f"'until' must be a number of minutes, not {text!r}") from None
    if not 0 < minutes <= 60 * 24 * 366:
        raise ValueError(f"'until' must be a positive number of minutes, not {text!r}")
    return timezone.now() + timedelta(minutes=minutes)


class QueueAdmin(admin.ModelAdmin):
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
            "queues": queue_rows(),
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
            transitions.pause_queue(queue, mode, until=until, **kwargs)

        resume = partial(transitions.resume_queue, queue)
        pause_or_resume(self, request, action, f"Queue {queue!r}", pause, resume)
        return redirect("admin:durable_jobs_queuestate_changelist")


# --------------------------------------------------------------------------- workers


class AliveFilter(admin.SimpleListFilter):
    title = "liveness"
    parameter_name = "alive"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "alive"), ("no", "dead or stopped")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Worker]) -> QuerySet[Worker]:
        alive = Q(
            stopped_at__isnull=True,
            heartbeat_at__gte=timezone.now() - timedelta(seconds=jobs_settings.WORKER_DEAD_SECONDS),
        )
        if self.value() == "yes":
            return queryset.filter(alive)
        if self.value() == "no":
            return queryset.exclude(alive)
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
        "pause_state",
    ]
    list_filter = [AliveFilter, "paused", "host"]
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
        "pause_state",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Worker]:
        running = (
            Job.objects.filter(status=Status.RUNNING, worker_id=OuterRef("pk"))
            .order_by()
            .values("worker_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(running_count=Coalesce(Subquery(running, output_field=IntegerField()), 0))
        )

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
        ago = f"{age:.0f} s ago" if age < 120 else f"{timesince(worker.heartbeat_at)} ago"
        if worker.stopped_at is not None:
            return format_html('<span class="djj-badge djj-stopped">stopped</span> {}', ago)
        if not worker.is_alive():
            return format_html('<span class="djj-badge djj-dead">dead</span> {}', ago)
        return format_html('<span class="djj-badge djj-alive">alive</span> {}', ago)

    @admin.display(description="running jobs", ordering="running_count")
    def running_jobs(self, worker: Worker) -> SafeString | int:
        count = getattr(worker, "running_count", None)
        if count is None:
            count = Job.objects.filter(status=Status.RUNNING, worker_id=worker.pk).count()
        if not count:
            return 0
        url = reverse("admin:durable_jobs_job_changelist")
        return format_html('<a href="{}?{}">{}</a>', url, urlencode({"worker_id": worker.pk}), count)

    @admin.display(description="paused", ordering="paused")
    def pause_state(self, worker: Worker) -> SafeString | str:
        if not worker.paused:
            return "-"
        who = f" by {worker.paused_by}" if worker.paused_by else ""
        why = f": {worker.reason}" if worker.reason else ""
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
            (
                (
                    reverse("admin:durable_jobs_worker_operate", args=[quote(worker.pk), action]),
                    mode,
                    label,
                )
                for action, mode, label in choices
            ),
        )

    @operation
    def operate_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        worker_id = unquote(object_id)
        pause = partial(transitions.pause_worker, worker_id)
        resume = partial(transitions.resume_worker, worker_id)
        pause_or_resume(self, request, action, f"Worker {worker_id!r}", pause, resume)
        return redirect("admin:durable_jobs_worker_changelist")


admin.site.register(Job, JobAdmin)
admin.site.register(QueueState, QueueAdmin)
admin.site.register(Worker, WorkerAdmin)
