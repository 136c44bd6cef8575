"""A sale as anyone reads it: its status and stock, and the availability a product page polls. The admin routes
that change a sale are api/admin.py's; those that check one, api/audit.py's."""

from __future__ import annotations

from typing import Any, cast

import msgspec
from litestar import Controller, MediaType, Request, Response, get
from litestar.datastructures import CacheControlHeader

from flashsale.api import problems as p
from flashsale.api.deps import InventoryDep
from flashsale.api.sale_view import SaleView, read_snapshot, sale_view
from flashsale.api.schemas import SaleIdParam, SaleStatus, Timestamp
from flashsale.inventory import SaleSnapshot
from flashsale.inventory.board import SaleBoard
from flashsale.inventory.skus import DEFAULT_SKU, available
from flashsale.timefmt import format_ms

AVAILABILITY_CACHE = CacheControlHeader(public=True, max_age=1)
"""Product pages poll availability: any cache may keep an answer for a second (it is a worker's snapshot,
at most about half a second old when sent)."""


class AvailableSku(msgspec.Struct):
    sku: str
    available: int
    """Units one purchase of this SKU alone could get: 0 once it, or a quota it draws on, is sold out."""


class Availability(msgspec.Struct):
    """What a product page shows: each SKU still on sale, from the answering worker's snapshot of the sale
    (``as_of``, at most about a second old; cacheable for a second). A one-stock sale lists its one SKU,
    ``default``."""

    sale_id: str
    status: SaleStatus
    available: int
    """Units the sale can still sell across every SKU (quotas respected)."""
    items: list[AvailableSku]
    as_of: Timestamp


def availability_view(s: SaleSnapshot) -> bytes:
    """The availability answer, encoded once per snapshot (every poll until the next tick sends these bytes)."""
    if s.skus:
        left = available(s.skus, s.quotas)
        items = [AvailableSku(k.name, left[k.name]) for k in s.skus]
    else:
        items = [AvailableSku(DEFAULT_SKU, max(0, s.remaining))]
    view = Availability(s.sale_id, cast("SaleStatus", s.status), max(0, s.sellable), items, format_ms(s.now_ms))
    return msgspec.json.encode(view)


class SaleController(Controller):
    path = "/sales"
    tags = ["sales"]

    @get(
        "/{sale_id:str}",
        operation_class=p.DocumentedOperation,
        summary="A sale's status and stock",
        operation_id="getSale",
        description=(
            "`status` is one of scheduled, open, sold_out, closed, judged by the Redis server's clock. A sale of "
            "SKUs also lists each SKU's and each quota's units (`items`, `quotas`); one Redis read per request: "
            "product pages should poll `/availability` instead."
        ),
        responses=p.responses(p.DOC_BAD_REQUEST, (404, p.describe(p.UNKNOWN_SALE)), p.DOC_UNAVAILABLE),
    )
    async def read_sale(self, sale_id: SaleIdParam, inventory: InventoryDep) -> SaleView:
        return sale_view(await read_snapshot(inventory, sale_id))

    @get(
        "/{sale_id:str}/availability",
        operation_class=p.DocumentedOperation,
        summary="What a product page shows: units still on sale per SKU",
        operation_id="getAvailability",
        description=(
            "Each SKU with the units one purchase of it could still get (0: sold out, by itself or by a quota it "
            "draws on), from the answering worker's snapshot of the sale (`as_of`, refreshed about every half "
            "second; no Redis call per request). Cacheable for a second: poll this, not `GET /sales/{id}`. A "
            "one-stock sale lists its one SKU, `default`."
        ),
        cache_control=AVAILABILITY_CACHE,
        responses=p.responses(p.DOC_BAD_REQUEST, (404, p.describe(p.UNKNOWN_SALE)), p.DOC_UNAVAILABLE),
    )
    async def availability(self, sale_id: SaleIdParam, request: Request[Any, Any, Any]) -> Response[Availability]:
        board: SaleBoard = request.app.state.sale_board
        body = await board.view(sale_id, availability_view)
        if body is None:
            raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
        return Response(body, media_type=MediaType.JSON)
