"""``python -m flashsale.telemetry.exporter``: the span exporter process a worker starts and feeds through a pipe.

It reads frames from stdin (4-byte big-endian length, then a msgpack list of ``spans.SpanRecord`` tuples),
turns each record into an SDK ``ReadableSpan`` and exports batches with the SDK's exporter chosen by the
standard variables (``OTEL_TRACES_EXPORTER``: ``otlp`` over HTTP/protobuf, or ``console`` to stderr), so all
``OTEL_EXPORTER_OTLP_*`` settings apply. After each export it writes ``<exported> <dropped>\\n`` to stdout
for the worker's ``flashsale_spans_exported_total`` / ``flashsale_spans_dropped_total``. It exits when the
worker closes the pipe (after exporting what it has) or dies.

Running here rather than in a thread of the worker keeps protobuf encoding and HTTP posting off the event
loop's GIL: that thread took 26 % of a traced worker's busy samples (see spans.py).
"""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from flashsale.telemetry.config import exporter_from_env

KIND_ATTRIBUTE = {"purchase": "flashsale.path"}
"""The span attribute naming an attempt's ``path`` field, by operation; other operations (holds) call it a step."""
STATIC_ATTRIBUTES = {"db.system.name": "redis"}
SAMPLED = TraceFlags(TraceFlags.SAMPLED)
SCOPE = InstrumentationScope("flashsale")
OK = Status(StatusCode.UNSET)


def _int_env(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def make_exporter() -> SpanExporter:
    if exporter_from_env() == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def resource() -> Resource:
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "flashsale"}
    return Resource.create(attributes)


def to_span(record: Sequence[Any], res: Resource) -> ReadableSpan:
    (operation, trace_high, trace_low, span_id, parent_id, start_ns, end_ns, sale, path, outcome, quantity,
     redis_ns, error, extra) = record
    trace_id = trace_high << 64 | trace_low
    attributes: dict[str, Any] = {
        "flashsale.operation": operation, "flashsale.sale": sale, KIND_ATTRIBUTE.get(operation, "flashsale.step"): path,
        "flashsale.outcome": outcome, "flashsale.quantity": quantity, "flashsale.redis_script_ms": redis_ns / 1e6,
        **STATIC_ATTRIBUTES,
    }
    if extra:
        attributes.update(extra)
    if error:
        attributes["flashsale.redis_error"] = error
    return ReadableSpan(
        name=f"{operation} attempt",
        context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=SAMPLED),
        parent=SpanContext(trace_id, parent_id, is_remote=True, trace_flags=SAMPLED) if parent_id else None,
        resource=res, attributes=attributes, kind=SpanKind.SERVER, start_time=start_ns, end_time=end_ns,
        status=Status(StatusCode.ERROR, error) if error else OK, instrumentation_scope=SCOPE,
    )


def frames(fd: int, delay_s: float) -> Iterator[bytes | None]:
    """Each complete frame's payload read from ``fd``; None after ``delay_s`` without data; stops at EOF."""
    inbox = bytearray()
    while True:
        ready, _, _ = select.select([fd], [], [], delay_s)
        if not ready:
            yield None
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return  # a frame cut short by the worker's exit is discarded
        inbox += chunk
        offset = 0
        while len(inbox) - offset >= 4:
            size = int.from_bytes(inbox[offset:offset + 4], "big")
            if len(inbox) - offset - 4 < size:
                break
            yield bytes(inbox[offset + 4:offset + 4 + size])
            offset += 4 + size
        del inbox[:offset]


def main() -> int:
    counts = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # anything a library prints goes to stderr, never into the counts
    batch_size = _int_env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)
    delay_s = _int_env("OTEL_BSP_SCHEDULE_DELAY", 200) / 1000
    exporter, res = make_exporter(), resource()
    decoder = msgspec.msgpack.Decoder()
    waiting: list[ReadableSpan] = []

    def export() -> None:
        while waiting:
            chunk, waiting[:] = waiting[:batch_size], waiting[batch_size:]
            try:
                ok = exporter.export(chunk) is SpanExportResult.SUCCESS
            except Exception:  # an exporter bug must not end the process: the spans count as dropped
                ok = False
            counts.write(f"{len(chunk) if ok else 0} {0 if ok else len(chunk)}\n")

    for payload in frames(sys.stdin.fileno(), delay_s):
        if payload is None:
            export()
            continue
        try:
            waiting.extend(to_span(r, res) for r in decoder.decode(payload))
        except (msgspec.DecodeError, ValueError, TypeError):
            counts.write("0 1\n")  # cannot happen with the worker's encoder; counted rather than fatal
        if len(waiting) >= batch_size:
            export()
    export()
    exporter.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
