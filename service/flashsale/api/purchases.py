"""The purchase route: the hot path. One script call, no exceptions raised for expected outcomes."""

from __future__ import annotations

import time
from typing import Any, cast

from litestar import Controller, Request, Response, post
from litestar.datastructures import CacheControlHeader, ResponseHeader

from flashsale.api import problems as p
from flashsale.api import responses as r
from flashsale.api.body import PurchaseOperation, decode_purchase
from flashsale.api.params import IdempotencyKey, SaleIdParam
from flashsale.api.schemas import Order, from_ms
from flashsale.inventory import Inventory, Outcome, PurchaseResult, Unavailable
from flashsale.telemetry import Recorder

REPLAYED_HEADERS = {"Idempotent-Replayed": "true"}
NO_STORE = CacheControlHeader(no_store=True)


def answer(sale_id: str, path: str, result: PurchaseResult) -> Response[Any]:
    """The HTTP answer for an engine outcome: shared by the safe and the unsafe path."""
    outcome = result.outcome
    if outcome is Outcome.SOLD or outcome is Outcome.REPLAYED:
        created_at = cast("Any", from_ms(result.created_ms))
        order = Order(result.order_id, sale_id, result.buyer_id, result.quantity, created_at)
        headers = REPLAYED_HEADERS if outcome is Outcome.REPLAYED else None
        return Response(order, status_code=201, headers=headers)
    problem = p.BY_OUTCOME[outcome]
    instance = f"{path}/sales/{sale_id}/purchases" if path else f"/sales/{sale_id}/purchases"
    if outcome is Outcome.SOLD_OUT:
        return p.problem_response(problem, f"{result.remaining} left", instance, remaining=result.remaining)
    if outcome is Outcome.LIMIT_REACHED:
        detail = f"this buyer has bought {result.bought} of at most {result.limit}"
        return p.problem_response(problem, detail, instance, bought=result.bought, limit=result.limit)
    if outcome is Outcome.NOT_OPEN:
        opens_at = cast("Any", from_ms(result.opens_ms))
        return p.problem_response(problem, f"opens at {opens_at.isoformat()}", instance,
                                  opens_at=opens_at.isoformat())
    if outcome is Outcome.IDEMPOTENCY_CONFLICT:
        return p.problem_response(problem, "this Idempotency-Key bought something else; use a new key", instance)
    if outcome is Outcome.UNKNOWN_SALE:
        return p.problem_response(problem, f"no sale {sale_id!r}", instance)
    return p.problem_response(problem, outcome.value, instance)


def unavailable(exc: Unavailable, recorder: Recorder, sale_id: str, path: str, started: float) -> Response[Any]:
    recorder.redis_error(exc.kind)
    recorder.attempt(sale_id, path, Outcome.UNAVAILABLE, time.perf_counter() - started)
    return p.problem_response(
        p.UNAVAILABLE, f"{p.UNAVAILABLE_DETAIL} ({exc.kind})", f"/sales/{sale_id}/purchases",
        headers=p.unavailable_headers(),
    )


class PurchaseController(Controller):
    path = "/sales/{sale_id:str}/purchases"
    tags = ["purchases"]

    @post(
        "/",
        status_code=201,
        operation_class=PurchaseOperation,
        summary="Buy units of a sale",
        description=(
            "Atomically checks that the sale is open, the buyer's limit and the stock, then records the order. "
            "Send the same Idempotency-Key on every retry: a repeat returns the first order with "
            "`Idempotent-Replayed: true` and never buys twice."
        ),
        cache_control=NO_STORE,
        response_headers=[
            ResponseHeader(
                name="Idempotent-Replayed", documentation_only=True, required=False,
                description="`true` when this response replays the order first made with this Idempotency-Key.",
            )
        ],
        responses=r.problems(
            r.BAD_REQUEST,
            (404, r.describe(p.UNKNOWN_SALE)),
            (409, r.describe(p.SOLD_OUT, p.LIMIT_REACHED, p.NOT_OPEN, p.CLOSED)),
            r.TOO_LARGE,
            (422, r.describe(p.IDEMPOTENCY_CONFLICT)),
            r.RATE_LIMITED,
            r.UNAVAILABLE,
        ),
    )
    async def purchase(
        self,
        sale_id: SaleIdParam,
        request: Request[Any, Any, Any],
        idempotency_key: IdempotencyKey,
        inventory: Inventory,
        recorder: Recorder,
    ) -> Response[Order]:
        started = time.perf_counter()
        data = decode_purchase(await request.body())
        try:
            result = await inventory.purchase(sale_id, data.buyer_id, data.quantity, idempotency_key)
        except Unavailable as exc:
            return unavailable(exc, recorder, sale_id, "safe", started)
        recorder.attempt(sale_id, "safe", result.outcome, time.perf_counter() - started,
                         result.quantity if result.outcome is Outcome.SOLD else 0)
        return answer(sale_id, "", result)
