"""The deliberately unsafe purchase route. Mounted only when FLASHSALE_DEMO=true."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post

from flashsale.api import problems as p
from flashsale.api import responses as r
from flashsale.api.attempt import PURCHASE_PATH, run_attempt
from flashsale.api.body import PurchaseOperation, decode_purchase
from flashsale.api.params import SaleIdParam
from flashsale.api.schemas import Order
from flashsale.inventory import Inventory
from flashsale.telemetry import Recorder

UNSAFE_DESCRIPTION = (
    "**UNSAFE: demo only.** Reads the stock, awaits, then writes it back (read-modify-write). Concurrent "
    "buyers all read the same stock and all succeed, so this route OVERSELLS. It ignores per-buyer limits "
    "and idempotency. It exists to show why the atomic route is needed, and is mounted only when "
    "FLASHSALE_DEMO=true."
)


class DemoController(Controller):
    path = "/demo/sales/{sale_id:str}/purchases"
    tags = ["demo (unsafe)"]

    @post(
        "/",
        status_code=201,
        operation_class=PurchaseOperation,
        opt={PURCHASE_PATH: "unsafe"},
        summary="UNSAFE read-modify-write purchase (oversells; demo mode only)",
        description=UNSAFE_DESCRIPTION,
        responses=r.problems(
            r.BAD_REQUEST, (404, r.describe(p.UNKNOWN_SALE)), (409, r.describe(p.SOLD_OUT)), r.TOO_LARGE,
            r.UNAVAILABLE,
        ),
    )
    async def purchase_unsafe(
        self, sale_id: SaleIdParam, request: Request[Any, Any, Any]
    ) -> Response[Order]:
        inventory: Inventory = request.app.state.inventory
        recorder: Recorder = request.app.state.recorder
        data = decode_purchase(await request.body())
        return await run_attempt(
            recorder, "unsafe", sale_id, data.quantity,
            lambda: inventory.purchase_unsafe(sale_id, data.buyer_id, data.quantity),
            buyer_id=data.buyer_id,
        )
