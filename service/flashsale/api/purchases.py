"""The purchase route: the hot path. One script call, no exceptions raised for expected outcomes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.datastructures import CacheControlHeader, ResponseHeader

from flashsale.api import problems as p
from flashsale.api import responses as r
from flashsale.api.attempt import PURCHASE_PATH, rate_limited, run_attempt
from flashsale.api.body import PurchaseOperation, decode_purchase
from flashsale.api.params import IdempotencyKey, SaleIdParam
from flashsale.api.schemas import Order
from flashsale.inventory import Inventory
from flashsale.logs import key_digest
from flashsale.telemetry import Recorder

NO_STORE = CacheControlHeader(no_store=True)


class PurchaseController(Controller):
    path = "/sales/{sale_id:str}/purchases"
    tags = ["purchases"]

    @post(
        "/",
        status_code=201,
        operation_class=PurchaseOperation,
        opt={PURCHASE_PATH: "safe"},
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
    ) -> Response[Order]:
        # The engine and recorder come from app state, not from dependency injection: with two or more
        # dependencies Litestar resolves them in an anyio task group, which cost ~16 % of a purchase's CPU.
        inventory: Inventory = request.app.state.inventory
        recorder: Recorder = request.app.state.recorder
        data = decode_purchase(await request.body())
        limiter = recorder.buyer_limiter
        if limiter is not None and not limiter.allow(data.buyer_id):
            return rate_limited(recorder, sale_id, data.buyer_id)
        return await run_attempt(
            recorder, "safe", sale_id, data.quantity,
            lambda: inventory.purchase(sale_id, data.buyer_id, data.quantity, idempotency_key),
            buyer_id=data.buyer_id, key_digest=key_digest(idempotency_key),
        )
