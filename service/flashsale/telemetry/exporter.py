"""``python -m flashsale.telemetry.exporter``: the span exporter process a worker starts and feeds through a pipe.

It reads frames from stdin (4-byte big-endian length, then a msgpack list of ``spans.SpanRecord`` tuples),
turns each record into an SDK ``ReadableSpan`` and exports batches with the SDK's exporter chosen by the
standard variables (``OTEL_TRACES_EXPORTER``: ``otlp`` over HTTP/protobuf, or ``console`` to stderr), so all
``OTEL_EXPORTER_OTLP_*`` settings apply. After each export it writes ``<exported> <dropped>\\n`` to stdout
for the worker's ``flashsale_spans_exported_total`` / ``flashsale_spans_dropped_total``. It exits when the
worker closes the pipe (after exporting what it has) or dies.

Running here rather than in a thread of the worker keeps protobuf encoding and HTTP posting off the event
loop's GIL: that thread took 26 % of a traced worker's busy samples (see spans.py).

For OTLP the request is built here, straight from the records (``OtlpEncoder``), and posted by the SDK's
exporter's own HTTP client (endpoint, headers, compression, TLS, timeout and retries from ``OTEL_*``). Why:
the SDK's path (a ``ReadableSpan`` per record, then ``encode_spans``) cost 37 µs of CPU per span here, the
direct encoder 5.4 µs (512-span batches; load/README.md, "Telemetry"); at
5,000 spans/s that is 0.19 of a core against 0.03, on a 2-core machine where the worker, wrk and Redis need the
rest. If the SDK's client is not where this version expects it, the SDK path is used instead.
"""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from flashsale.telemetry.config import exporter_from_env

KIND_ATTRIBUTE = {"purchase": "flashsale.path"}
"""The span attribute carrying an attempt's kind, by operation: a purchase's path (safe or unsafe); other
operations (holds) call it ``flashsale.step``."""
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
    (
        operation,
        trace_high,
        trace_low,
        span_id,
        parent_id,
        start_ns,
        end_ns,
        sale,
        kind,
        outcome,
        quantity,
        redis_ns,
        error,
        extra,
    ) = record
    trace_id = trace_high << 64 | trace_low
    attributes: dict[str, Any] = {
        "flashsale.operation": operation,
        "flashsale.sale": sale,
        KIND_ATTRIBUTE.get(operation, "flashsale.step"): kind,
        "flashsale.outcome": outcome,
        "flashsale.quantity": quantity,
        "flashsale.redis_script_ms": redis_ns / 1e6,
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
        resource=res,
        attributes=attributes,
        kind=SpanKind.SERVER,
        start_time=start_ns,
        end_time=end_ns,
        status=Status(StatusCode.ERROR, error) if error else OK,
        instrumentation_scope=SCOPE,
    )


SERVER = SpanProto.SpanKind.SPAN_KIND_SERVER
FLAGS_SAMPLED_REMOTE_KNOWN = 0x101
"""W3C flags 01 (sampled) plus OTLP's 'has is_remote' bit (0x100); the span itself is local."""
MAX_CACHED_VALUES = 10_000


class OtlpEncoder:
    """Span records -> a serialized ``ExportTraceServiceRequest``, with the attribute values that repeat (sale,
    kind, outcome) built once and reused."""

    def __init__(self, res: Resource) -> None:
        self._resource = [KeyValue(key=str(k), value=_any_value(v)) for k, v in res.attributes.items()]
        self._values: dict[tuple[str, str], KeyValue] = {}
        self._static = [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in STATIC_ATTRIBUTES.items()]

    def _kv(self, key: str, value: str) -> KeyValue:
        kv = self._values.get((key, value))
        if kv is None:
            if len(self._values) >= MAX_CACHED_VALUES:
                self._values.clear()
            kv = self._values[(key, value)] = KeyValue(key=key, value=AnyValue(string_value=value))
        return kv

    def encode(self, records: Sequence[Sequence[Any]]) -> bytes:
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(self._resource)
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = SCOPE.name
        add = scope_spans.spans.add
        kv = self._kv
        for (
            operation,
            trace_high,
            trace_low,
            span_id,
            parent_id,
            start_ns,
            end_ns,
            sale,
            kind,
            outcome,
            quantity,
            redis_ns,
            error,
            extra,
        ) in records:
            span = add(
                trace_id=(trace_high << 64 | trace_low).to_bytes(16, "big"),
                span_id=span_id.to_bytes(8, "big"),
                parent_span_id=parent_id.to_bytes(8, "big") if parent_id else b"",
                name=f"{operation} attempt",
                kind=SERVER,
                start_time_unix_nano=start_ns,
                end_time_unix_nano=end_ns,
                flags=FLAGS_SAMPLED_REMOTE_KNOWN,
            )
            attributes = span.attributes
            attributes.extend(
                (
                    kv("flashsale.operation", operation),
                    kv("flashsale.sale", sale),
                    kv(KIND_ATTRIBUTE.get(operation, "flashsale.step"), kind),
                    kv("flashsale.outcome", outcome),
                )
            )
            attributes.extend(self._static)
            item = attributes.add()
            item.key = "flashsale.quantity"
            item.value.int_value = quantity
            item = attributes.add()
            item.key = "flashsale.redis_script_ms"
            item.value.double_value = redis_ns / 1e6
            if error:
                attributes.append(kv("flashsale.redis_error", error))
                span.status.code = span.status.STATUS_CODE_ERROR
                span.status.message = error
            if extra:
                attributes.extend(KeyValue(key=str(k), value=_any_value(v)) for k, v in extra.items())
        data: bytes = request.SerializeToString()
        return data


def _any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def _wait_readable(fd: int, timeout_s: float) -> bool:
    """Idle time, in its own frame so that profiles of this process can tell it from work."""
    return bool(select.select([fd], [], [], timeout_s)[0])


def frames(fd: int, delay_s: float) -> Iterator[bytes | None]:
    """Each complete frame's payload read from ``fd``; None after ``delay_s`` without data; stops at EOF."""
    inbox = bytearray()
    while True:
        if not _wait_readable(fd, delay_s):
            yield None
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return  # a frame cut short by the worker's exit is discarded
        inbox += chunk
        offset = 0
        while len(inbox) - offset >= 4:
            size = int.from_bytes(inbox[offset : offset + 4], "big")
            if len(inbox) - offset - 4 < size:
                break
            yield bytes(inbox[offset + 4 : offset + 4 + size])
            offset += 4 + size
        del inbox[:offset]


def main() -> int:
    counts = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # anything a library prints goes to stderr, never into the counts
    batch_size = _int_env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)
    delay_s = _int_env("OTEL_BSP_SCHEDULE_DELAY", 200) / 1000
    exporter, res = make_exporter(), resource()
    client = getattr(exporter, "_client", None)
    direct = OtlpEncoder(res) if callable(getattr(client, "export", None)) else None
    decoder = msgspec.msgpack.Decoder()
    waiting: list[Any] = []

    def send(chunk: list[Any]) -> bool:
        if direct is not None:
            return bool(client.export(direct.encode(chunk)).success)  # type: ignore[union-attr]
        return exporter.export([to_span(r, res) for r in chunk]) is SpanExportResult.SUCCESS

    def export() -> None:
        while waiting:
            chunk, waiting[:] = waiting[:batch_size], waiting[batch_size:]
            try:
                ok = send(chunk)
            except Exception:  # an exporter bug must not end the process: the spans count as dropped
                ok = False
            counts.write(f"{len(chunk) if ok else 0} {0 if ok else len(chunk)}\n")

    for payload in frames(sys.stdin.fileno(), delay_s):
        if payload is None:
            export()
            continue
        try:
            waiting.extend(decoder.decode(payload))
        except (msgspec.DecodeError, ValueError, TypeError):
            counts.write("0 1\n")  # cannot happen with the worker's encoder; counted rather than fatal
        if len(waiting) >= batch_size:
            export()
    export()
    exporter.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
