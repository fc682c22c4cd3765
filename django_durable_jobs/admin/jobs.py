"""The Jobs list: columns, filters, search by id or name, and the bulk actions.

Bulk actions are Django's own admin actions (a CSRF-protected POST of the
changelist form, gated by the change permission). Pause, resume and cancel
first show a confirmation page (the selected jobs, which of them the action
skips and why, a reason), as Django's bulk delete does. Each applies to the
eligible rows one by one through the public API and reports the rest by the
error the transition would raise. The reason goes where the state machine
keeps it (a pause's ``pause_reason``) and, for every job changed, into the
job's admin history (``LogEntry``): ``resume_job`` takes no reason and
``cancel_job`` does not store one. The job page itself is ``job_page.JobPage``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import SafeString

from .. import validation
from ..exceptions import DurableJobsError, InvalidValue
from ..models import Job
from ..statuses import PauseMode, Status
from .common import (
    LISTED,
    ReadOnlyRowsAdmin,
    Selected,
    confirmation_page,
    confirmed_reason,
    cut_reason,
    short_datetime,
    status_badge,
    summary,
)
from .job_page import JOB_ACTIONS, JobPage, job_blocker, progress_bar, run_job_action
from .values import DOWNLOADABLE

#: What a confirmation page says of each action that asks for one.
CONFIRM = {
    "pause_graceful": ("Pause", "Running jobs pause when their running attempt ends."),
    "pause_aggressive": (
        "Pause now",
        "Running jobs are stopped now and pause; their attempt is not counted.",
    ),
    "resume": ("Resume", "Paused jobs become pending again (or waiting, if their fan-out is unresolved)."),
    "cancel": ("Cancel jobs", "Cancelled jobs never run again; running ones are stopped."),
}


class JobAdmin(JobPage, ReadOnlyRowsAdmin):
    list_display = [
        "id",
        "name",
        "queue",
        "status_badge",
        "progress_bar",
        "attempts",
        "run_after_short",
        "updated_short",
        "pause_info",
    ]
    list_display_links = ["id", "name"]
    list_filter = ["status", "queue", "name"]
    #: Filters beyond ``list_filter`` that the other pages link to (see ``InputGuard``).
    filter_fields = ("id", "worker_id", "fanout__id", "unique_key", "schedule")
    #: Newest first, whatever the model's default ordering.
    ordering = ["-id"]
    search_fields = ["name"]
    search_help_text = "Job id or name"
    show_full_result_count = False
    actions = ["pause_graceful", "pause_aggressive", "resume", "cancel", "retry"]

    # -- columns

    @admin.display(description="status", ordering="status")
    def status_badge(self, job: Job) -> SafeString:
        return status_badge(job.status)

    @admin.display(description="progress")
    def progress_bar(self, job: Job) -> SafeString | str:
        return progress_bar(job) if job.status == Status.RUNNING else ""

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
        reason = cut_reason(job.pause_reason)
        if job.status == Status.RUNNING and job.pause_requested:
            who = f" by {job.paused_by}" if job.paused_by else ""
            return f"pause requested{who}" + (f": {reason}" if reason else "")
        if job.status != Status.PAUSED:
            return ""
        who = f"{job.pause_mode or 'paused'}{' by ' + job.paused_by if job.paused_by else ''}"
        return who + (f": {reason}" if reason else "")

    # -- list

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        """Rows without their values, which may be megabytes each (the job page shows them)."""
        return super().get_queryset(request).defer(*DOWNLOADABLE)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Job], search_term: str
    ) -> tuple[QuerySet[Job], bool]:
        """Names containing the term, and the job whose id it is (``42`` or ``#42``).

        A term that is no job id (``²``, ``-1``, 30 digits) searches names only.
        """
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            job_id = validation.job_id(search_term.strip().lstrip("#"))
        except InvalidValue:
            return results, may_have_duplicates
        return results | queryset.filter(pk=job_id), may_have_duplicates

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
    def pause_graceful(self, request: HttpRequest, queryset: QuerySet[Job]) -> TemplateResponse | None:
        return self.confirmed_bulk(request, queryset, "pause_graceful", "pause", PauseMode.GRACEFUL)

    @admin.action(description="Pause selected jobs (aggressive)", permissions=["change"])
    def pause_aggressive(self, request: HttpRequest, queryset: QuerySet[Job]) -> TemplateResponse | None:
        return self.confirmed_bulk(request, queryset, "pause_aggressive", "pause", PauseMode.AGGRESSIVE)

    @admin.action(description="Resume selected jobs", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Job]) -> TemplateResponse | None:
        return self.confirmed_bulk(request, queryset, "resume", "resume")

    @admin.action(description="Cancel selected jobs", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Job]) -> TemplateResponse | None:
        return self.confirmed_bulk(request, queryset, "cancel", "cancel")

    @admin.action(description="Retry selected jobs", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.bulk(request, queryset, "retry")

    def confirmed_bulk(
        self,
        request: HttpRequest,
        queryset: QuerySet[Job],
        name: str,
        action: str,
        mode: str = PauseMode.GRACEFUL,
    ) -> TemplateResponse | None:
        """The confirmation page of bulk action ``name``; once confirmed, the action itself."""
        reason, error = confirmed_reason(request)
        if reason is not None:
            self.bulk(request, queryset, action, mode, reason=reason)
            return None  # back to the list, with the summary
        button, note = CONFIRM[name]
        done = JOB_ACTIONS[action] if action != "pause" else f"paused ({mode})"
        rows = (
            Selected(
                f"Job {job.pk}: {job.name} ({job.status})",
                reverse("admin:durable_jobs_job_change", args=[job.pk]),
                job_blocker(job, action, mode) or "",
            )
            for job in queryset.only("id", "name", "status", "pause_requested").order_by("id")[:LISTED]
        )
        title = f"{button}: the selected jobs will be {done}"
        return confirmation_page(
            self, request, rows, action=name, title=title, button=button, note=note, error=error
        )

    def bulk(
        self,
        request: HttpRequest,
        queryset: QuerySet[Job],
        action: str,
        mode: str = PauseMode.GRACEFUL,
        *,
        reason: str = "",
    ) -> None:
        """Apply ``action`` to the eligible rows one by one, through the public API.

        Each job changed gets an entry in its admin history, with the reason.
        """
        by = request.user.get_username()
        changed, skipped = 0, []
        done = JOB_ACTIONS[action] if action != "pause" else f"paused ({mode})"
        for job in queryset.only("id", "status", "pause_requested").order_by("id"):
            why_not = job_blocker(job, action, mode)
            if why_not is None:
                try:
                    changed_job = run_job_action(job.pk, action, by=by, mode=mode, reason=reason)
                except DurableJobsError as exc:  # it changed since the page was drawn
                    why_not = str(exc)
                else:
                    changed += 1
                    history = f"{done.capitalize()} from the jobs list" + (f": {reason}" if reason else "")
                    self.log_change(request, changed_job, history)
                    continue
            skipped.append(why_not)
        level = messages.WARNING if skipped else messages.SUCCESS
        self.message_user(request, summary(changed, "job", JOB_ACTIONS[action], skipped), level)
