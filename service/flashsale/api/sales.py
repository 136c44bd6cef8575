"""Sales: the public read of a sale, and the admin routes that create, restock, close, delete and audit them
(behind a bearer token)."""

from __future__ import annotations

import hmac
from typing import Any, cast

from litestar import Controller, Request, Response, delete, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import ResponseHeader
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

from flashsale import hold_metrics
from flashsale.api import problems as p
from flashsale.api.holds import run_step
from flashsale.api.purchases import REPLAYED_HEADERS
from flashsale.api.schemas import (
    Audit,
    Cancellation,
    CancelOrder,
    CreateSale,
    HoldCounts,
    InventoryDep,
    OrderIdParam,
    RecorderDep,
    Restock,
    SaleIdParam,
    SaleStatus,
    SaleView,
    decode_strict,
    from_ms,
    to_ms,
)
from flashsale.inventory import CancelResult, Outcome, SaleSnapshot, Step


def sale_view(s: SaleSnapshot) -> SaleView:
    return SaleView(
        sale_id=s.sale_id, name=s.name, status=cast("SaleStatus", s.status), stock=s.total,
        remaining=s.remaining, held=s.held, sold=s.sold, per_buyer_limit=s.limit,
        opens_at=from_ms(s.opens_ms), closes_at=from_ms(s.closes_ms), hold_ttl_s=s.hold_ttl_s,
    )


def audit_view(s: SaleSnapshot) -> Audit:
    holds = HoldCounts(created=s.holds, held=s.live_holds, confirmed=s.holds_confirmed,
                       released=s.holds_released, expired=s.holds_expired)
    return Audit(
        sale_id=s.sale_id, stock_added=s.total, remaining=s.remaining, held=s.held, sold=s.sold,
        withdrawn=s.withdrawn, restocked=s.restocked, orders=s.orders, cancels=s.cancels,
        ledger_length=s.ledger_length, holds=holds, oversold=s.oversold, stock_balanced=s.stock_balanced,
        ledger_matches=s.ledger_matches, holds_balanced=s.holds_balanced,
        ok=s.stock_balanced and s.ledger_matches and s.holds_balanced and s.oversold == 0,
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


async def _snapshot(inventory: InventoryDep, sale_id: str, audit: bool = False) -> SaleSnapshot:
    snapshot = await inventory.read(sale_id, audit)
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
            data.sale_id, data.name, data.stock, data.per_buyer_limit, opens_ms, closes_ms, data.hold_ttl_s
        )
        if not created:
            raise p.Problem(p.SALE_EXISTS, f"sale {data.sale_id!r} exists; restock or delete it")
        recorder.prepare_sale(data.sale_id)
        if recorder.metrics:
            hold_metrics.prepare_sale(data.sale_id)
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
        hold_metrics.forget_sale(sale_id)

    @post(
        "/{sale_id:str}/orders/{order_id:str}/cancel",
        operation_class=p.DocumentedOperation,
        status_code=200,
        summary="Cancel an order, exactly once",
        before_request=strict_body(CancelOrder),
        description=(
            "Body `{\"restock\": true|false}`. Writes a cancellation entry (`kind` cancel) to the ledger; with "
            "`restock` the order's units go back on sale. Calling it again returns the first cancellation with "
            "`Idempotent-Replayed: true` and changes nothing, whatever `restock` it asks for."
        ),
        response_headers=[ResponseHeader(
            name="Idempotent-Replayed", documentation_only=True, required=False,
            description="`true` when the order was cancelled before: this is that cancellation.",
        )],
        responses=admin_responses(p.DOC_BAD_REQUEST, (404, p.describe(p.UNKNOWN_SALE, p.UNKNOWN_ORDER)),
                                  p.DOC_UNAVAILABLE),
    )
    async def cancel_order(
        self, sale_id: SaleIdParam, order_id: OrderIdParam, data: JSONBody[CancelOrder], inventory: InventoryDep,
        recorder: RecorderDep, request: Request[Any, Any, Any],
    ) -> Response[Cancellation]:
        instance = f"/admin/sales/{sale_id}/orders/{order_id}/cancel"

        def answer(result: CancelResult) -> Response[Any]:
            if result.outcome is Outcome.CANCELLED or result.outcome is Outcome.REPLAYED:
                body = Cancellation(order_id, sale_id, result.cancel_id, result.buyer_id, result.quantity,
                                    result.restock, cast("Any", from_ms(result.created_ms)))
                return Response(body, headers=REPLAYED_HEADERS if result.outcome is Outcome.REPLAYED else None)
            detail = f"no sale {sale_id!r}" if result.outcome is Outcome.UNKNOWN_SALE else f"no order {order_id!r}"
            return p.problem_response(p.BY_OUTCOME[result.outcome], detail, instance)

        return await run_step(recorder, Step.CANCEL, sale_id, 0,
                              lambda: inventory.cancel_order(sale_id, order_id, data.restock), answer, instance,
                              request.scope, order_id=order_id, restock=data.restock)

    @get(
        "/{sale_id:str}/audit",
        operation_class=p.DocumentedOperation,
        summary="Check a sale's invariants",
        description=(
            "stock_added == remaining + held + sold + withdrawn; ledger length == orders + cancels; holds "
            "created == held + confirmed + released + expired, and the live holds' units == held; oversold == 0. "
            "Costs O(live holds): an admin check, not a dashboard poll."
        ),
        responses=admin_responses(*ON_A_SALE),
    )
    async def audit(self, sale_id: SaleIdParam, inventory: InventoryDep) -> Audit:
        return audit_view(await _snapshot(inventory, sale_id, audit=True))

    @get(
        "/",
        operation_class=p.DocumentedOperation,
        summary="List sale ids",
        responses=admin_responses(p.DOC_UNAVAILABLE),
    )
    async def list_sales(self, inventory: InventoryDep) -> list[str]:
        return await inventory.sale_ids()
