"""The HTTP answer for each engine outcome, shared by the safe and the unsafe purchase path."""

from __future__ import annotations

from typing import Any, cast

from litestar import Response

from flashsale.api import problems as p
from flashsale.api.schemas import Order, from_ms
from flashsale.inventory import Outcome, PurchaseResult

REPLAYED_HEADERS = {"Idempotent-Replayed": "true"}


def answer(sale_id: str, path: str, result: PurchaseResult) -> Response[Any]:
    outcome = result.outcome
    if outcome is Outcome.SOLD or outcome is Outcome.REPLAYED:
        created_at = cast("Any", from_ms(result.created_ms))
        order = Order(result.order_id, sale_id, result.buyer_id, result.quantity, created_at)
        headers = REPLAYED_HEADERS if outcome is Outcome.REPLAYED else None
        return Response(order, status_code=201, headers=headers)
    problem = p.BY_OUTCOME[outcome]
    instance = f"/demo/sales/{sale_id}/purchases" if path == "unsafe" else f"/sales/{sale_id}/purchases"
    if outcome is Outcome.SOLD_OUT:
        return p.problem_response(problem, f"{result.remaining} left", instance, remaining=result.remaining)
    if outcome is Outcome.LIMIT_REACHED:
        detail = f"this buyer has bought {result.bought} of at most {result.limit}"
        return p.problem_response(problem, detail, instance, bought=result.bought, limit=result.limit)
    if outcome is Outcome.NOT_OPEN:
        opens_at = cast("Any", from_ms(result.opens_ms)).isoformat()
        return p.problem_response(problem, f"opens at {opens_at}", instance, opens_at=opens_at)
    if outcome is Outcome.IDEMPOTENCY_CONFLICT:
        return p.problem_response(problem, "this Idempotency-Key bought something else; use a new key", instance)
    if outcome is Outcome.UNKNOWN_SALE:
        return p.problem_response(problem, f"no sale {sale_id!r}", instance)
    return p.problem_response(problem, outcome.value, instance)
