"""Admin routes: create, restock, close, delete and audit sales. Behind a bearer token."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Controller, delete, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

from flashsale.api import problems as p
from flashsale.api import responses as r
from flashsale.api.deps import InventoryDep, RecorderDep
from flashsale.api.params import SaleIdParam
from flashsale.api.responses import DocumentedOperation
from flashsale.api.schemas import Audit, CreateSale, Restock, SaleView, to_ms
from flashsale.api.views import audit_view, sale_view

AUTH_FAILURES = r.problems(
    (401, "Missing or wrong bearer token."), (403, "No admin token configured: admin routes refuse every call.")
)


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


async def _snapshot(inventory: InventoryDep, sale_id: str) -> Any:
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
        operation_class=DocumentedOperation,
        status_code=201,
        summary="Create a sale",
        responses={**AUTH_FAILURES, **r.problems(r.BAD_REQUEST, (409, r.describe(p.SALE_EXISTS)), r.UNAVAILABLE)},
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
        operation_class=DocumentedOperation,
        status_code=200,
        summary="Add stock to a sale",
        responses={**AUTH_FAILURES, **r.problems(r.BAD_REQUEST, (404, r.describe(p.UNKNOWN_SALE)), r.UNAVAILABLE)},
    )
    async def restock(self, sale_id: SaleIdParam, data: JSONBody[Restock], inventory: InventoryDep) -> SaleView:
        if await inventory.restock(sale_id, data.units) is None:
            raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
        return sale_view(await _snapshot(inventory, sale_id))

    @post(
        "/{sale_id:str}/close",
        operation_class=DocumentedOperation,
        status_code=200,
        summary="Close a sale now",
        responses={**AUTH_FAILURES, **r.problems(r.BAD_REQUEST, (404, r.describe(p.UNKNOWN_SALE)), r.UNAVAILABLE)},
    )
    async def close_sale(self, sale_id: SaleIdParam, inventory: InventoryDep) -> SaleView:
        if not await inventory.close_sale(sale_id):
            raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
        return sale_view(await _snapshot(inventory, sale_id))

    @delete(
        "/{sale_id:str}",
        operation_class=DocumentedOperation,
        status_code=204,
        summary="Delete a sale, its ledger and its idempotency records",
        responses={**AUTH_FAILURES, **r.problems(r.BAD_REQUEST, (404, r.describe(p.UNKNOWN_SALE)), r.UNAVAILABLE)},
    )
    async def delete_sale(self, sale_id: SaleIdParam, inventory: InventoryDep, recorder: RecorderDep) -> None:
        if not await inventory.delete_sale(sale_id):
            raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
        recorder.forget_sale(sale_id)

    @get(
        "/{sale_id:str}/audit",
        operation_class=DocumentedOperation,
        summary="Check a sale's invariants",
        description="stock_added == remaining + sold, ledger length == orders, and oversold == 0.",
        responses={**AUTH_FAILURES, **r.problems(r.BAD_REQUEST, (404, r.describe(p.UNKNOWN_SALE)), r.UNAVAILABLE)},
    )
    async def audit(self, sale_id: SaleIdParam, inventory: InventoryDep) -> Audit:
        return audit_view(await _snapshot(inventory, sale_id))

    @get(
        "/",
        operation_class=DocumentedOperation,
        summary="List sale ids",
        responses={**AUTH_FAILURES, **r.problems(r.UNAVAILABLE)},
    )
    async def list_sales(self, inventory: InventoryDep) -> list[str]:
        return await inventory.sale_ids()
