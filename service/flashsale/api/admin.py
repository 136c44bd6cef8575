"""The admin routes that change a sale: create, restock, close, delete, cancel one of its orders, and list the
sales; and the guard every admin route sits behind (a bearer token compared in constant time). The routes that
check a sale are api/audit.py's; the waiting room's admin routes, api/room.py's."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

from flashsale.api import problems as p
from flashsale.api.attempts import REPLAYED_HEADERS, STEPS, lines_view, run_attempt
from flashsale.api.deps import InventoryDep, OrderStoreDep, RecorderDep
from flashsale.api.sale_view import SaleView, read_snapshot, sale_view
from flashsale.api.schemas import (
    CreateSale,
    Eligibility,
    Line,
    OrderIdParam,
    SaleIdParam,
    Sku,
    Timestamp,
    decode_strict,
    to_ms,
)
from flashsale.identity.claims import encode_rules
from flashsale.inventory import CancelResult, Outcome, Step
from flashsale.inventory.engine import QueueConfig
from flashsale.inventory.skus import DEFAULT_SKU, Item, Quota, check_catalogue
from flashsale.orders.stream import backlog, ensure_group
from flashsale.queue.fair import new_room
from flashsale.telemetry import holds as hold_metrics
from flashsale.telemetry import skus as sku_metrics
from flashsale.timefmt import format_ms

CREATE_MAX_BODY_BYTES = 1 << 16
"""An admin's create body may carry a whole catalogue (64 items and 16 quotas of 64 SKUs: about 12 KB), past the
buyer routes' FLASHSALE_MAX_BODY_BYTES (4 KB by default); only a holder of the admin token reaches it."""
AUTH_FAILURES = p.DOC_ADMIN_AUTH


class Restock(msgspec.Struct):
    units: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]
    sku: Sku | None = None
    """The SKU to restock: required on a sale with SKUs, absent on a one-stock sale."""


class CancelOrder(msgspec.Struct):
    restock: bool
    """True: the order's units go back on sale. False: they leave the sale (damaged, kept back)."""


class Cancellation(msgspec.Struct, omit_defaults=True):
    """An order's cancellation: a ledger entry of its own (``cancel_id``), made once; a repeat returns it."""

    order_id: str
    sale_id: str
    cancel_id: str
    buyer_id: str
    quantity: int
    restock: bool
    cancelled_at: Timestamp
    lines: list[Line] | None = None


def admin_responses(*entries: tuple[int, str]) -> dict[int, Any]:
    return p.responses(*AUTH_FAILURES, *entries)


def admin_guard(token: str | None) -> Any:
    """A guard comparing the bearer token in constant time. With no token configured it refuses everything."""
    expected = token.encode() if token else None

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if expected is None:
            raise p.Problem(p.ADMIN_DISABLED, "set FLASHSALE_ADMIN_TOKEN to use the admin routes")
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
            raise p.Problem(p.INVALID_REQUEST, f"invalid body: {exc}") from None

    return check


def eligibility_rules(e: Eligibility | None) -> str:
    if e is None:
        return ""
    return encode_rules(
        e.email_verified, e.phone_number_verified, e.group, to_ms(e.account_created_before), to_ms(e.until)
    )


SALE_LOCATION = p.location_header("sale", "/sales/{sale_id}")


def sale_location(sale_id: str) -> str:
    """The created sale's public URL (``GET`` reads it), sent as ``Location`` by the admin's 201."""
    return f"/sales/{sale_id}"


class AdminController(Controller):
    path = "/admin/sales"
    tags = ["admin"]
    security = [{"bearer": []}]

    @post(
        "/",
        operation_id="createSale",
        operation_class=p.DocumentedOperation,
        status_code=201,
        response_headers=[SALE_LOCATION],
        before_request=strict_body(CreateSale),
        request_max_body_size=CREATE_MAX_BODY_BYTES,
        summary="Create a sale",
        description=(
            "Either `stock` (a one-stock sale) or `items` (a sale of SKUs, with optional `quotas`), not both: a "
            "400 otherwise. SKU and quota names are distinct, a quota names only the sale's items, and no item "
            "is called `default` (the one SKU of a one-stock sale)."
        ),
        responses=admin_responses(p.DOC_BAD_REQUEST, (409, p.describe(p.SALE_EXISTS)), p.DOC_UNAVAILABLE),
    )
    async def create_sale(
        self,
        data: JSONBody[CreateSale],
        inventory: InventoryDep,
        recorder: RecorderDep,
        orders: OrderStoreDep,
        request: Request[Any, Any, Any],
    ) -> Response[SaleView]:
        opens_ms, closes_ms = to_ms(data.opens_at), to_ms(data.closes_at)
        items = tuple(Item(i.sku, i.stock, i.per_buyer_limit) for i in data.items or ())
        quotas = tuple(Quota(q.name, q.cap, tuple(q.skus)) for q in data.quotas or ())
        stock = data.stock or 0
        if items:
            why = check_catalogue(items, quotas)
            if why is not None:
                raise p.Problem(p.INVALID_REQUEST, f"invalid body: {why}")
        q = data.queue
        queue = (
            new_room(
                request.app.state.signer,
                QueueConfig(q.mode, q.admit_rate, q.max_active, q.token_ttl_s, data.admission_units, "", q.max_places),
            )
            if q is not None and q.mode != "off"
            else None
        )
        created = await inventory.create_sale(
            data.sale_id,
            data.name,
            stock,
            data.per_buyer_limit,
            opens_ms,
            closes_ms,
            data.hold_ttl_s,
            queue,
            eligibility_rules(data.eligibility),
            items,
            quotas,
        )
        if not created:
            raise p.Problem(p.SALE_EXISTS, f"sale {data.sale_id!r} exists; restock or delete it")
        if orders is not None:  # export is on: the group exists before the first order (see delete_sale)
            await inventory._call(ensure_group(inventory.client, data.sale_id))
        recorder.prepare_sale(data.sale_id)
        if recorder.metrics:
            hold_metrics.prepare_sale(data.sale_id)
        request.app.state.sale_board.add(data.sale_id)
        view = sale_view(await read_snapshot(inventory, data.sale_id))
        return Response(view, status_code=201, headers={"Location": sale_location(data.sale_id)})

    @post(
        "/{sale_id:str}/restock",
        operation_id="restockSale",
        operation_class=p.DocumentedOperation,
        status_code=200,
        before_request=strict_body(Restock),
        summary="Add stock to a sale (to one SKU of a sale of SKUs)",
        description=(
            "`units` more on sale; on a sale of SKUs `sku` names the SKU restocked (its quotas are caps and stay "
            "as they are). A `sku` the sale does not have, none on a sale of SKUs, or one on a one-stock sale is "
            "a 404 `unknown-sku`."
        ),
        responses=admin_responses(
            p.DOC_BAD_REQUEST, (404, p.describe(p.UNKNOWN_SALE, p.UNKNOWN_SKU)), p.DOC_UNAVAILABLE
        ),
    )
    async def restock(self, sale_id: SaleIdParam, data: JSONBody[Restock], inventory: InventoryDep) -> SaleView:
        remaining = await inventory.restock(sale_id, data.units, data.sku or "")
        if remaining is None:
            raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
        if remaining < 0:
            named = f"no SKU {data.sku!r} in sale {sale_id!r}" if data.sku else f"sale {sale_id!r} has SKUs"
            raise p.Problem(p.UNKNOWN_SKU, f"{named}: name one of its SKUs as `sku`", sku=data.sku or DEFAULT_SKU)
        return sale_view(await read_snapshot(inventory, sale_id))

    @post(
        "/{sale_id:str}/close",
        operation_id="closeSale",
        operation_class=p.DocumentedOperation,
        status_code=200,
        summary="Close a sale now",
        responses=admin_responses(*p.DOC_ON_A_SALE),
    )
    async def close_sale(self, sale_id: SaleIdParam, inventory: InventoryDep) -> SaleView:
        if not await inventory.close_sale(sale_id):
            raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
        return sale_view(await read_snapshot(inventory, sale_id))

    @delete(
        "/{sale_id:str}",
        operation_id="deleteSale",
        operation_class=p.DocumentedOperation,
        status_code=204,
        summary="Delete a sale, its ledger and its idempotency records",
        description=(
            "Refused (409 `export-pending`, with the count in `pending`) while the ledger holds entries the "
            "exporter has not acknowledged, whenever export is on: the sale has an export group, or this API has "
            "FLASHSALE_DATABASE_URL. Without export the ledger is the only record and goes with the sale."
        ),
        responses=admin_responses(*p.DOC_ON_A_SALE, (409, p.describe(p.EXPORT_PENDING))),
    )
    async def delete_sale(
        self,
        sale_id: SaleIdParam,
        inventory: InventoryDep,
        recorder: RecorderDep,
        orders: OrderStoreDep,
        request: Request[Any, Any, Any],
    ) -> None:
        waiting = await inventory._call(backlog(inventory.client, sale_id))
        export_on = waiting.group or orders is not None
        if export_on and waiting.entries:
            raise _export_pending(sale_id, waiting.entries)
        deleted = await inventory.delete_sale(sale_id, waiting.length if export_on else None)
        if deleted is None:  # an order came in after the check: not exported yet
            raise _export_pending(sale_id, 1)
        if not deleted:
            raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
        recorder.forget_sale(sale_id)
        hold_metrics.forget_sale(sale_id)
        sku_metrics.forget_sale(sale_id)
        request.app.state.sale_board.forget(sale_id)

    @post(
        "/{sale_id:str}/orders/{order_id:str}/cancel",
        operation_id="cancelOrder",
        operation_class=p.DocumentedOperation,
        status_code=200,
        summary="Cancel an order, exactly once",
        before_request=strict_body(CancelOrder),
        description=(
            'Body `{"restock": true|false}`. Writes a cancellation entry (`kind` cancel) to the ledger; with '
            "`restock` the order's units go back on sale. Calling it again returns the first cancellation with "
            "`Idempotent-Replayed: true` and changes nothing, whatever `restock` it asks for."
        ),
        response_headers=[p.replayed_header("`true` when the order was cancelled before: this is that cancellation.")],
        responses=admin_responses(
            p.DOC_BAD_REQUEST, (404, p.describe(p.UNKNOWN_SALE, p.UNKNOWN_ORDER)), p.DOC_UNAVAILABLE
        ),
    )
    async def cancel_order(
        self,
        sale_id: SaleIdParam,
        order_id: OrderIdParam,
        data: JSONBody[CancelOrder],
        inventory: InventoryDep,
        recorder: RecorderDep,
        request: Request[Any, Any, Any],
    ) -> Response[Cancellation]:
        instance = f"/admin/sales/{sale_id}/orders/{order_id}/cancel"

        def answer(result: CancelResult) -> Response[Any]:
            if result.outcome is Outcome.CANCELLED or result.outcome is Outcome.REPLAYED:
                body = Cancellation(
                    order_id,
                    sale_id,
                    result.cancel_id,
                    result.buyer_id,
                    result.quantity,
                    result.restock,
                    format_ms(result.created_ms),
                    lines_view(result.lines),
                )
                return Response(body, headers=REPLAYED_HEADERS if result.outcome is Outcome.REPLAYED else None)
            detail = f"no sale {sale_id!r}" if result.outcome is Outcome.UNKNOWN_SALE else f"no order {order_id!r}"
            return p.problem_response(p.BY_OUTCOME[result.outcome], detail, instance)

        return await run_attempt(
            recorder,
            STEPS[Step.CANCEL],
            sale_id,
            0,
            lambda: inventory.cancel_order(sale_id, order_id, data.restock),
            answer,
            instance,
            request.scope,
            order_id=order_id,
            restock=data.restock,
        )

    @get(
        "/",
        operation_id="listSales",
        operation_class=p.DocumentedOperation,
        summary="List sale ids",
        responses=admin_responses(p.DOC_UNAVAILABLE),
    )
    async def list_sales(self, inventory: InventoryDep) -> list[str]:
        return await inventory.sale_ids()


def _export_pending(sale_id: str, entries: int) -> p.Problem:
    return p.Problem(
        p.EXPORT_PENDING,
        f"{entries} order(s) of sale {sale_id!r} are not yet exported to PostgreSQL; delete once "
        "the exporter caught up (GET .../reconcile shows export_lag)",
        pending=entries,
    )
