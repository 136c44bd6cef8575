"""Public read of a sale."""

from __future__ import annotations

from litestar import Controller, get

from flashsale.api import problems as p
from flashsale.api import responses as r
from flashsale.api.deps import InventoryDep
from flashsale.api.params import SaleIdParam
from flashsale.api.responses import DocumentedOperation
from flashsale.api.schemas import SaleView
from flashsale.api.views import sale_view


class SaleController(Controller):
    path = "/sales"
    tags = ["sales"]

    @get(
        "/{sale_id:str}", operation_class=DocumentedOperation,
        summary="A sale's status and stock",
        description="`status` is one of scheduled, open, sold_out, closed, judged by the Redis server's clock.",
        responses=r.problems(r.BAD_REQUEST, (404, r.describe(p.UNKNOWN_SALE)), r.UNAVAILABLE),
    )
    async def read_sale(self, sale_id: SaleIdParam, inventory: InventoryDep) -> SaleView:
        snapshot = await inventory.read(sale_id)
        if snapshot is None:
            raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
        return sale_view(snapshot)
