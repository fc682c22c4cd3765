"""OpenTelemetry with real ``runjobs`` workers: the spans of the worker and of its process-pool children."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from demo import jobs as demo
from opentelemetry.sdk.trace import TracerProvider

from django_durable_jobs.models import Job, Status

from ..conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _spans(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("pool", ["thread", "process"])
def test_spans_of_a_real_worker(run_worker, tmp_path: Path, pool: str) -> None:
    spans_file = tmp_path / "spans.jsonl"
    request_tracer = TracerProvider().get_tracer("web")  # this process: not the global provider
    with request_tracer.start_as_current_span("request") as request:
        order = demo.process_order.enqueue({"amount": 3, "items": ["a", "b"]})
        fan = demo.sum_squares.enqueue(2)
    request_id = format(request.get_span_context().span_id, "016x")
    worker = run_worker("--pool", pool, "--concurrency", "2", env={"DJJ_OTEL_SPANS": str(spans_file)})
    jobs = Job.objects.filter(pk__in=[order.pk, fan.pk], status=Status.COMPLETED)
    wait_for(lambda: jobs.count() == 2, timeout=60)
    wait_for(lambda: len([s for s in _spans(spans_file) if s["name"].startswith("run ")]) == 5)
    assert worker.terminate() == 0, worker.output()
    spans = _spans(spans_file)

    (run,) = [s for s in spans if s["name"] == "run demo.process_order"]
    assert run["links"] == [request_id] and run["parent"] is None
    assert run["attributes"]["durable_jobs.outcome"] == "completed"
    assert run["attributes"]["messaging.message.id"] == str(order.pk)
    steps = [s for s in spans if s["name"] in ("call demo.charge", "call demo.ship")]
    assert sorted(s["name"] for s in steps) == ["call demo.charge", "call demo.ship"]
    for step in steps:
        assert (step["parent"], step["trace_id"]) == (run["span_id"], run["trace_id"])
    handler_pids = {s["pid"] for s in steps}
    assert (handler_pids != {run["pid"]}) == (pool == "process"), "a child ran the handler"

    waited, resumed = sorted(
        (s for s in spans if s["name"] == "run demo.sum_squares"),
        key=lambda s: s["attributes"]["durable_jobs.outcome"] != "waiting",
    )
    assert waited["attributes"]["durable_jobs.outcome"] == "waiting"
    assert resumed["attributes"]["durable_jobs.outcome"] == "completed"
    children = [s for s in spans if s["name"] == "run demo.square"]
    assert len(children) == 2
    for child in children:
        assert child["links"] == [waited["span_id"]], "linked to the execution that fanned out"
