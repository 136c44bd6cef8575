"""The sold-out memo: once a worker has seen a sale sold out, it answers from memory, without Redis.

A plain "sold out" flag would break idempotent replays: a buyer retrying (after a 503) a request that did
buy must get its order back, not a 409. Every order of a sale is in its ledger, with its Idempotency-Key,
so when a sale sells out the memo reads the ledger once (in the background, in pages; later only the new
entries) and then answers both cases from memory: a key in the ledger replays its order exactly as the
script would (or 422 for another buyer or quantity), any other key gets 409 sold out.

The memo is trusted for ``ttl_s`` after the last sold-out answer from Redis, and only when the ledger it
holds has as many entries as Redis counted orders. A restock through this worker drops it at once; a
restock through another worker is seen at most ``ttl_s`` late, and stale memory only ever refuses. Sales
with more than ``max_orders`` orders are never memoised (memory bound); they always ask Redis.

Holds: the memo is filled only when Redis answered "sold out" with no unit held (a live hold may expire and
put its units back, which only a script run can see), and it never answers a hold or a confirm (engine.py).
Ledger entries without an Idempotency-Key (confirmed holds, cancellations) are counted but not indexed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from flashsale.inventory.keys import sale_keys
from flashsale.inventory.outcomes import Outcome
from flashsale.inventory.records import OrderRecord

LEDGER_PAGE = 5000


@dataclass(slots=True)
class _Ledger:
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    """Idempotency-Key -> its order."""
    entries: int = 0
    last_id: str = "-"
    trusted_until: float = 0.0
    loading: asyncio.Task[None] | None = None


class SoldOutMemo:
    def __init__(self, client: Any, ttl_s: float, deadline_s: float, max_orders: int = 100_000) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.deadline_s = deadline_s
        self.max_orders = max_orders
        self._sales: dict[str, _Ledger] = {}

    def lookup(self, sale_id: str, key: str, buyer_id: str, quantity: int) -> tuple[Outcome, OrderRecord | None] | None:
        """The memo's answer, or None when Redis must be asked."""
        ledger = self._sales.get(sale_id)
        if ledger is None or ledger.trusted_until <= time.monotonic():
            return None
        order = ledger.orders.get(key)
        if order is None:
            return Outcome.SOLD_OUT, None
        if order[1] != buyer_id or order[2] != quantity:
            return Outcome.IDEMPOTENCY_CONFLICT, order
        return Outcome.REPLAYED, order

    def sold_out(self, sale_id: str, orders: int) -> None:
        """Redis just answered "sold out" with ``orders`` orders in the ledger: trust the memo, or fill it."""
        if orders > self.max_orders:
            return
        ledger = self._sales.setdefault(sale_id, _Ledger())
        if ledger.entries == orders:
            ledger.trusted_until = time.monotonic() + self.ttl_s
        elif ledger.loading is None or ledger.loading.done():
            ledger.loading = asyncio.get_running_loop().create_task(self._load(sale_id, ledger, orders))

    def forget(self, sale_id: str) -> None:
        ledger = self._sales.pop(sale_id, None)
        if ledger is not None and ledger.loading is not None:
            ledger.loading.cancel()

    async def _load(self, sale_id: str, ledger: _Ledger, orders: int) -> None:
        stream = sale_keys(sale_id).orders
        try:
            while ledger.entries < orders:
                start = "-" if ledger.last_id == "-" else "(" + ledger.last_id
                async with asyncio.timeout(self.deadline_s * 4):
                    page = await self.client.xrange(stream, min=start, max="+", count=LEDGER_PAGE)
                if not page:
                    break
                for entry_id, entry in page:
                    key = entry.get("key", "")
                    if key:
                        # A repaired order's copy names the original order id (inventory/lua/repair.lua).
                        ledger.orders[key] = OrderRecord(
                            entry.get("order_id") or entry_id,
                            entry.get("buyer", ""),
                            int(entry.get("quantity", 0)),
                            int(entry.get("created_ms", 0)),
                        )
                    ledger.entries += 1
                    ledger.last_id = entry_id
        except Exception:
            return
        if ledger.entries == orders:
            ledger.trusted_until = time.monotonic() + self.ttl_s
