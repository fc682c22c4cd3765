"""OpenTelemetry spans of enqueues and executions, when ``opentelemetry-api`` is installed.

Without the library every function here returns at once and nothing is
stored. With it:

- an enqueue made while a span is recording stores that span's W3C trace
  context (``traceparent``, ``tracestate``) on the job (:func:`carrier`);
- each execution runs in a span ``run <job name>`` of kind CONSUMER
  (:func:`start_run` / :func:`end_run`), the root of its own trace, *linked*
  to the enqueuing span (not its child: an execution may run hours later,
  many times over retries, or as one of thousands of fan-out children, as a
  batch consumer does, for which the messaging conventions recommend links);
- each ``call()`` step is a child span ``call <target>`` (:func:`step_span`),
  a replayed one marked ``durable_jobs.replayed``;
- ``fan_out()`` children are enqueued inside the parent's ``run`` span, so
  their own ``run`` spans link to it.

The spans use the global tracer provider: configure the OpenTelemetry SDK in
the worker's process as in the web process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

from .context import JobContext
from .exceptions import Snooze

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the extra is not installed: tracing is off
    trace = None  # type: ignore[assignment]

SYSTEM = "django_durable_jobs"

#: ``durable_jobs.outcome`` of each outcome kind (an execution without one was
#: interrupted, or waits for its fan-out).
OUTCOMES = {
    "complete": "completed",
    "fail": "failed",
    "fail_now": "failed",
    "retry": "retry",
    "snooze": "snoozed",
    "release": "released",
}
_FAILED = {"fail", "fail_now", "retry"}


class Outcome(Protocol):
    """What :func:`end_run` reads of a :class:`~.state.execution.Outcome`."""

    kind: str
    error: str


_propagator = TraceContextTextMapPropagator() if trace is not None else None
_tracer: Any = None


def enabled() -> bool:
    """Whether ``opentelemetry-api`` is installed and a tracer provider (an SDK) is configured.

    Without a provider every span would be a no-op: the worker skips making
    them (tens of microseconds an execution).
    """
    return trace is not None and not isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
    )


def tracer() -> Any:
    """The package's tracer (a proxy until an SDK provider is set, then that provider's)."""
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer(SYSTEM)
    return _tracer


def carrier() -> dict[str, str] | None:
    """The W3C trace context of the current span, if one is recording; else None.

    In a process-pool child the current span is the worker's ``run`` span,
    remote and sampled (:func:`resumed`): it counts as recording.
    """
    if trace is None:
        return None
    span = trace.get_current_span()
    if not span.is_recording():
        remote = span.get_span_context()
        if not (remote.is_remote and remote.is_valid and remote.trace_flags.sampled):
            return None
    headers: dict[str, str] = {}
    _propagator.inject(headers)
    return headers or None


def start_run(ctx: JobContext) -> tuple[Any, Any] | None:
    """Start and activate the span of one execution; :func:`end_run` ends it (in the same thread)."""
    if not enabled():
        return None
    links = []
    if isinstance(ctx.trace_context, dict):
        enqueued = trace.get_current_span(_propagator.extract(ctx.trace_context)).get_span_context()
        if enqueued.is_valid:
            links.append(trace.Link(enqueued))
    span = tracer().start_span(
        f"run {ctx.name}",
        context=otel_context.Context(),  # a root: the enqueuing span is linked, not a parent
        kind=trace.SpanKind.CONSUMER,
        links=links,
        attributes={
            "messaging.system": SYSTEM,
            "messaging.destination.name": ctx.queue,
            "messaging.message.id": str(ctx.id),
            "messaging.operation": "process",
            "messaging.operation.type": "process",
            "durable_jobs.attempt": ctx.attempt,
        },
    )
    active = trace.set_span_in_context(span)
    if span.is_recording():
        ctx.run_context = {}
        _propagator.inject(ctx.run_context, active)
    return span, otel_context.attach(active)


def end_run(run: tuple[Any, Any] | None, ctx: JobContext, outcome: Outcome | None) -> None:
    """Record the execution's outcome on its span, deactivate and end it."""
    if run is None:
        return
    span, token = run
    try:
        if outcome is not None:
            name = OUTCOMES[outcome.kind]
        else:
            name = "interrupted" if ctx.interrupted is not None else "waiting"
        span.set_attribute("durable_jobs.outcome", name)
        if outcome is not None and outcome.kind in _FAILED:
            span.set_status(trace.StatusCode.ERROR, outcome.error.split("\n", 1)[0][:500])
    finally:
        otel_context.detach(token)
        span.end()


@contextlib.contextmanager
def resumed(ctx: JobContext) -> Iterator[None]:
    """In a process-pool child: the worker's ``run`` span as the current (remote) parent."""
    if trace is None or not isinstance(ctx.run_context, dict):
        yield
        return
    token = otel_context.attach(_propagator.extract(ctx.run_context))
    try:
        yield
    finally:
        otel_context.detach(token)


def record_error(exc: BaseException) -> None:
    """Record the exception a handler raised on the current (``run``) span."""
    if trace is None or isinstance(exc, Snooze):
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)


@contextlib.contextmanager
def step_span(target: str, step: int, *, replayed: bool = False) -> Iterator[None]:
    """A child span ``call <target>`` around one ``call()`` step (exceptions recorded)."""
    if not enabled():
        yield
        return
    attributes = {"durable_jobs.step": step, "durable_jobs.replayed": replayed}
    with tracer().start_as_current_span(f"call {target}", attributes=attributes):
        yield


def add_event(name: str, attributes: dict[str, Any]) -> None:
    """An event on the current span (a ``fan_out()`` on the ``run`` span)."""
    if trace is not None:
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(name, attributes)
