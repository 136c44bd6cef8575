"""Sales: the public read of a sale, and the admin routes that create, restock, close, delete and audit them
(behind a bearer token)."""

from __future__ import annotations

import hmac
from typing import Any, cast

from litestar import Controller, Request, delete, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

from flashsale.api import problems as p
from flashsale.api.schemas import (
    Audit,
    CreateSale,
    InventoryDep,
    RecorderDep,
    Restock,
    SaleIdParam,
    SaleStatus,
    SaleView,
    decode_strict,
    from_ms,
    to_ms,
)
from flashsale.inventory import SaleSnapshot


def sale_view(s: SaleSnapshot) -> SaleView:
    return SaleView(
        sale_id=s.sale_id, name=s.name, status=cast("SaleStatus", s.status), stock=s.total,
        remaining=s.remaining, sold=s.sold, per_buyer_limit=s.limit,
        opens_at=from_ms(s.opens_ms), closes_at=from_ms(s.closes_ms),
    )


def audit_view(s: SaleSnapshot) -> Audit:
    return Audit(
        sale_id=s.sale_id, stock_added=s.total, remaining=s.remaining, sold=s.sold, orders=s.orders,
        ledger_length=s.ledger_length, oversold=s.oversold, stock_balanced=s.stock_balanced,
        ledger_matches=s.ledger_matches, ok=s.stock_balanced and s.ledger_matches and s.oversold == 0,
    )


class SaleController(Controller):
    path = "/sales"
    tags = ["sales"]

    @get(
        "/{sale_id:str}", operation_class=p.DocumentedOperation,
        summary="A sale's status and stock",
        description="`status` is one of scheduled, open, sold_out, closed, judged by the Redis server's clock.",
        responses=p.responses(p.DOC_BAD_REQUEST, (404, p.describe(p.UNKNOWN_SALE)), p.DOC_UNAVAILABLE),
    )
    async def read_sale(self, sale_id: SaleIdParam, inventory: InventoryDep) -> SaleView:
        return sale_view(await _snapshot(inventory, sale_id))


# -- admin -----------------------------------------------------------------------------------------------------

AUTH_FAILURES = (
    (401, "Missing or wrong bearer token."), (403, "No admin token configured: admin routes refuse every call.")
)
ON_A_SALE = (p.DOC_BAD_REQUEST, (404, p.describe(p.UNKNOWN_SALE)), p.DOC_UNAVAILABLE)
"""The errors of an admin route addressing one sale (besides the auth failures)."""


def admin_responses(*entries: tuple[int, str]) -> dict[int, Any]:
    return p.responses(*AUTH_FAILURES, *entries)


def admin_guard(token: str | None) -> Any:
    """A guard comparing the bearer token in constant time. With no token configured it refuses everything."""
    expected = token.encode() if token else None

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if expected is None:
            raise p.Problem(p.FORBIDDEN, "set FLASHSALE_ADMIN_TOKEN to use the admin routes")
        scheme, _sep, given = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise p.Problem(
                p.UNAUTHORIZED,
                "send Authorization: Bearer <FLASHSALE_ADMIN_TOKEN>",
                headers={"WWW-Authenticate": 'Bearer realm="flashsale-admin"'},
            )

    return guard


def strict_body(kind: type[Any]) -> Any:
    """A ``before_request`` hook for an admin route (it runs after the guard, before Litestar converts the body):
    a body that only Litestar's lax mode would accept is a 400 here. See ``schemas.decode_strict``."""

    async def check(request: Request[Any, Any, Any]) -> None:
        try:
            decode_strict(await request.body(), kind)
        except ValueError as exc:
            raise p.Problem(p.INVALID, f"invalid body: {exc}") from None

    return check


async def _snapshot(inventory: InventoryDep, sale_id: str) -> SaleSnapshot:
    snapshot = await inventory.read(sale_id)
    if snapshot is None:
        raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
    return snapshot


class AdminController(Controller):
    path = "/admin/sales"
    tags = ["admin"]
    security = [{"bearer": []}]

    @post(
        "/",
        operation_class=p.DocumentedOperation,
        status_code=201,
        before_request=strict_body(CreateSale),
        summary="Create a sale",
        responses=admin_responses(p.DOC_BAD_REQUEST, (409, p.describe(p.SALE_EXISTS)), p.DOC_UNAVAILABLE),
    )
    async def create_sale(self, data: JSONBody[CreateSale], inventory: InventoryDep, recorder: RecorderDep) -> SaleView:
        opens_ms, closes_ms = to_ms(data.opens_at), to_ms(data.closes_at)
        created = await inventory.create_sale(
            data.sale_id, data.name, data.stock, data.per_buyer_limit, opens_ms, closes_ms
        )
        if not created:
            raise p.Problem(p.SALE_EXISTS, f"sale {data.sale_id!r} exists; restock or delete it")
        recorder.prepare_sale(data.sale_id)
        return sale_view(await _snapshot(inventory, data.sale_id))

    @post(
        "/{sale_id:str}/restock",
        operation_class=p.DocumentedOperation,
        status_code=200,
        before_request=strict_body(Restock),
        summary="Add stock to a sale",
        responses=admin_responses(*ON_A_SALE),
    )
    async def restock(self, sale_id: SaleIdParam, data: JSONBody[Restock], inventory: InventoryDep) -> SaleView:
        if await inventory.restock(sale_id, data.units) is None:
            raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
        return sale_view(await _snapshot(inventory, sale_id))

    @post(
        "/{sale_id:str}/close",
        operation_class=p.DocumentedOperation,
        status_code=200,
        summary="Close a sale now",
        responses=admin_responses(*ON_A_SALE),
    )
    async def close_sale(self, sale_id: SaleIdParam, inventory: InventoryDep) -> SaleView:
        if not await inventory.close_sale(sale_id):
            raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
        return sale_view(await _snapshot(inventory, sale_id))

    @delete(
        "/{sale_id:str}",
        operation_class=p.DocumentedOperation,
        status_code=204,
        summary="Delete a sale, its ledger and its idempotency records",
        responses=admin_responses(*ON_A_SALE),
    )
    async def delete_sale(self, sale_id: SaleIdParam, inventory: InventoryDep, recorder: RecorderDep) -> None:
        if not await inventory.delete_sale(sale_id):
            raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
        recorder.forget_sale(sale_id)

    @get(
        "/{sale_id:str}/audit",
        operation_class=p.DocumentedOperation,
        summary="Check a sale's invariants",
        description="stock_added == remaining + sold, ledger length == orders, and oversold == 0.",
        responses=admin_responses(*ON_A_SALE),
    )
    async def audit(self, sale_id: SaleIdParam, inventory: InventoryDep) -> Audit:
        return audit_view(await _snapshot(inventory, sale_id))

    @get(
        "/",
        operation_class=p.DocumentedOperation,
        summary="List sale ids",
        responses=admin_responses(p.DOC_UNAVAILABLE),
    )
    async def list_sales(self, inventory: InventoryDep) -> list[str]:
        return await inventory.sale_ids()
