"""Whether traces are exported, following the OpenTelemetry SDK's standard environment variables.

Tracing is on only when an exporter is configured (``OTEL_TRACES_EXPORTER`` set to ``otlp`` or ``console``,
or an OTLP endpoint set), as compose and the AWS user data do. Off, no span is made at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


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
