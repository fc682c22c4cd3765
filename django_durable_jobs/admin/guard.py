"""Admin input the database would refuse becomes a message, never a 500.

``InputGuard`` is mixed into the Jobs and Workers admins. It checks, with the
validation layer, what a user can type into an address or a form before any
of it reaches a query:

- an object id in a URL (``<id>/change/``, ``history/``, ``delete/``) and the
  rows a bulk action names (``_selected_action``): a job id must be
  ``1..2**63-1``, a worker id text the column can hold;
- the query string of a list: no NUL character in any value (PostgreSQL
  refuses them with a ``DataError``), a search of at most
  ``MAX_SEARCH_CHARS``, and only the filters the page offers or links to
  (``args__contains`` would fail on SQLite, ``name__regex=[`` on both).

A refused value is reported as an admin message, in the validation layer's
words, and the user is sent back to a page that works. Django's own answer to
a filter it cannot apply (a redirect to ``?e=1`` and then a "Database error"
page) becomes such a message too.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ERROR_FLAG, IGNORED_PARAMS, PAGE_VAR, SEARCH_VAR
from django.core.exceptions import ValidationError
from django.db import DataError, models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect

from .. import validation
from ..conf import jobs_settings
from ..exceptions import InvalidValue

#: The longest search a list accepts: the longest column searched (a worker's
#: host) holds 255 characters, and SQLite refuses a search of thousands of words.
MAX_SEARCH_CHARS = 255

#: Lookups a filter of a list may be given as, on top of the bare field name.
FILTER_SUFFIXES = ("__exact", "__isnull")

#: Request attribute where the list notes why Django could not apply its query string.
_REFUSED = "_durable_jobs_refused_query"


def id_field_name(model: type[models.Model]) -> str:
    """``job_id``, ``worker_id``: how the API names a row's id, and so do the messages."""
    return f"{model._meta.model_name}_id"


def check_object_id(model: type[models.Model], object_id: Any) -> Any:
    """The primary key ``object_id`` (already unquoted) names; ``InvalidValue`` if no row can have it."""
    field = model._meta.pk
    name = id_field_name(model)
    if isinstance(field, models.IntegerField):
        return validation.job_id(object_id, field=name)
    return validation.text(name, object_id, max_length=field.max_length, required=True)


class InputGuard(admin.ModelAdmin):
    """Object ids, bulk selections and list query strings checked before they are used."""

    #: Fields the list may be filtered by through its query string (its own
    #: filters, and the links other pages make to it); see ``FILTER_SUFFIXES``.
    filter_fields: tuple[str, ...] = ()

    # -- object pages

    def refuse_object_id(self, request: HttpRequest, object_id: str) -> HttpResponse | None:
        """A redirect to the list with the reason, if ``object_id`` can name no row; else None."""
        try:
            check_object_id(self.model, unquote(object_id))
        except InvalidValue as exc:
            self.message_user(request, str(exc), messages.ERROR)
            opts = self.model._meta
            return redirect(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        return None

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        if from_field is None or from_field == self.model._meta.pk.name:
            try:
                check_object_id(self.model, object_id)
            except InvalidValue:
                return None
        return super().get_object(request, object_id, from_field)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        refused = self.refuse_object_id(request, object_id)
        return refused or super().change_view(request, object_id, form_url, extra_context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        refused = self.refuse_object_id(request, object_id)
        return refused or super().history_view(request, object_id, extra_context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        refused = self.refuse_object_id(request, object_id)
        return refused or super().delete_view(request, object_id, extra_context)

    # -- bulk actions

    def response_action(self, request: HttpRequest, queryset: QuerySet, **kwargs: Any) -> HttpResponse | None:
        """Refuse a selection naming a row no row can be (``'abc'``, a 30-digit id, a NUL)."""
        try:
            for object_id in request.POST.getlist(ACTION_CHECKBOX_NAME):
                check_object_id(self.model, object_id)
        except InvalidValue as exc:
            self.message_user(request, f"No action taken: {exc}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset, **kwargs)  # Django 6 adds action_location

    # -- lists

    def filter_allowed(self, lookup: str) -> bool:
        """Whether the query string may filter by ``lookup`` (see ``filter_fields``)."""
        for suffix in FILTER_SUFFIXES:
            if lookup.endswith(suffix):
                lookup = lookup.removesuffix(suffix)
                break
        return lookup in self.filters_offered()

    def filters_offered(self) -> set[str]:
        """``filter_fields``, the list's field filters and its own filters' parameters."""
        offered = set(self.filter_fields)
        for item in self.list_filter:
            if isinstance(item, str):
                offered.add(item)
            elif isinstance(item, type) and issubclass(item, admin.SimpleListFilter):
                offered.add(item.parameter_name)
        return offered

    def lookup_allowed(self, lookup: str, value: Any, request: HttpRequest | None = None) -> bool:
        return self.filter_allowed(lookup) and super().lookup_allowed(lookup, value, request)

    def query_errors(self, query: QueryDict) -> dict[str, str]:
        """Each parameter of a list's query string that is refused, with the reason."""
        errors = {}
        for key, values in query.lists():
            try:
                validation.text("parameter name", key)
                for value in values:
                    if key == SEARCH_VAR:
                        validation.text("search", value, max_length=MAX_SEARCH_CHARS)
                    else:
                        validation.text(key, value)
            except InvalidValue as exc:
                errors[key] = str(exc)
                continue
            skipped = key in IGNORED_PARAMS or key in (PAGE_VAR, ERROR_FLAG)
            if not skipped and not self.filter_allowed(key):
                offered = ", ".join(sorted(self.filters_offered()))
                errors[key] = f"{validation.show(key)} is not a filter of this list (filters: {offered})"
        return errors

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        """Django's changelist, with the reason noted when it cannot apply the query string.

        Counting the rows runs the filters; it does so in a savepoint, so that a
        value only the database refuses leaves the transaction usable.
        """
        try:
            with transaction.atomic(using=jobs_settings.DATABASE):
                return super().get_changelist_instance(request)
        except IncorrectLookupParameters as exc:
            if not exc.args:  # raised bare only for a page past the last one
                page = validation.show(request.GET.get(PAGE_VAR, ""))
                setattr(request, _REFUSED, (f"page {page} does not exist", [PAGE_VAR]))
            else:
                setattr(request, _REFUSED, (f"The list's filters were reset: {reason(exc.args[0])}", None))
            raise
        except DataError as exc:
            message = f"The list's filters were reset: the database refused them ({reason(exc)})"
            setattr(request, _REFUSED, (message, None))
            raise IncorrectLookupParameters(exc) from exc

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        errors = self.query_errors(request.GET)
        if errors:
            for error in errors.values():
                self.message_user(request, error, messages.ERROR)
            return without(request, [*errors, ERROR_FLAG])
        response = super().changelist_view(request, extra_context)
        refused = getattr(request, _REFUSED, None)
        if refused is None:
            return response
        message, dropped = refused
        self.message_user(request, message, messages.ERROR)
        return without(request, dropped)


def without(request: HttpRequest, keys: list[str] | None) -> HttpResponseRedirect:
    """A redirect to the page without the query parameters ``keys`` (all of them if None)."""
    kept = QueryDict(mutable=True) if keys is None else request.GET.copy()
    for key in keys or ():
        kept.pop(key, None)
    return HttpResponseRedirect(f"{request.path}?{kept.urlencode()}" if kept else request.path)


def reason(cause: Any) -> str:
    """An error's message in one line (a ``ValidationError``'s messages joined)."""
    if isinstance(cause, ValidationError):
        return " ".join(cause.messages)
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
