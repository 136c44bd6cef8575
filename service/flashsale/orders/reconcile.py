"""Reconciliation: does PostgreSQL hold exactly the orders Redis sold? And the repair after a failover.

Redis side: the sale's ``sold`` and its ledger (order ids, a repaired copy counted under its original id);
PostgreSQL side: the sale's rows. ``missing_in_db`` lists orders the export group acknowledged that PostgreSQL
does not have (entries still waiting for export are the ``export_lag``, not missing); ``missing_in_redis``
lists orders PostgreSQL has and the ledger lost (an asynchronously replicated failover). ``ok``: caught up and
both sides agree. On a sale of SKUs they must also agree per SKU: Redis's sold units of each SKU against the
lines of PostgreSQL's confirmed orders (``items``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from flashsale.inventory import Inventory
from flashsale.inventory.replies import RestoredOrder
from flashsale.orders.db import OrderStore
from flashsale.orders.ledger import STREAM_ID
from flashsale.orders.stream import backlog, unexported_ids

REPAIR_CHUNK = 1000
"""Orders per repair script call: each call is atomic and idempotent, so a larger repair is several calls
(keeping one script's run, and Redis's pause, short)."""


def stream_order(order_id: str) -> tuple[int, ...]:
    """Sort key of order ids in ledger order (``<ms>-<seq>`` compared as numbers)."""
    return tuple(int(part) for part in order_id.split("-"))


@dataclass(frozen=True, slots=True)
class SkuReconciliation:
    sku: str
    redis_sold: int
    db_sold: int


@dataclass(frozen=True, slots=True)
class Reconciliation:
    sale_id: str
    ok: bool
    redis_sold: int
    db_sold: int
    export_lag: int
    missing_in_db: list[str]
    missing_in_redis: list[str]
    items: list[SkuReconciliation] = field(default_factory=list)
    """A sale of SKUs: sold units of each SKU on both sides (empty for a one-stock sale)."""


@dataclass(frozen=True, slots=True)
class Repair:
    sale_id: str
    restored: int
    already_present: int
    key_reused: int
    remaining: int
    restored_ids: list[str] = field(default_factory=list)
    after: Reconciliation | None = None


async def reconcile(inventory: Inventory, store: OrderStore, sale_id: str) -> Reconciliation | None:
    """None for an unknown sale."""
    snapshot = await inventory.read(sale_id)
    if snapshot is None:
        return None
    in_redis = await inventory.ledger_orders(sale_id)
    client = inventory.client
    waiting = await inventory._call(unexported_ids(client, sale_id))
    lag = (await inventory._call(backlog(client, sale_id))).entries
    stored = await store.sale_orders(sale_id)
    db_sold = sum(o.quantity for o in stored.values() if o.status == "confirmed")
    if waiting is None:  # never exported: everything is lag, nothing is missing yet
        missing_in_db: list[str] = []
    else:
        missing_in_db = sorted(
            (o for o, entry in in_redis.items() if o not in stored and entry not in waiting), key=stream_order
        )
    missing_in_redis = sorted(
        (o for o, row in stored.items() if o not in in_redis and row.status == "confirmed"), key=stream_order
    )
    items: list[SkuReconciliation] = []
    if snapshot.skus:
        db_skus = await store.sku_sold(sale_id)
        items = [SkuReconciliation(k.name, k.sold, db_skus.get(k.name, 0)) for k in snapshot.skus]
    ok = (
        lag == 0
        and not missing_in_db
        and not missing_in_redis
        and snapshot.sold == db_sold
        and all(i.redis_sold == i.db_sold for i in items)
    )
    return Reconciliation(sale_id, ok, snapshot.sold, db_sold, lag, missing_in_db, missing_in_redis, items)


async def repair(inventory: Inventory, store: OrderStore, sale_id: str) -> Repair | None:
    """Re-apply every confirmed order PostgreSQL has and the ledger lacks. Safe to call any number of times,
    concurrently too: the script skips orders the ledger already holds. None for an unknown sale."""
    if await inventory.read(sale_id) is None:
        return None
    in_redis = await inventory.ledger_orders(sale_id)
    stored = await store.sale_orders(sale_id)
    ttl_ms = inventory.settings.idempotency_ttl_s * 1000
    now_ms = int(time.time() * 1000)
    lost = [
        RestoredOrder(
            o.order_id,
            o.buyer_id,
            o.quantity,
            o.created_ms,
            o.idempotency_key,
            max(0, math.ceil((o.created_ms + ttl_ms - now_ms) / 1000)),
            o.lines,
        )
        for o in sorted(stored.values(), key=lambda o: stream_order(o.order_id))
        if o.status == "confirmed" and o.order_id not in in_redis and STREAM_ID.match(o.order_id)
    ]
    restored = present = reused = 0
    remaining = 0
    ids: list[str] = []
    for start in range(0, max(len(lost), 1), REPAIR_CHUNK):
        result = await inventory.restore_orders(sale_id, lost[start : start + REPAIR_CHUNK])
        if result is None:
            return None
        restored += result.restored
        present += result.present
        reused += result.key_reused
        remaining = result.remaining
        ids.extend(result.restored_ids)
    after = await reconcile(inventory, store, sale_id)
    return Repair(sale_id, restored, present, reused, remaining, ids, after)
