"""Sales: the public read of a sale, and the admin routes that create, restock, close, delete, audit and
reconcile them (behind a bearer token)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import asyncpg
import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

from flashsale.api import problems as p
from flashsale.api.attempts import REPLAYED_HEADERS, STEPS, lines_view, run_attempt
from flashsale.api.deps import InventoryDep, OrderStoreDep, RecorderDep
from flashsale.api.schemas import (
    Audit,
    Availability,
    AvailableSku,
    Cancellation,
    CancelOrder,
    CreateSale,
    Eligibility,
    EligibilityView,
    HoldCounts,
    OrderIdParam,
    QuotaView,
    Reconciliation,
    RepairReport,
    Restock,
    SaleIdParam,
    SaleStatus,
    SaleView,
    SkuReconciliation,
    SkuView,
    StockAudit,
    decode_strict,
    from_ms,
    to_ms,
)
from flashsale.identity.claims import decode_rules, encode_rules
from flashsale.inventory import CancelResult, Inventory, Outcome, SaleSnapshot, Step
from flashsale.inventory.board import SaleBoard
from flashsale.inventory.engine import QueueConfig
from flashsale.inventory.skus import DEFAULT_SKU, Item, Quota, SkuState, available, check_catalogue
from flashsale.orders import reconcile as rc
from flashsale.orders.db import OrderStore
from flashsale.orders.stream import backlog, ensure_group
from flashsale.queue.fair import new_room
from flashsale.telemetry import holds as hold_metrics
from flashsale.telemetry import skus as sku_metrics
from flashsale.timefmt import format_ms

AVAILABILITY_CACHE = CacheControlHeader(public=True, max_age=1)
"""Product pages poll availability: any cache may keep an answer for a second (it is a worker's snapshot,
at most about half a second old when sent)."""


def sale_view(s: SaleSnapshot) -> SaleView:
    """The public view; a one-stock sale's has no ``items`` or ``quotas`` (its answer is as it always was)."""
    left = available(s.skus, s.quotas)
    return SaleView(
        sale_id=s.sale_id,
        name=s.name,
        status=cast("SaleStatus", s.status),
        stock=s.total,
        remaining=s.remaining,
        held=s.held,
        sold=s.sold,
        per_buyer_limit=s.limit,
        opens_at=from_ms(s.opens_ms),
        closes_at=from_ms(s.closes_ms),
        hold_ttl_s=s.hold_ttl_s,
        items=[
            SkuView(k.name, k.total, k.remaining, k.held, k.sold, left[k.name], k.limit, list(k.members))
            for k in s.skus
        ]
        or None,
        quotas=[QuotaView(q.name, q.total, q.remaining, q.held, q.sold, list(q.members)) for q in s.quotas] or None,
        eligibility=eligibility_view(s.eligibility),
    )


def eligibility_view(stored: str) -> EligibilityView | None:
    rules = decode_rules(stored)
    if rules is None:
        return None
    email, phone, group, before_ms, until_ms = rules
    return EligibilityView(email, phone, group, from_ms(before_ms), from_ms(until_ms))


def eligibility_rules(e: Eligibility | None) -> str:
    if e is None:
        return ""
    return encode_rules(
        e.email_verified, e.phone_number_verified, e.group, to_ms(e.account_created_before), to_ms(e.until)
    )


def availability_view(s: SaleSnapshot) -> bytes:
    """The availability answer, encoded once per snapshot (every poll until the next tick sends these bytes)."""
    if s.skus:
        left = available(s.skus, s.quotas)
        items = [AvailableSku(k.name, left[k.name]) for k in s.skus]
    else:
        items = [AvailableSku(DEFAULT_SKU, max(0, s.remaining))]
    view = Availability(s.sale_id, cast("SaleStatus", s.status), max(0, s.sellable), items, format_ms(s.now_ms))
    return msgspec.json.encode(view)


def _stock_audit(k: SkuState) -> StockAudit:
    return StockAudit(k.name, k.total, k.remaining, k.held, k.sold, k.withdrawn, k.restocked, k.oversold, k.balanced)


def audit_view(s: SaleSnapshot) -> Audit:
    holds = HoldCounts(
        created=s.holds,
        held=s.live_holds,
        confirmed=s.holds_confirmed,
        released=s.holds_released,
        expired=s.holds_expired,
    )
    return Audit(
        sale_id=s.sale_id,
        stock_added=s.total,
        remaining=s.remaining,
        held=s.held,
        sold=s.sold,
        withdrawn=s.withdrawn,
        restocked=s.restocked,
        orders=s.orders,
        cancels=s.cancels,
        ledger_length=s.ledger_length,
        holds=holds,
        oversold=s.oversold,
        stock_balanced=s.stock_balanced,
        ledger_matches=s.ledger_matches,
        holds_balanced=s.holds_balanced,
        ok=s.stock_balanced and s.ledger_matches and s.holds_balanced and s.skus_balanced and s.oversold == 0,
        items=[_stock_audit(k) for k in s.skus] or None,
        quotas=[_stock_audit(q) for q in s.quotas] or None,
    )


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
        return sale_view(await _snapshot(inventory, sale_id))

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


# -- admin -----------------------------------------------------------------------------------------------------

CREATE_MAX_BODY_BYTES = 1 << 16
"""An admin's create body may carry a whole catalogue (64 items and 16 quotas of 64 SKUs: about 12 KB), past the
buyer routes' FLASHSALE_MAX_BODY_BYTES (4 KB by default); only a holder of the admin token reaches it."""
AUTH_FAILURES = p.DOC_ADMIN_AUTH
ON_A_SALE = (p.DOC_BAD_REQUEST, (404, p.describe(p.UNKNOWN_SALE)), p.DOC_UNAVAILABLE)
"""The errors of an admin route addressing one sale (besides the auth failures)."""
RECONCILE_ERRORS = (
    p.DOC_BAD_REQUEST,
    (404, p.describe(p.UNKNOWN_SALE)),
    (
        503,
        "Redis or PostgreSQL did not answer, or FLASHSALE_DATABASE_URL is unset: "
        + p.describe(p.UNAVAILABLE, p.DATABASE_UNAVAILABLE, p.DATABASE_NOT_CONFIGURED),
    ),
)
_DATABASE_FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
T = TypeVar("T")


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


async def _snapshot(inventory: InventoryDep, sale_id: str, audit: bool = False) -> SaleSnapshot:
    snapshot = await inventory.read(sale_id, audit)
    if snapshot is None:
        raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
    return snapshot


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
        view = sale_view(await _snapshot(inventory, data.sale_id))
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
        return sale_view(await _snapshot(inventory, sale_id))

    @post(
        "/{sale_id:str}/close",
        operation_id="closeSale",
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
        operation_id="deleteSale",
        operation_class=p.DocumentedOperation,
        status_code=204,
        summary="Delete a sale, its ledger and its idempotency records",
        description=(
            "Refused (409 `export-pending`, with the count in `pending`) while the ledger holds entries the "
            "exporter has not acknowledged, whenever export is on: the sale has an export group, or this API has "
            "FLASHSALE_DATABASE_URL. Without export the ledger is the only record and goes with the sale."
        ),
        responses=admin_responses(*ON_A_SALE, (409, p.describe(p.EXPORT_PENDING))),
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
        "/{sale_id:str}/reconcile",
        operation_id="reconcileSale",
        operation_class=p.DocumentedOperation,
        summary="Compare a sale's orders in Redis and PostgreSQL",
        description=(
            "`ok` when the export is caught up (`export_lag` 0) and both sides agree: `redis_sold == db_sold`, "
            "no order acknowledged by the exporter missing in PostgreSQL (`missing_in_db`), no order of "
            "PostgreSQL missing from the Redis ledger (`missing_in_redis`: lost in a failover; see repair)."
        ),
        responses=admin_responses(*RECONCILE_ERRORS),
    )
    async def reconcile(self, sale_id: SaleIdParam, inventory: InventoryDep, orders: OrderStoreDep) -> Reconciliation:
        return _reconciliation(await _with_database(rc.reconcile, inventory, orders, sale_id))

    @post(
        "/{sale_id:str}/reconcile/repair",
        operation_id="repairSale",
        operation_class=p.DocumentedOperation,
        status_code=200,
        summary="Re-apply to Redis the orders PostgreSQL has and Redis lost",
        description=(
            "In one script: the stock is decremented again, the ledger entry appended (naming the original order "
            "id) and the idempotency record restored, so a retry of that order replays it and its units cannot "
            "be sold twice. Each order is re-applied once, however often this is called."
        ),
        responses=admin_responses(*RECONCILE_ERRORS),
    )
    async def repair(self, sale_id: SaleIdParam, inventory: InventoryDep, orders: OrderStoreDep) -> RepairReport:
        result = await _with_database(rc.repair, inventory, orders, sale_id)
        return RepairReport(
            sale_id=result.sale_id,
            restored=result.restored,
            already_present=result.already_present,
            key_reused=result.key_reused,
            remaining=result.remaining,
            restored_ids=result.restored_ids,
            after=_reconciliation(result.after) if result.after else None,
        )

    @get(
        "/{sale_id:str}/audit",
        operation_id="auditSale",
        operation_class=p.DocumentedOperation,
        summary="Check a sale's invariants",
        description=(
            "stock_added == remaining + held + sold + withdrawn; ledger length == orders + cancels; holds "
            "created == held + confirmed + released + expired, and the live holds' units == held; oversold == 0. "
            "A sale of SKUs adds `items` and `quotas`: the same stock invariant for each SKU and each quota, "
            "and `ok` also needs the SKUs to add up to the sale and each SKU's live holds' units == its held. "
            "Costs O(live holds): an admin check, not a dashboard poll."
        ),
        responses=admin_responses(*ON_A_SALE),
    )
    async def audit(self, sale_id: SaleIdParam, inventory: InventoryDep) -> Audit:
        return audit_view(await _snapshot(inventory, sale_id, audit=True))

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


async def _with_database(
    step: Callable[[Inventory, OrderStore, str], Awaitable[T | None]],
    inventory: Inventory,
    orders: OrderStore | None,
    sale_id: str,
) -> T:
    """Run a reconcile step: 503 without a database or when PostgreSQL fails (Redis failures are the usual
    ``unavailable`` 503), 404 for an unknown sale."""
    if orders is None:
        raise p.Problem(
            p.DATABASE_NOT_CONFIGURED,
            "set FLASHSALE_DATABASE_URL (postgresql://...) on the API to reconcile with PostgreSQL",
            headers=p.unavailable_headers(),
        )
    try:
        result = await step(inventory, orders, sale_id)
    except _DATABASE_FAILURES as exc:
        raise p.Problem(
            p.DATABASE_UNAVAILABLE,
            f"PostgreSQL did not answer: {type(exc).__name__}; retry later",
            headers=p.unavailable_headers(),
        ) from exc
    if result is None:
        raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
    return result


def _reconciliation(r: rc.Reconciliation) -> Reconciliation:
    return Reconciliation(
        sale_id=r.sale_id,
        ok=r.ok,
        redis_sold=r.redis_sold,
        db_sold=r.db_sold,
        export_lag=r.export_lag,
        missing_in_db=r.missing_in_db,
        missing_in_redis=r.missing_in_redis,
        items=[SkuReconciliation(i.sku, i.redis_sold, i.db_sold) for i in r.items] or None,
    )
