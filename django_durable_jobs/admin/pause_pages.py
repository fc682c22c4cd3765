"""What the Queues, Job types and Schedules pages share: named rows, their counts, pause/resume.

Neither a queue nor a job type is a row of its own (a ``QueueState`` or a
``JobTypeState`` exists only once it was paused), so each page is a custom
changelist over job counts and the pause states (``PausePageAdmin``), and a
state row's object URL leads back to it. The Schedules page is such a custom
changelist too (``RowsPageAdmin``), over the ``Schedule`` rows. The name a
button acts on travels as POST data (``queue`` or ``name``), never in the
URL: job names may hold ``/``, ``:``, ``|`` or ``%``. Every button goes
through the public API (``pause_queue``, ``pause_job_type`` and the rest) and
reports its outcome as a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from .. import validation
from ..conf import jobs_settings
from ..exceptions import InvalidValue
from ..models import PauseState
from ..statuses import PauseMode, Status
from .common import JobTablesAdmin, operation, pause_or_resume

#: The longest auto-resume delay the pause form accepts, in minutes (a year).
MAX_UNTIL_MINUTES = 60 * 24 * 366


def until_from_minutes(text: str) -> datetime | None:
    """The optional auto-resume time of a pause form: a number of minutes from now."""
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


def jobs_list_url(**filters: str) -> str:
    """The Jobs list filtered by ``filters`` (values quoted: any name is safe in it)."""
    return f"{reverse('admin:durable_jobs_job_changelist')}?{urlencode(filters)}"


@dataclass
class CountsRow:
    """One line of the Queues or Job types page: a name, its jobs' counts and its pause state."""

    name: str
    counts: dict[str, int]
    state: PauseState | None

    #: The Jobs list filter that selects this row's jobs.
    filter_field: ClassVar[str] = "queue"

    @property
    def paused(self) -> bool:
        return bool(self.state and self.state.paused)

    @property
    def running(self) -> int:
        return self.counts.get(Status.RUNNING, 0)

    @property
    def drain(self) -> str:
        """Whether a paused row still has jobs running (a graceful pause lets them finish)."""
        if not self.paused:
            return ""
        return f"paused — {self.running} still running" if self.running else "paused — drained"

    @property
    def jobs_url(self) -> str:
        """The Jobs list of this row's jobs."""
        return jobs_list_url(**{self.filter_field: self.name})

    @property
    def cells(self) -> list[tuple[str, int, str]]:
        """(status, count, link to those jobs) in status order."""
        return [
            (
                status,
                self.counts.get(status, 0),
                jobs_list_url(**{self.filter_field: self.name, "status__exact": status}),
            )
            for status in Status.values
        ]


class RowsPageAdmin(JobTablesAdmin):
    """A custom changelist (``template``) with POST-only buttons at ``operate/<action>/``.

    Subclasses name the page (``title``, ``template``, ``rows_name``), the
    buttons it offers (``buttons``: their URLs reach the template as
    ``<button>_url``), and implement ``rows`` and ``operate_view``.
    """

    title = ""
    template = ""
    rows_name = "rows"
    buttons: tuple[str, ...] = ("pause", "resume")

    def rows(self, using: str) -> list[Any]:
        raise NotImplementedError

    def operate_view(self, request: HttpRequest, action: str) -> HttpResponse:
        raise NotImplementedError

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def url_name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "operate/<str:action>/",
                self.admin_site.admin_view(self.operate_view),
                name=self.url_name("operate"),
            ),
            path("<path:object_id>/", self.admin_site.admin_view(self.to_changelist)),
            *super().get_urls(),
        ]

    def to_changelist(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Rows have no page of their own: everything is on the page."""
        return redirect(f"admin:{self.url_name('changelist')}")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        operate = f"admin:{self.url_name('operate')}"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": self.title,
            self.rows_name: self.rows(jobs_settings.DATABASE),
            "statuses": Status.values,
            "modes": PauseMode.choices,
            "can_operate": self.has_change_permission(request),
            **{f"{button}_url": reverse(operate, args=[button]) for button in self.buttons},
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.template, context)


class PausePageAdmin(RowsPageAdmin):
    """A custom changelist of ``CountsRow`` with a pause form and a resume button per row.

    Subclasses name the page (see ``RowsPageAdmin``), the POST field of the
    name (``key_field``), the label of its messages, and implement ``rows``,
    ``pause`` and ``resume``.
    """

    key_field = "name"
    label = ""

    def rows(self, using: str) -> list[CountsRow]:
        raise NotImplementedError

    def pause(self, key: str, mode: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def resume(self, key: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    @operation
    def operate_view(self, request: HttpRequest, action: str) -> HttpResponse:
        key = request.POST.get(self.key_field, "")

        def pause(mode: str, **kwargs: Any) -> None:
            until = until_from_minutes(request.POST.get("until", ""))
            self.pause(key, mode, until=until, **kwargs)

        resume = partial(self.resume, key)
        pause_or_resume(self, request, action, f"{self.label} {key!r}", pause, resume)
        return redirect(f"admin:{self.url_name('changelist')}")
