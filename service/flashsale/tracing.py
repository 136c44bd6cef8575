"""OpenTelemetry tracing, configured by the standard ``OTEL_*`` variables.

Tracing is on only when an exporter is configured (``OTEL_TRACES_EXPORTER`` set to ``otlp`` or ``console``,
or an OTLP endpoint set). Otherwise no provider, no middleware and no spans are made at all, so the
default costs nothing on the purchase path. The SDK reads the remaining ``OTEL_*`` variables itself
(endpoint, headers, protocol, sampler, batch sizes, service name and resource attributes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

DEFAULT_SERVICE_NAME = "flashsale"


def exporter_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """``otlp``, ``console`` or None (tracing off), following the OTel SDK's environment variables."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    chosen = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen in {"otlp", "console"}:
        return chosen
    if chosen == "" and (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return "otlp"
    return None


def provider_from_env(env: Mapping[str, str] | None = None) -> TracerProvider | None:
    kind = exporter_from_env(env)
    if kind is None:
        return None
    attributes = {} if (env or os.environ).get("OTEL_SERVICE_NAME") else {SERVICE_NAME: DEFAULT_SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter: SpanExporter
    if kind == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
