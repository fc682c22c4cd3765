"""One job's page: its data, its POST buttons, its checkpoints and fan-out children.

``JobPage`` is mixed into ``JobAdmin`` (see ``jobs.py``). The buttons post to
``<id>/operate/<action>/``; which of them show comes from ``refusal``, the
same check the transitions make, so the page offers only what would work.
Args, kwargs, result and last error show shortened when long, with a link to
``<id>/download/<field>/`` for the whole value (see ``values.py``). What the
handler reports with ``set_progress()`` shows as a bar (an HTML/CSS one, on
the jobs list too), done/total, the message and the rate since the attempt
started.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from django_durable_jobs import cancel_job, pause_job, resume_job, retry_job

from .. import validation
from ..exceptions import DurableJobsError, InvalidValue, JobNotFound
from ..models import Job
from ..state.jobs import refusal
from ..statuses import PauseMode, Status
from .common import operate_url, operation, posted_mode
from .values import (
    DOWNLOADABLE,
    JSON_FIELDS,
    TEXT_FIELDS,
    download,
    json_preview,
    text_preview,
    with_previews,
)

#: How many children of one fan-out the job page lists before linking to the rest.
MAX_CHILDREN_SHOWN = 50

#: Job action -> what the summary says was done.
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
    """Run one of ``JOB_ACTIONS`` through the public API."""
    if action == "pause":
        return pause_job(job_id, mode, by=by, reason=reason)
    if action == "resume":
        return resume_job(job_id, by=by)
    if action == "cancel":
        return cancel_job(job_id, by=by, reason=reason or "cancelled")
    if action == "retry":
        return retry_job(job_id, by=by)
    raise ValueError(f"unknown job action {action!r}")


def current_progress(job: Job) -> bool:
    """The job has a progress report from its latest attempt (not one left by an earlier attempt)."""
    at = job.progress_at
    return (
        job.progress_done is not None and at is not None and (job.started_at is None or at >= job.started_at)
    )


def progress_bar(job: Job) -> SafeString | str:
    """``done/total`` as a bar (a count alone when the total is unknown); "" without a report."""
    if not current_progress(job):
        return ""
    done, total = job.progress_done, job.progress_total
    if total is None:
        return format_html(
            '<span class="djj-progress-count" title="{}">{} done</span>', job.progress_message, done
        )
    percent = 100 if total == 0 else min(100, done * 100 // total)
    return format_html(
        '<span class="djj-progress" role="progressbar" aria-valuemin="0" aria-valuemax="{}" '
        'aria-valuenow="{}" title="{}"><span class="djj-progress-fill" style="width: {}%"></span></span> '
        '<span class="djj-progress-count">{}/{} ({}%)</span>',
        total,
        done,
        job.progress_message or f"{done} of {total}",
        percent,
        done,
        total,
        percent,
    )


def per_second(count: int, started: datetime | None, until: datetime | None) -> str:
    """A rate made readable: "12.5/s", or per minute or hour when slower; "" if it cannot be told."""
    if started is None or until is None or (seconds := (until - started).total_seconds()) <= 0:
        return ""
    rate, unit = count / seconds, "s"
    if rate < 1:
        rate, unit = rate * 60, "min"
    if rate < 1:
        rate, unit = rate * 60, "h"
    return f"{rate:,.0f}/{unit}" if rate >= 100 else f"{rate:.3g}/{unit}"


def duration(seconds: float) -> str:
    """ "45 s", "12 min", "3 h"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:,.0f} h"


def download_url(job: Job, field: str) -> str:
    """Where the whole value of ``field`` of ``job`` downloads as JSON."""
    return reverse("admin:durable_jobs_job_download", args=[job.pk, field])


class JobPage(admin.ModelAdmin):
    """The job page of ``JobAdmin``: fieldsets, read-only fields, buttons and their view."""

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
        "progress_pretty",
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Job | None = None) -> list[Any]:
        """The job's data; pause and execution details fold away when they say nothing."""
        pausing = obj is not None and (obj.status == Status.PAUSED or bool(obj.pause_requested))
        executing = obj is not None and (obj.status == Status.RUNNING or obj.fanout_id is not None)
        progress = (
            [("Progress", {"fields": ["progress_pretty"]})] if obj and obj.progress_done is not None else []
        )
        return [
            (None, {"fields": ["id", "name", "queue", "priority", "status_badge", "attempts"]}),
            *progress,
            ("Pause", {"fields": self.pause_fields, "classes": [] if pausing else ["collapse"]}),
            ("Data", {"fields": ["args_pretty", "kwargs_pretty", "result_pretty", "error_pretty"]}),
            ("Timing", {"fields": self.timing_fields}),
            (
                "Execution",
                {"fields": self.execution_fields, "classes": [] if executing else ["collapse"]},
            ),
        ]

    @admin.display(description="progress")
    def progress_pretty(self, job: Job) -> SafeString:
        """The bar, done/total, the message and the rate since the attempt started."""
        if not current_progress(job):
            return format_html(
                '<span class="djj-quiet">{} reported by an earlier attempt; none yet from this one.</span>',
                f"{job.progress_done}/{job.progress_total}"
                if job.progress_total is not None
                else job.progress_done,
            )
        rate = per_second(job.progress_done, job.started_at, job.progress_at)
        running = job.status == Status.RUNNING
        left = when = ""
        if running and rate and job.progress_total is not None and job.progress_done:
            per_item = (job.progress_at - job.started_at).total_seconds() / job.progress_done
            left = f", about {duration((job.progress_total - job.progress_done) * per_item)} to go"
        if running:
            when = f" (reported {duration((timezone.now() - job.progress_at).total_seconds())} ago)"
        return format_html(
            '<div class="djj-progress-detail">{}'
            '<div class="djj-progress-numbers">{} done{}</div>'
            '<div class="djj-progress-message">{}</div>'
            '<div class="djj-progress-rate">{}{}<span class="djj-quiet">{}</span></div>'
            "</div>",
            progress_bar(job),
            job.progress_done,
            f" of {job.progress_total}" if job.progress_total is not None else "",
            job.progress_message,
            f"{rate} since it started" if rate else "",
            left,
            when,
        )

    @admin.display(description="args")
    def args_pretty(self, job: Job) -> SafeString:
        return json_preview(job, "args", download_url(job, "args"))

    @admin.display(description="kwargs")
    def kwargs_pretty(self, job: Job) -> SafeString:
        return json_preview(job, "kwargs", download_url(job, "kwargs"))

    @admin.display(description="result")
    def result_pretty(self, job: Job) -> SafeString:
        return json_preview(job, "result", download_url(job, "result"))

    @admin.display(description="last error")
    def error_pretty(self, job: Job) -> SafeString | str:
        return text_preview(job, "last_error", download_url(job, "last_error"))

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

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/download/<str:field>/",
                self.admin_site.admin_view(self.download_view),
                name="durable_jobs_job_download",
            ),
            *super().get_urls(),
        ]

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Job | None:
        """The job without its large values, but with what ``values.json_preview`` shows of them."""
        if from_field not in (None, "id"):
            return super().get_object(request, object_id, from_field)
        try:
            job_id = validation.job_id(object_id)
        except InvalidValue:
            return None
        queryset = with_previews(self.get_queryset(request), JSON_FIELDS, TEXT_FIELDS)
        return queryset.filter(pk=job_id).first()

    def download_view(self, request: HttpRequest, object_id: str, field: str) -> HttpResponse:
        """One of ``values.DOWNLOADABLE`` of a job, whole, as a JSON attachment (view permission)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if field not in DOWNLOADABLE:
            raise Http404(f"no value {field!r} to download")
        try:
            job_id = validation.job_id(unquote(object_id))
        except InvalidValue as exc:
            raise Http404(str(exc)) from None
        return download(self.get_queryset(request), job_id, field)

    @operation
    def operate_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        if action not in JOB_ACTIONS:
            raise Http404(f"no job action {action!r}")
        try:
            job_id = validation.job_id(unquote(object_id))
        except InvalidValue as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return redirect("admin:durable_jobs_job_changelist")
        mode = posted_mode(request)
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
        """Title, buttons, checkpoints and fan-outs, read from the job's own database."""
        return {
            "title": f"Job {job.pk}: {job.name}",
            "can_operate": self.has_change_permission(request),
            "operate_urls": {action: operate_url("job", job.pk, action) for action in JOB_ACTIONS},
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
                    "value_html": json_preview(checkpoint, "value"),
                    "created_at": checkpoint.created_at,
                }
                for checkpoint in with_previews(job.checkpoints.order_by("index"), ("value",))
            ],
            "fanouts": self.fanouts_of(job),
        }

    def fanouts_of(self, job: Job) -> list[dict[str, Any]]:
        """Each fan-out of ``job`` with its first children and a link to all of them."""
        fanouts = []
        for fanout in job.fanouts.order_by("index"):
            children = fanout.children.order_by("fanout_index", "id").defer(*DOWNLOADABLE)
            children = list(children[:MAX_CHILDREN_SHOWN])
            more_url = ""
            if fanout.total > len(children):
                more_url = reverse("admin:durable_jobs_job_changelist") + f"?fanout__id__exact={fanout.pk}"
            fanouts.append({"fanout": fanout, "children": children, "more_url": more_url})
        return fanouts
