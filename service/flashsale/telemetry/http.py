"""HTTP request metrics, with the names of Litestar's Prometheus middleware.

Litestar's ``PrometheusMiddleware`` builds a ``Request``, a label dict and four ``labels()`` look-ups for
every request. On the purchase path that costs the engine its telemetry budget: ``make bench`` measures
telemetry on/off at 0.83 with it and 0.88 with this middleware, which keeps the labelled children it has
made in a dict. The series are ``flashsale_http_requests_total``, ``flashsale_http_request_duration_seconds``
and ``flashsale_http_requests_in_progress``, labels ``method``, ``route``, ``status_code``, ``app_name``.

The route template is labelled ``route``, not ``path`` as Litestar's middleware does: in this project ``path``
is the purchase path (``safe`` / ``unsafe``) in the purchase metrics, logs and spans, and one label name means
one thing (docs/decisions.md). ``route`` is also what OpenTelemetry calls it (``http.route``).
"""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram

APP_NAME = "flashsale"
EXCLUDED_PREFIXES = ("/metrics", "/health", "/schema")

REQUESTS = Counter("flashsale_http_requests", "HTTP requests.", ["method", "route", "status_code", "app_name"])
DURATION = Histogram(
    "flashsale_http_request_duration_seconds", "HTTP request duration.", ["method", "route", "status_code", "app_name"]
)
IN_PROGRESS = Gauge(
    "flashsale_http_requests_in_progress",
    "HTTP requests in progress.",
    ["method", "route", "app_name"],
    multiprocess_mode="livesum",
)

OVERLOADED = Counter(
    "flashsale_overloaded",
    "Requests answered 503 overloaded at once: the worker had FLASHSALE_MAX_IN_FLIGHT requests in flight.",
)


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._done: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._running: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = scope.get("path_template") or "unmatched"  # never the raw path: the client chooses it
        if scope["type"] != ScopeType.HTTP or route.startswith(EXCLUDED_PREFIXES):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        running = self._running.get((method, route))
        if running is None:
            running = self._running[(method, route)] = IN_PROGRESS.labels(method, route, APP_NAME)
        status = 500
        started = time.perf_counter()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        running.inc()
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            running.dec()
            key = (method, route, status)
            children = self._done.get(key)
            if children is None:
                children = self._done[key] = (
                    REQUESTS.labels(method, route, status, APP_NAME),
                    DURATION.labels(method, route, status, APP_NAME),
                )
            children[0].inc()
            children[1].observe(time.perf_counter() - started)
