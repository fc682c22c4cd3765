"""What the Jobs, Queues and Workers pages share.

The ``operation`` decorator (POST only, change permission), badges, the
one-line summary of a bulk action, the confirmation page of a bulk action
(``confirmation_page``, Django's delete-confirmation pattern with a reason),
the pause/resume handler of the queue and worker buttons, ``JobTablesAdmin``
(reads from ``jobs_settings.DATABASE``) and ``ReadOnlyRowsAdmin``: view-only
object pages with a POST-only ``<id>/operate/<action>/`` URL per row, their
input checked by ``guard.InputGuard``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .. import validation
from ..conf import jobs_settings
from ..exceptions import DurableJobsError, InvalidValue
from ..statuses import PauseMode
from .guard import InputGuard

#: How many reasons a bulk action lists before it says "and N more".
MAX_REASONS_SHOWN = 5
#: How much of a pause reason a list column shows (the row's own page shows all of it).
MAX_REASON_CHARS_SHOWN = 80

#: How many selected rows a confirmation page lists before it says "and more".
MAX_ROWS_CONFIRMED = 100
#: How many rows of a selection to read for its confirmation page (one more than it lists:
#: a selection of every row of a long list is never read whole).
LISTED = MAX_ROWS_CONFIRMED + 1
CONFIRM_TEMPLATE = "admin/durable_jobs/confirm_action.html"

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


def operate_url(model_name: str, object_id: Any, action: str) -> str:
    """The POST-only URL of one row's ``action`` (see ``ReadOnlyRowsAdmin.get_urls``)."""
    return reverse(f"admin:durable_jobs_{model_name}_operate", args=[quote(object_id), action])


def status_badge(status: str) -> SafeString:
    return format_html('<span class="djj-badge djj-{}">{}</span>', status, status)


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


def posted_mode(request: HttpRequest) -> str:
    """The pause mode a button posted (graceful unless it says otherwise)."""
    return request.POST.get("mode", PauseMode.GRACEFUL)


def cut_reason(reason: str) -> str:
    """A pause reason short enough for a list column."""
    if len(reason) <= MAX_REASON_CHARS_SHOWN:
        return reason
    return reason[:MAX_REASON_CHARS_SHOWN] + "…"


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


@dataclass(frozen=True)
class Selected:
    """One row of a confirmation page: its name, its page, and why the action skips it (or "")."""

    label: str
    url: str
    skipped: str = ""


def confirmed_reason(request: HttpRequest) -> tuple[str | None, str]:
    """``(reason, error)`` of a confirmation page's POST.

    ``reason`` is None until the page is submitted (Django's delete
    confirmation posts ``post=yes`` too), or when the reason cannot be
    stored; ``error`` then says why, for the page shown again.
    """
    if request.POST.get("post") != "yes":
        return None, ""
    try:
        reason = request.POST.get("reason", "").strip()
        return validation.text("reason", reason, max_length=validation.REASON_LENGTH), ""
    except InvalidValue as exc:
        return None, str(exc)


def confirmation_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    rows: Iterable[Selected],
    *,
    action: str,
    title: str,
    button: str,
    note: str,
    error: str = "",
) -> TemplateResponse:
    """Ask before a bulk action: the selected rows, a reason, confirm or go back.

    ``rows`` is read up to ``MAX_ROWS_CONFIRMED`` (+1, to know there are
    more). The form posts the same selection (and ``select_across``) back to
    the list's own address, so the list's filters still apply, with
    ``post=yes``: the action then runs, see :func:`confirmed`.
    """
    listed: list[Selected] = []
    for row in rows:
        if len(listed) > MAX_ROWS_CONFIRMED:
            break
        listed.append(row)
    more = len(listed) > MAX_ROWS_CONFIRMED
    listed = listed[:MAX_ROWS_CONFIRMED]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": model_admin.model._meta,
        "rows": listed,
        "more": more,
        "nothing_applies": not more and all(row.skipped for row in listed),
        "button": button,
        "note": note,
        "error": error,
        "reason": request.POST.get("reason", ""),
        "action": action,
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "back_url": request.get_full_path(),
        "media": model_admin.media,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, CONFIRM_TEMPLATE, context)


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
            mode = posted_mode(request)
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


class JobTablesAdmin(admin.ModelAdmin):
    """Reads the rows from the database the job tables live in (``DURABLE_JOBS["DATABASE"]``)."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).using(jobs_settings.DATABASE)


class ReadOnlyRowsAdmin(InputGuard, JobTablesAdmin):
    """Object pages are view-only; the model-level change permission gates operations.

    Ids in URLs, bulk selections and list query strings are checked first (``InputGuard``).
    """

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
