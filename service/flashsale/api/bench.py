"""The benchmark's reference route: the framework ceiling. Mounted only with FLASHSALE_BENCH_ROUTES=true.

It makes the very script call of the purchase route and nothing else (no body validation, no outcome
mapping, no telemetry), so ``make bench`` can say how close the real purchase path comes to it.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post

from flashsale.api.deps import InventoryDep
from flashsale.inventory import sale_keys


class BareController(Controller):
    path = "/bench/bare/{sale_id:str}"
    include_in_schema = False

    @post("/", status_code=200)
    async def bare(self, sale_id: str, request: Request[Any, Any, Any], inventory: InventoryDep) -> Response[bytes]:
        await request.body()
        key = request.headers.get("idempotency-key", "bench-key")
        k = sale_keys(sale_id)
        reply = await inventory.scripts.purchase.run(
            inventory.client, (k.sale, k.buyers, k.orders, k.idem(key)), (key, 1, key, "60")
        )
        return Response(str(reply[0]).encode(), media_type="text/plain")
