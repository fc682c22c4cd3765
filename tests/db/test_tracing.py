"""OpenTelemetry: enqueues store the trace context; an in-process worker records the spans."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from demo import jobs as demo
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from django_durable_jobs import tracing
from django_durable_jobs.models import Job, Status
from django_durable_jobs.models import Worker as WorkerRow
from django_durable_jobs.worker import Pool, Worker

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """Finished spans, kept in memory (the global provider can be set once per process)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    spans = InMemorySpanExporter()
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(spans))
    yield spans
    spans.shutdown()  # later tests in this process record nothing here


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    exporter.clear()
    return exporter


@pytest.fixture
def worker(settings) -> Iterator[Worker]:
    settings.DURABLE_JOBS = {**settings.DURABLE_JOBS, "BACKOFF_BASE": 0.05, "BACKOFF_JITTER": 0}
    w = Worker([Pool(queues=None, concurrency=2)], worker_id="tracing")
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    wait_for(lambda: WorkerRow.objects.filter(id="tracing").exists())
    yield w
    w.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()


def _finished(job: Job) -> bool:
    return Job.objects.get(pk=job.pk).status in (Status.COMPLETED, Status.FAILED)


def _named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


def _children_of(spans: list[ReadableSpan], run: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == run.context.span_id]


def test_enqueue_stores_the_recording_span_context(spans) -> None:
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("request") as request:
        one = demo.add.enqueue(1, 2)
        many = demo.add.enqueue_many([((i, i), {}) for i in range(3)])
    outside = demo.add.enqueue(3, 4)
    trace_id = format(request.get_span_context().trace_id, "032x")
    span_id = format(request.get_span_context().span_id, "016x")
    stored = Job.objects.get(pk=one.pk).trace_context
    assert stored["traceparent"].startswith(f"00-{trace_id}-{span_id}-")
    assert {tuple(j.trace_context.items()) for j in Job.objects.filter(pk__in=[j.pk for j in many])} == {
        tuple(stored.items())
    }
    assert Job.objects.get(pk=outside.pk).trace_context is None, "no span, nothing stored"


def test_nothing_is_stored_without_opentelemetry(spans, monkeypatch) -> None:
    monkeypatch.setattr(tracing, "trace", None)
    with trace.get_tracer("tests").start_as_current_span("request"):
        job = demo.add.enqueue(1, 2)
    assert Job.objects.get(pk=job.pk).trace_context is None


def test_run_span_is_linked_to_the_enqueuing_span(spans, worker) -> None:
    with trace.get_tracer("tests").start_as_current_span("request") as request:
        job = demo.add.enqueue(2, 3)
    wait_for(lambda: _finished(job))
    wait_for(lambda: _named(spans, "run demo.add"))
    (run,) = _named(spans, "run demo.add")
    assert run.kind == SpanKind.CONSUMER
    assert run.parent is None, "a root: linked, not a child"
    assert [link.context.span_id for link in run.links] == [request.get_span_context().span_id]
    assert run.links[0].context.trace_id == request.get_span_context().trace_id
    assert dict(run.attributes) == {
        "messaging.system": "django_durable_jobs",
        "messaging.destination.name": "default",
        "messaging.message.id": str(job.pk),
        "messaging.operation": "process",
        "messaging.operation.type": "process",
        "durable_jobs.attempt": 1,
        "durable_jobs.outcome": "completed",
    }
    assert run.status.status_code == StatusCode.UNSET


def test_failed_attempts_record_the_exception(spans, worker) -> None:
    job = demo.maybe_fail.using(retries=1).enqueue(7, fail=True)
    wait_for(lambda: _finished(job))
    wait_for(lambda: len(_named(spans, "run demo.maybe_fail")) == 2)
    runs = sorted(_named(spans, "run demo.maybe_fail"), key=lambda s: s.attributes["durable_jobs.attempt"])
    assert [r.attributes["durable_jobs.outcome"] for r in runs] == ["retry", "failed"]
    for run in runs:
        assert not run.links, "enqueued outside any span"
        assert run.status.status_code == StatusCode.ERROR
        assert run.status.description == "RuntimeError: child 7 failed"
        (event,) = run.events
        assert event.name == "exception"
        assert event.attributes["exception.type"] == "RuntimeError"


def test_call_steps_are_child_spans_and_replays_are_marked(spans, worker) -> None:
    job = demo.three_steps.enqueue(fail_second_once=True)
    wait_for(lambda: _finished(job))
    assert Job.objects.get(pk=job.pk).status == Status.COMPLETED
    wait_for(lambda: len(_named(spans, "run demo.three_steps")) == 2)
    first, second = sorted(
        _named(spans, "run demo.three_steps"), key=lambda s: s.attributes["durable_jobs.attempt"]
    )
    steps = [s for s in spans.get_finished_spans() if s.name.startswith("call ")]

    def children(run: ReadableSpan) -> list[tuple[str, int, bool, StatusCode]]:
        found = _children_of(steps, run)
        assert all(s.context.trace_id == run.context.trace_id for s in found)
        return [
            (
                s.name,
                s.attributes["durable_jobs.step"],
                s.attributes["durable_jobs.replayed"],
                s.status.status_code,
            )
            for s in sorted(found, key=lambda s: s.start_time)
        ]

    assert children(first) == [
        ("call demo.step", 0, False, StatusCode.UNSET),
        ("call demo.fail_once_step", 1, False, StatusCode.ERROR),
    ]
    assert children(second) == [
        ("call demo.step", 0, True, StatusCode.UNSET),
        ("call demo.fail_once_step", 1, False, StatusCode.UNSET),
        ("call demo.step", 2, False, StatusCode.UNSET),
    ]
    assert first.attributes["durable_jobs.outcome"] == "retry"
    assert second.attributes["durable_jobs.outcome"] == "completed"


def test_fan_out_children_link_to_the_parent_execution(spans, worker) -> None:
    with trace.get_tracer("tests").start_as_current_span("request") as request:
        job = demo.sum_squares.enqueue(3)
    wait_for(lambda: _finished(job))
    assert Job.objects.get(pk=job.pk).result == 0 + 1 + 4
    wait_for(lambda: len(_named(spans, "run demo.sum_squares")) == 2)
    waited, resumed = sorted(_named(spans, "run demo.sum_squares"), key=lambda s: s.start_time)
    assert waited.attributes["durable_jobs.outcome"] == "waiting"
    assert resumed.attributes["durable_jobs.outcome"] == "completed"
    for run in (waited, resumed):
        assert [link.context.span_id for link in run.links] == [request.get_span_context().span_id]
    (event,) = waited.events
    assert event.name == "fan_out" and event.attributes["durable_jobs.children"] == 3
    wait_for(lambda: len(_named(spans, "run demo.square")) == 3)
    children = _named(spans, "run demo.square")
    for child in children:
        assert [link.context.span_id for link in child.links] == [waited.context.span_id]
        assert child.context.trace_id != waited.context.trace_id
    assert sorted(c.attributes["messaging.message.id"] for c in children) == sorted(
        str(pk) for pk in Job.objects.filter(fanout__parent_id=job.pk).values_list("pk", flat=True)
    )


def test_without_opentelemetry_jobs_run_and_nothing_is_recorded(spans, worker, monkeypatch) -> None:
    monkeypatch.setattr(tracing, "trace", None)
    with trace.get_tracer("tests").start_as_current_span("request"):
        job = demo.process_order.enqueue({"amount": 5, "items": ["a"]})
    wait_for(lambda: _finished(job))
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.result, row.trace_context) == (Status.COMPLETED, "receipt-5", None)
    assert [s.name for s in spans.get_finished_spans()] == ["request"]
