"""The admin routes that check a sale: its invariants (audit), its orders in Redis against PostgreSQL's
(reconcile), and the repair that re-applies to Redis the orders PostgreSQL has and Redis lost. Each reads the
sale and answers with what it found; only the repair writes, and only what was lost."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import msgspec
from litestar import Controller, get, post

from flashsale.api import problems as p
from flashsale.api.deps import InventoryDep, OrderStoreDep
from flashsale.api.sale_view import read_snapshot
from flashsale.api.schemas import SaleIdParam
from flashsale.inventory import Inventory, SaleSnapshot
from flashsale.inventory.skus import SkuState
from flashsale.orders import reconcile as rc
from flashsale.orders.db import OrderStore

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


class HoldCounts(msgspec.Struct):
    """Holds ever created, by the state they are in now (``held``: live, counted from the expiry index)."""

    created: int
    held: int
    confirmed: int
    released: int
    expired: int


class StockAudit(msgspec.Struct):
    """One SKU's or quota's invariant (``name`` is the SKU or the quota; a quota's stock_added is its cap)."""

    name: str
    stock_added: int
    remaining: int
    held: int
    sold: int
    withdrawn: int
    restocked: int
    oversold: int
    balanced: bool


class Audit(msgspec.Struct, omit_defaults=True):
    """The invariants: stock_added == remaining + held + sold + withdrawn; ledger length == orders + cancels
    (the ledger has an entry per order and per cancellation); holds created == held + confirmed + released +
    expired, and the units of live holds == held; nothing oversold."""

    sale_id: str
    stock_added: int
    remaining: int
    held: int
    sold: int
    withdrawn: int
    """Units of orders cancelled without restock: they left the sale."""
    restocked: int
    """Units of cancelled orders put back on sale (already counted in remaining, held or sold again)."""
    orders: int
    cancels: int
    ledger_length: int
    holds: HoldCounts
    oversold: int
    stock_balanced: bool
    ledger_matches: bool
    holds_balanced: bool
    ok: bool
    """Everything above holds, and on a sale with SKUs every SKU and quota below is balanced with nothing
    oversold, the SKUs add up to the sale and each SKU's live holds' units == its held."""
    items: list[StockAudit] | None = None
    """A sale with SKUs: each SKU's stock_added == remaining + held + sold + withdrawn (absent otherwise)."""
    quotas: list[StockAudit] | None = None
    """A sale with SKUs: each quota's cap == remaining + held + sold + withdrawn."""


class SkuReconciliation(msgspec.Struct):
    sku: str
    redis_sold: int
    db_sold: int
    """Units of this SKU in the lines of PostgreSQL's confirmed orders."""


class Reconciliation(msgspec.Struct, omit_defaults=True):
    """Redis and PostgreSQL compared for one sale; ``ok`` when the export is caught up and both agree (on a sale
    of SKUs, per SKU too: ``items``, absent for a one-stock sale)."""

    sale_id: str
    ok: bool
    redis_sold: int
    db_sold: int
    export_lag: int
    missing_in_db: list[str]
    missing_in_redis: list[str]
    items: list[SkuReconciliation] | None = None


class RepairReport(msgspec.Struct):
    """What a repair re-applied, and the reconciliation right after it (``after.export_lag`` counts the
    restored copies until the exporter acknowledges them)."""

    sale_id: str
    restored: int
    already_present: int
    key_reused: int
    remaining: int
    restored_ids: list[str]
    after: Reconciliation | None


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


class AuditController(Controller):
    path = "/admin/sales"
    tags = ["admin"]
    security = [{"bearer": []}]

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
        responses=p.responses(*p.DOC_ADMIN_AUTH, *RECONCILE_ERRORS),
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
        responses=p.responses(*p.DOC_ADMIN_AUTH, *RECONCILE_ERRORS),
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
        responses=p.responses(*p.DOC_ADMIN_AUTH, *p.DOC_ON_A_SALE),
    )
    async def audit(self, sale_id: SaleIdParam, inventory: InventoryDep) -> Audit:
        return audit_view(await read_snapshot(inventory, sale_id, audit=True))


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
