"""Test support: every process appends its finished OpenTelemetry spans to one JSON-lines file.

``DJJ_OTEL_SPANS=/path`` in the environment turns it on (see the settings):
the web process, a ``runjobs`` worker and its process-pool children then
write one line per span, with the ids in hex and the writing process's pid.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class FileExporter(SpanExporter):
    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(_row(span)) + "\n" for span in spans)
        with open(self.path, "a") as out:  # opened per write: forked children inherit no buffer
            out.write(lines)
        return SpanExportResult.SUCCESS


def _row(span: ReadableSpan) -> dict:
    return {
        "name": span.name,
        "trace_id": format(span.context.trace_id, "032x"),
        "span_id": format(span.context.span_id, "016x"),
        "parent": format(span.parent.span_id, "016x") if span.parent else None,
        "links": [format(link.context.span_id, "016x") for link in span.links],
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "pid": os.getpid(),
    }


def export_spans_to(path: str) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FileExporter(path)))
    trace.set_tracer_provider(provider)
