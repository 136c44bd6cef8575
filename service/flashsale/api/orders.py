"""A buyer's own orders, read back: the ``Location`` every 201 order names, and the buyer's list in a sale.

    GET /sales/{sale_id}/orders/{order_id}   one order, if it is the caller's  -> 200 OrderRead (else 404)
    GET /sales/{sale_id}/orders              the caller's orders in the sale, newest last -> 200 OrderList

One script call each (lua/read_orders.lua). Another buyer's order answers exactly as an order that does not
exist: 404 ``unknown-order``, so order ids reveal nothing to whoever learns one.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get

from flashsale.api import problems as p
from flashsale.api.attempts import NO_STORE, lines_view
from flashsale.api.auth import buyer_of, refusal
from flashsale.api.schemas import Order, OrderIdParam, SaleIdParam
from flashsale.identity import Buyer
from flashsale.inventory import Inventory, Unavailable
from flashsale.inventory.replies import OrderView
from flashsale.timefmt import format_ms

MAX_LISTED = 100
"""Orders one list answer carries at most (the newest): a buyer without a per-buyer limit may have many."""


class OrderRead(Order, omit_defaults=False):
    """An order as its buyer reads it back."""

    cancelled: bool = False
    """The shop cancelled it (``POST /admin/sales/{id}/orders/{order_id}/cancel``)."""


class OrderList(msgspec.Struct):
    sale_id: str
    orders: list[OrderRead]
    """The caller's orders in the sale, oldest first (at most the newest 100)."""


def _read(sale_id: str, o: OrderView) -> OrderRead:
    return OrderRead(
        order_id=o.order_id,
        sale_id=sale_id,
        buyer_id=o.buyer_id,
        quantity=o.quantity,
        created_at=format_ms(o.created_ms),
        lines=lines_view(o.lines),
        cancelled=o.cancelled,
    )


READ_ERRORS = p.responses(
    p.DOC_BAD_REQUEST, *p.DOC_BUYER_AUTH, (404, p.describe(p.UNKNOWN_SALE, p.UNKNOWN_ORDER)), p.DOC_UNAVAILABLE
)


class OrderController(Controller):
    path = "/sales/{sale_id:str}/orders"
    tags = ["orders"]

    async def _orders(
        self, request: Request[Any, Any, Any], sale_id: str, order_id: str, instance: str
    ) -> list[OrderView] | Response[Any]:
        buyer = await buyer_of(request)
        if not isinstance(buyer, Buyer):
            return refusal(buyer[0], buyer[1], instance)
        inventory: Inventory = request.app.state.inventory
        try:
            found = await inventory.orders_of(sale_id, buyer.id, order_id, MAX_LISTED, buyer.tag)
        except Unavailable as exc:
            return p.problem_response(
                p.UNAVAILABLE, f"{p.UNAVAILABLE_DETAIL} ({exc.kind})", instance, headers=p.unavailable_headers()
            )
        if found is None:
            return p.problem_response(p.UNKNOWN_SALE, f"no sale {sale_id!r}", instance)
        return found

    @get(
        "/{order_id:str}",
        operation_id="getOrder",
        security=[{"buyer": []}],
        operation_class=p.DocumentedOperation,
        summary="One of the caller's orders",
        description="The order a 201 named in its `Location`. Another buyer's order is a 404, as a missing one.",
        cache_control=NO_STORE,
        responses=READ_ERRORS,
    )
    async def one(
        self, sale_id: SaleIdParam, order_id: OrderIdParam, request: Request[Any, Any, Any]
    ) -> Response[OrderRead]:
        instance = f"/sales/{sale_id}/orders/{order_id}"
        found = await self._orders(request, sale_id, order_id, instance)
        if isinstance(found, Response):
            return found
        if not found:
            missing: Response[Any] = p.problem_response(
                p.UNKNOWN_ORDER, f"no order {order_id!r} of yours in sale {sale_id!r}", instance
            )
            return missing
        return Response(_read(sale_id, found[0]))

    @get(
        "/",
        operation_id="listOrders",
        security=[{"buyer": []}],
        operation_class=p.DocumentedOperation,
        summary="The caller's orders in a sale",
        description="Every order the caller's token's buyer made in the sale (purchases and confirmed holds), "
        "oldest first, at most the newest 100.",
        cache_control=NO_STORE,
        responses=p.responses(
            p.DOC_BAD_REQUEST, *p.DOC_BUYER_AUTH, (404, p.describe(p.UNKNOWN_SALE)), p.DOC_UNAVAILABLE
        ),
    )
    async def mine(self, sale_id: SaleIdParam, request: Request[Any, Any, Any]) -> Response[OrderList]:
        found = await self._orders(request, sale_id, "", f"/sales/{sale_id}/orders")
        if isinstance(found, Response):
            return found
        return Response(OrderList(sale_id, [_read(sale_id, o) for o in found]))
