"""One job's page: its data, its POST buttons, its checkpoints and fan-out children.

``JobPage`` is mixed into ``JobAdmin`` (see ``jobs.py``). The buttons post to
``<id>/operate/<action>/``; which of them show comes from ``refusal``, the
same check the transitions make, so the page offers only what would work.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from django_durable_jobs import cancel_job, pause_job, resume_job, retry_job

from ..exceptions import DurableJobsError, JobNotFound
from ..models import Job
from ..state.jobs import refusal
from ..statuses import PauseMode, Status
from .common import operate_url, operation, posted_mode, pretty_json

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
        return cancel_job(job_id, by=by)
    if action == "retry":
        return retry_job(job_id, by=by)
    raise ValueError(f"unknown job action {action!r}")


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

    @operation
    def operate_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        if action not in JOB_ACTIONS:
            raise Http404(f"no job action {action!r}")
        job_id = unquote(object_id)
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
                    "value_html": pretty_json(checkpoint.value),
                    "created_at": checkpoint.created_at,
                }
                for checkpoint in job.checkpoints.order_by("index")
            ],
            "fanouts": self.fanouts_of(job),
        }

    def fanouts_of(self, job: Job) -> list[dict[str, Any]]:
        """Each fan-out of ``job`` with its first children and a link to all of them."""
        fanouts = []
        for fanout in job.fanouts.order_by("index"):
            children = list(fanout.children.order_by("fanout_index", "id")[:MAX_CHILDREN_SHOWN])
            more_url = ""
            if fanout.total > len(children):
                more_url = reverse("admin:durable_jobs_job_changelist") + f"?fanout__id__exact={fanout.pk}"
            fanouts.append({"fanout": fanout, "children": children, "more_url": more_url})
        return fanouts
