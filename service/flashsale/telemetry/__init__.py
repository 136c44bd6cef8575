"""Telemetry of attempts: one ``Recorder.record`` feeds the span, the metrics and the log line.

* ``recorder``: ``Recorder`` and ``Attempt`` (generic over operations: purchase, hold, ...);
* ``metrics``: the prometheus-client objects;
* ``spans``: attempt spans as tuples in the worker, handed through a pipe to
* ``exporter``: the exporter process (SDK spans, OTLP/HTTP);
* ``config``: whether tracing is on, from the standard ``OTEL_*`` variables;
* ``holds``: the hold metrics (attempts per checkout step, held units and hold states at scrape time);
* ``logs``: the JSON log line per attempt and the structlog set-up, never a secret in clear;
* ``http``: the HTTP request metrics middleware.
"""

from flashsale.telemetry.metrics import (
    ATTEMPTS,
    DURATION,
    DURATION_BUCKETS,
    NO_SALE,
    REDIS_ERRORS,
    SPANS_DROPPED,
    SPANS_EXPORTED,
    UNITS_SOLD,
)
from flashsale.telemetry.recorder import HOLD, PURCHASE, Attempt, Recorder
from flashsale.telemetry.spans import SpanPipe, parse_traceparent, traceparent_of

__all__ = [
    "ATTEMPTS",
    "DURATION",
    "DURATION_BUCKETS",
    "HOLD",
    "NO_SALE",
    "PURCHASE",
    "REDIS_ERRORS",
    "SPANS_DROPPED",
    "SPANS_EXPORTED",
    "UNITS_SOLD",
    "Attempt",
    "Recorder",
    "SpanPipe",
    "parse_traceparent",
    "traceparent_of",
]
