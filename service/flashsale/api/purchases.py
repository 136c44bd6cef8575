"""The purchase routes: the atomic one (``/sales/{id}/purchases``, the hot path of a drop), its twin without
token verification for the benchmark, and the deliberately unsafe demo one (``/demo/sales/{id}/purchases``,
mounted only with FLASHSALE_DEMO=true). Each is one engine call run by ``attempts.run_attempt``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post

from flashsale.api import problems as p
from flashsale.api.attempts import (
    NO_STORE,
    ORDER_LOCATION,
    REPLAYED_HEADER_DOC,
    REPLAYED_HEADERS,
    SAFE,
    UNSAFE,
    PurchaseOperation,
    UnsafePurchaseOperation,
    admission_refused,
    attempt_buyer,
    attempt_responses,
    check_admission_token,
    decode_purchase,
    line_refused,
    lines_view,
    order_location,
    over_rate,
    run_attempt,
)
from flashsale.api.errors import ATTEMPT_ROUTE
from flashsale.api.schemas import IdempotencyKey, Order, SaleIdParam, from_ms
from flashsale.digest import key_digest
from flashsale.identity import Buyer
from flashsale.inventory import Inventory, Outcome, PurchaseResult
from flashsale.inventory.keys import buyer_tag
from flashsale.timefmt import format_ms

UNSAFE_DESCRIPTION = (
    "**UNSAFE: demo only.** Reads the stock, awaits, then writes it back (read-modify-write). Concurrent "
    "buyers all read the same stock and all succeed, so this route OVERSELLS. It ignores per-buyer limits "
    "and idempotency. It exists to show why the atomic route is needed, and is mounted only when "
    "FLASHSALE_DEMO=true."
)


def answer(sale_id: str, instance: str, result: PurchaseResult) -> Response[Any]:
    """The HTTP answer for each engine outcome, the same for the safe and the unsafe path."""
    outcome = result.outcome
    if outcome is Outcome.SOLD or outcome is Outcome.REPLAYED:
        created_at = format_ms(result.created_ms)
        order = Order(result.order_id, sale_id, result.buyer_id, result.quantity, created_at, lines_view(result.lines))
        headers = {"Location": order_location(sale_id, result.order_id)}
        if outcome is Outcome.REPLAYED:
            headers.update(REPLAYED_HEADERS)
        return Response(order, status_code=201, headers=headers)
    problem = p.BY_OUTCOME[outcome]
    if result.line >= 0:
        return line_refused(problem, result, instance, "bought")
    if outcome is Outcome.SOLD_OUT:
        return p.problem_response(problem, f"{result.remaining} left", instance, remaining=result.remaining)
    if outcome is Outcome.LIMIT_REACHED:
        detail = f"this buyer has bought {result.bought} of at most {result.limit}"
        return p.problem_response(problem, detail, instance, bought=result.bought, limit=result.limit)
    if outcome is Outcome.ADMISSION_UNITS_EXCEEDED:
        detail = f"one admission buys at most {result.limit} unit(s)"
        return p.problem_response(problem, detail, instance, limit=result.limit)
    if outcome is Outcome.NOT_OPEN:
        opens_at = from_ms(result.opens_ms)
        return p.problem_response(problem, f"opens at {opens_at}", instance, opens_at=opens_at)
    if outcome is Outcome.IDEMPOTENCY_CONFLICT:
        return p.problem_response(problem, "this Idempotency-Key bought something else; use a new key", instance)
    if outcome is Outcome.UNKNOWN_SALE:
        return p.problem_response(problem, f"no sale {sale_id!r}", instance)
    if outcome is Outcome.BUYER_NOT_ELIGIBLE:
        return p.problem_response(problem, f"the sale requires {result.rule}", instance, rule=result.rule)
    return p.problem_response(problem, outcome.value, instance)


async def purchase_as(
    buyer: Buyer, sale_id: str, request: Request[Any, Any, Any], idempotency_key: str
) -> Response[Order]:
    """The purchase once the buyer is known: shared by the real route and its unverified benchmark twin."""
    instance = f"/sales/{sale_id}/purchases"
    data = decode_purchase(await request.body())
    limited = over_rate(request, SAFE, sale_id, buyer.id, instance)
    if limited is not None:
        return limited
    digest = key_digest(idempotency_key)
    spent_as, refused = check_admission_token(request, sale_id, buyer.id)
    if refused is not None:
        return admission_refused(
            request, SAFE, sale_id, data.quantity, refused, instance, buyer_id=buyer.id, key_digest=digest
        )
    # The engine and recorder come from app state, not from dependency injection: with two or more
    # dependencies Litestar resolves them in an anyio task group, which cost ~16 % of a purchase's CPU.
    inventory: Inventory = request.app.state.inventory
    return await run_attempt(
        request.app.state.recorder,
        SAFE,
        sale_id,
        data.quantity,
        lambda: inventory.purchase(
            sale_id, buyer.id, data.quantity, idempotency_key, spent_as, buyer.facts, buyer.tag, data.lines
        ),
        lambda result: answer(sale_id, instance, result),
        instance,
        request.scope,
        buyer_id=buyer.id,
        key_digest=digest,
    )


class PurchaseController(Controller):
    path = "/sales/{sale_id:str}/purchases"
    tags = ["purchases"]

    @post(
        "/",
        status_code=201,
        operation_id="createPurchase",
        security=[{"buyer": []}],
        operation_class=PurchaseOperation,
        opt={ATTEMPT_ROUTE: SAFE},
        summary="Buy units of a sale",
        description=(
            "Atomically checks that the sale is open, the buyer's limit and the stock, then records the order. "
            "On a sale of SKUs, send `lines`: one step checks every line, every quota and the buyer's limit "
            "across SKUs, then buys them all, or buys nothing and answers naming the first line (`line`, `sku`) "
            "or quota (`quota`) that failed and what remains of it. "
            "Send the same Idempotency-Key on every retry: a repeat returns the first order with "
            "`Idempotent-Replayed: true` and never buys twice."
        ),
        cache_control=NO_STORE,
        response_headers=[REPLAYED_HEADER_DOC, ORDER_LOCATION],
        responses=attempt_responses(),
    )
    async def purchase(
        self,
        sale_id: SaleIdParam,
        request: Request[Any, Any, Any],
        idempotency_key: IdempotencyKey,
    ) -> Response[Order]:
        buyer = await attempt_buyer(request, SAFE, sale_id, f"/sales/{sale_id}/purchases")
        if not isinstance(buyer, Buyer):
            return buyer
        return await purchase_as(buyer, sale_id, request, idempotency_key)


class UnverifiedPurchaseController(Controller):
    """The purchase route without token verification, for ``make bench`` only (FLASHSALE_BENCH_ROUTES=true): the
    buyer comes from an ``X-Bench-Buyer`` header, everything after that is the real route's code (``purchase_as``),
    so the benchmark can say what verifying a token costs a purchase."""

    path = "/bench/unverified/sales/{sale_id:str}/purchases"
    include_in_schema = False

    @post("/", status_code=201)
    async def purchase(self, sale_id: str, request: Request[Any, Any, Any]) -> Response[Any]:
        buyer_id = request.headers.get("x-bench-buyer", "bench")
        key = request.headers.get("idempotency-key", "bench-key")
        return await purchase_as(Buyer(buyer_id, "", 1e12, buyer_tag(buyer_id)), sale_id, request, key)


class DemoController(Controller):
    """The deliberately unsafe purchase route. Mounted only when FLASHSALE_DEMO=true."""

    path = "/demo/sales/{sale_id:str}/purchases"
    tags = ["demo (unsafe)"]

    @post(
        "/",
        status_code=201,
        operation_class=UnsafePurchaseOperation,
        operation_id="createUnsafePurchase",
        security=[{"buyer": []}],
        opt={ATTEMPT_ROUTE: UNSAFE},
        summary="UNSAFE read-modify-write purchase (oversells; demo mode only)",
        description=UNSAFE_DESCRIPTION,
        response_headers=[ORDER_LOCATION],
        responses=p.responses(
            p.DOC_BAD_REQUEST,
            *p.DOC_BUYER_AUTH,
            (404, p.describe(p.UNKNOWN_SALE)),
            (409, p.describe(p.SOLD_OUT)),
            p.DOC_TOO_LARGE,
            p.DOC_UNAVAILABLE,
        ),
    )
    async def purchase_unsafe(self, sale_id: SaleIdParam, request: Request[Any, Any, Any]) -> Response[Order]:
        instance = f"/demo/sales/{sale_id}/purchases"
        buyer = await attempt_buyer(request, UNSAFE, sale_id, instance)
        if not isinstance(buyer, Buyer):
            return buyer
        data = decode_purchase(await request.body())
        if data.lines:
            raise p.Problem(
                p.INVALID_REQUEST, "invalid purchase body: the unsafe demo route sells one-stock sales only"
            )
        inventory: Inventory = request.app.state.inventory
        return await run_attempt(
            request.app.state.recorder,
            UNSAFE,
            sale_id,
            data.quantity,
            lambda: inventory.purchase_unsafe(sale_id, buyer.id, data.quantity),
            lambda result: answer(sale_id, instance, result),
            instance,
            request.scope,
            buyer_id=buyer.id,
        )
