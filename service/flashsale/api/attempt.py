"""One purchase attempt, end to end, for both purchase paths: engine call, span, metrics, log, HTTP answer."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Response
from litestar.exceptions import HTTPException
from opentelemetry.trace import SpanKind, Status, StatusCode

from flashsale.api import problems as p
from flashsale.api.answers import answer
from flashsale.inventory import Outcome, PurchaseResult, Unavailable
from flashsale.telemetry import Recorder

PURCHASE_PATH = "flashsale_purchase_path"
"""Route ``opt`` key marking the purchase handlers, so attempts refused before the handler still count."""

REDIS_SPAN_ATTRIBUTES = {"db.system": "redis", "db.operation": "EVALSHA", "db.statement": "purchase.lua"}


async def run_attempt(
    recorder: Recorder,
    path: str,
    sale_id: str,
    quantity: int,
    call: Callable[[], Awaitable[PurchaseResult]],
    **log_fields: Any,
) -> Response[Any]:
    started = time.perf_counter()
    tracer = recorder.tracer
    try:
        if tracer is None:
            result = await call()
        else:
            with tracer.start_as_current_span(
                "purchase attempt",
                attributes={"flashsale.sale": sale_id, "flashsale.quantity": quantity, "flashsale.path": path},
            ) as span:
                context = span.get_span_context()
                log_fields["trace_id"] = format(context.trace_id, "032x")
                log_fields["span_id"] = format(context.span_id, "016x")
                try:
                    with tracer.start_as_current_span("redis purchase.lua", kind=SpanKind.CLIENT,
                                                      attributes=REDIS_SPAN_ATTRIBUTES):
                        result = await call()
                except Unavailable as exc:
                    span.set_attribute("flashsale.outcome", Outcome.UNAVAILABLE.value)
                    span.set_status(Status(StatusCode.ERROR, exc.kind))
                    raise
                span.set_attribute("flashsale.outcome", result.outcome.value)
    except Unavailable as exc:
        recorder.redis_error(exc.kind)
        recorder.attempt(sale_id, path, Outcome.UNAVAILABLE, time.perf_counter() - started, 0,
                         redis_error=exc.kind, **log_fields)
        return p.problem_response(
            p.UNAVAILABLE, f"{p.UNAVAILABLE_DETAIL} ({exc.kind})", f"/sales/{sale_id}/purchases",
            headers=p.unavailable_headers(),
        )
    sold = result.quantity if result.outcome is Outcome.SOLD else 0
    recorder.attempt(sale_id, path, result.outcome, time.perf_counter() - started, sold, **log_fields)
    return answer(sale_id, path, result)


def rate_limited(recorder: Recorder, sale_id: str, buyer_id: str) -> Response[Any]:
    recorder.attempt(sale_id, "safe", Outcome.RATE_LIMITED, 0.0, 0, buyer_id=buyer_id)
    return p.problem_response(
        p.RATE_LIMITED, "too many purchase requests for this buyer; retry after Retry-After",
        f"/sales/{sale_id}/purchases", headers=p.unavailable_headers(),
    )


async def count_refused_attempt(exc: Exception, scope: Any) -> None:
    """``after_exception`` hook: a purchase refused before its handler ran (bad path, header or body, body too
    large, rate limited) is still an attempt, counted with outcome ``invalid`` or ``rate_limited``."""
    handler = scope.get("route_handler")
    path = getattr(handler, "opt", {}).get(PURCHASE_PATH) if handler is not None else None
    if path is None or not isinstance(exc, HTTPException):
        return
    recorder: Recorder = scope["litestar_app"].state.recorder
    outcome = Outcome.RATE_LIMITED if exc.status_code == 429 else Outcome.INVALID
    recorder.attempt("", path, outcome, 0.0, 0, status=exc.status_code)
