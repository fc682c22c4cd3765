"""Enqueue: validate arguments, insert Job rows, wake workers after commit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db.models.base import ModelState
from django.utils import timezone

from . import tracing, validation
from .conf import jobs_settings
from .exceptions import InvalidValue
from .limits import RateLimit
from .models import Job
from .state import inserts

#: (function, number of positional arguments, keyword names) a handler is known to accept.
_accepted_shapes: set[tuple[Any, int, frozenset[str]]] = set()


def check_arguments(definition: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
    """Refuse arguments the handler could not take, or that would not come back from the database as given.

    Whether a call binds depends only on its shape (how many positional
    arguments, which keywords), so each shape is bound once per handler.
    """
    shape = (definition.func, len(args), frozenset(kwargs))
    if shape not in _accepted_shapes:
        try:
            definition.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"bad arguments for job {definition.name!r}: {exc}") from None
        if len(_accepted_shapes) > 10_000:  # callers that invent keyword names: stay bounded
            _accepted_shapes.clear()
        _accepted_shapes.add(shape)
    limit, nesting = jobs_settings.MAX_ARGS_BYTES, jobs_settings.MAX_NESTING
    size = validation.size_bound([args, kwargs], nesting + 2)  # args and kwargs are two levels
    if size is None:  # something to refuse: find it, naming the argument
        bound = definition.signature.bind(*args, **kwargs)
        for param, value in bound.arguments.items():
            validation.payload(f"argument {param!r} of job {definition.name!r}", value, max_nesting=nesting)
    if size is None or size > limit:
        try:
            size = len(json.dumps(args)) + len(json.dumps(kwargs))
        except (TypeError, ValueError) as exc:  # e.g. an int with more digits than Python converts
            raise InvalidValue(
                f"arguments of job {definition.name!r}", f"cannot be written as JSON: {exc}"
            ) from None
        if size > limit:
            raise InvalidValue(
                f"arguments of job {definition.name!r}",
                f"are {size:,} bytes of JSON, over the limit of {limit:,} (MAX_ARGS_BYTES)",
            )


def resolve_run_after(run_after: datetime | timedelta | None, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return now if run_after is None else validation.moment("run_after", run_after, now)


def resolve_options(definition: Any) -> dict[str, Any]:
    """The queue, priority, retries, unique key, timeout and queue rate an enqueue uses, validated.

    Also the enqueuing span's trace context (:func:`.tracing.carrier`), once
    for the jobs of one ``enqueue_many()``.
    """
    options = definition.options
    timeout = next(
        (t for t in (options.timeout, definition.timeout, jobs_settings.DEFAULT_TIMEOUT) if t is not None),
        None,
    )
    retries = options.retries if options.retries is not None else definition.retries
    priority = options.priority if options.priority is not None else definition.priority
    resolved = dict(
        timeout=None if timeout is None else validation.seconds("timeout", timeout),
        queue=validation.queue_name(options.queue or definition.queue or jobs_settings.DEFAULT_QUEUE),
        priority=validation.integer("priority", priority),
        max_retries=validation.integer(
            "retries", jobs_settings.DEFAULT_RETRIES if retries is None else retries, 0, validation.INT32[1]
        ),
        unique_key=validation.optional_text(
            "unique_key", options.unique_key, max_length=validation.UNIQUE_KEY_LENGTH
        ),
        trace_context=tracing.carrier(),
    )
    queue_rate = jobs_settings.QUEUES.get(resolved["queue"], {}).get("rate_limit")
    if definition.rate_limit is None and queue_rate:  # the job's own rate replaces its queue's
        count, period = RateLimit(queue_rate).parsed()
        resolved.update(rate_key=f"queue:{resolved['queue']}", rate_limit=count, rate_period=period)
    return resolved


def build_job(
    definition: Any,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    *,
    now: datetime | None = None,
    options: dict[str, Any] | None = None,
    **extra: Any,
) -> Job:
    """An unsaved, validated Job row for one call of ``definition``.

    ``now``: the enqueue time; jobs enqueued together in one statement share
    it, as they share ``options`` (:func:`resolve_options`).
    """
    now = now or timezone.now()
    fields = call_fields(definition, args, kwargs)
    fields.update(shared_fields(definition, now, options or resolve_options(definition)))
    fields.update(extra)
    fields.setdefault("delayed", fields["run_after"] > now)
    return new_job(fields)


def shared_fields(definition: Any, now: datetime, options: dict[str, Any]) -> dict[str, Any]:
    """The columns every job of one enqueue of ``definition`` shares."""
    run_after = resolve_run_after(definition.options.run_after, now)
    return dict(name=definition.name, run_after=run_after, created_at=now, updated_at=now, **options)


def call_fields(definition: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The columns one call's arguments decide, checked: the arguments and any limit keys."""
    args = list(args)
    check_arguments(definition, args, kwargs)
    fields: dict[str, Any] = {"args": args, "kwargs": dict(kwargs)}
    if definition.concurrency is not None:
        limit = definition.concurrency
        fields["concurrency_key"] = limit.key_for(definition.name, definition.signature, args, kwargs)
        fields["concurrency_limit"] = limit.n
    rate = definition.rate_limit
    if rate is not None:
        fields["rate_key"] = rate.key_for(definition.name, definition.signature, args, kwargs)
        fields["rate_limit"], fields["rate_period"] = rate.parsed()
    return fields


_job_template: dict[str, Any] | None = None


def new_job(fields: dict[str, Any], template: dict[str, Any] | None = None) -> Job:
    """``Job(**fields)``, six times faster: the instance is filled in directly.

    Bulk enqueues build tens of thousands of rows, and Django's constructor
    spends most of its time setting defaults one field at a time. Like
    ``bulk_create`` skips ``post_save``, this skips ``pre_init``/``post_init``.
    ``template``: from :func:`job_template`, the defaults with the columns a
    batch shares already in (checked once for the batch).
    """
    job = Job.__new__(Job)
    job.__dict__.update(template or job_template(fields), args=[], kwargs={})  # fresh mutable defaults
    job.__dict__.update(fields)
    job._state = ModelState()
    return job


def job_template(shared: dict[str, Any] | None = None) -> dict[str, Any]:
    """A new Job's column values (attnames), with ``shared`` in; TypeError for a name that is no column."""
    global _job_template
    if _job_template is None:
        blank = Job()
        _job_template = {f.attname: getattr(blank, f.attname) for f in Job._meta.concrete_fields}
    if not shared:
        return _job_template
    unknown = shared.keys() - _job_template.keys()
    if unknown:
        raise TypeError(f"not Job columns: {', '.join(sorted(unknown))} (use attnames, e.g. fanout_id)")
    return {**_job_template, **shared}


def enqueue_many(
    definition: Any, calls: Iterable[tuple[Sequence[Any], dict[str, Any]] | Sequence[Any]]
) -> list[Job]:
    """Jobs for ``calls``, built and checked one by one as the engine writes them (in one transaction)."""
    now = timezone.now()
    shared = shared_fields(definition, now, resolve_options(definition))
    if shared["unique_key"] is not None:
        raise ValueError("enqueue_many() cannot use unique_key: one key cannot name many jobs")
    shared["delayed"] = shared["run_after"] > now
    template = job_template(shared)
    items = list(calls)

    def jobs() -> Iterable[Job]:
        for position, call in enumerate(items):
            if (
                isinstance(call, tuple | list)
                and len(call) == 2
                and isinstance(call[0], tuple | list)
                and isinstance(call[1], dict)
            ):
                args, kwargs = call
            else:
                raise TypeError(
                    f"enqueue_many() item {position} must be an (args, kwargs) pair, got {call!r:.100}"
                )
            yield new_job(call_fields(definition, args, kwargs), template)

    return inserts.insert_many(jobs(), len(items))


insert_one = inserts.insert_one
