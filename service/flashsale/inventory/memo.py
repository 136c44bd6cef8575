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
put its units back, which only a script run can see), and it never answers a hold or a confirm (buyer.py).
Ledger entries without an Idempotency-Key (confirmed holds, cancellations) are counted but not indexed.

Sales with SKUs: the memo works per SKU. Redis's "sold out" names the line whose SKU (or one of whose quotas)
had no unit left and none held; from then on a request with a line on that SKU is answered from memory, while
requests for other SKUs still go to Redis and sell. A one-stock sale is the SKU ``""``. Every order that holds a
sold-out SKU was made before Redis said so (only a restock or a cancellation puts units back, and both drop the
memo), so once the ledger is read up to that answer's length, the memo replays every such order exactly as the
script would. A key reused with other lines than its order's is answered 409 here where the script says 422:
both refuse and neither sells.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flashsale.inventory.deadline import Deadline
from flashsale.inventory.keys import sale_keys
from flashsale.inventory.outcomes import Outcome
from flashsale.inventory.records import OrderRecord
from flashsale.inventory.skus import Line, encode_lines

LEDGER_PAGE = 5000


@dataclass(frozen=True, slots=True)
class SoldOut:
    """What Redis said when a SKU sold out: trusted until ``trusted_until`` once the ledger is read to ``needed``."""

    trusted_until: float
    needed: int
    quota: str = ""
    """The quota that had no unit left, or "" when the SKU itself had none."""


@dataclass(slots=True)
class _Ledger:
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    """Idempotency-Key -> its order."""
    entries: int = 0
    last_id: str = "-"
    sold_out: dict[str, SoldOut] = field(default_factory=dict)
    """SKU ("" for a one-stock sale) -> Redis's last sold-out answer for it."""
    loading: asyncio.Task[None] | None = None


MemoHit = tuple[Outcome, OrderRecord | None, int, str, SoldOut | None]
"""(outcome, the order replayed or conflicting, the line sold out, its SKU, why)."""


class SoldOutMemo:
    def __init__(self, client: Any, ttl_s: float, deadline: Deadline, max_orders: int = 100_000) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.deadline = deadline
        self.max_orders = max_orders
        self._sales: dict[str, _Ledger] = {}

    def lookup(
        self, sale_id: str, key: str, buyer_id: str, quantity: int, lines: Sequence[Line] = ()
    ) -> MemoHit | None:
        """The memo's answer, or None when Redis must be asked: ``lines`` empty for a one-stock request."""
        ledger = self._sales.get(sale_id)
        if ledger is None:
            return None
        found = self._first_sold_out(ledger, [s for s, _ in lines] or [""])
        if found is None:
            return None
        index, sku, why = found
        order = ledger.orders.get(key)
        if order is None:
            return Outcome.SOLD_OUT, None, index if lines else -1, sku, why
        if order.buyer_id != buyer_id or order.quantity != quantity or order.lines != encode_lines(lines):
            return Outcome.IDEMPOTENCY_CONFLICT, order, -1, "", None
        return Outcome.REPLAYED, order, -1, "", None

    @staticmethod
    def _first_sold_out(ledger: _Ledger, skus: list[str]) -> tuple[int, str, SoldOut] | None:
        """The first SKU the memo may answer "sold out" for now, with its index among ``skus``."""
        now = time.monotonic()
        for index, sku in enumerate(skus):
            why = ledger.sold_out.get(sku)
            if why is not None and why.trusted_until > now and ledger.entries >= why.needed:
                return index, sku, why
        return None

    def sold_out(self, sale_id: str, orders: int, sku: str = "", quota: str = "") -> None:
        """Redis just answered "sold out" for ``sku`` ("" for a one-stock sale; ``quota`` when one of its quotas
        had no unit left) with ``orders`` entries in the ledger: trust the memo for it, reading the ledger to
        there first when the memo has not."""
        if orders > self.max_orders:
            return
        ledger = self._sales.setdefault(sale_id, _Ledger())
        ledger.sold_out[sku] = SoldOut(time.monotonic() + self.ttl_s, orders, quota)
        if ledger.entries < orders and (ledger.loading is None or ledger.loading.done()):
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
                read = self.client.xrange(stream, min=start, max="+", count=LEDGER_PAGE)
                page = await self.deadline.run(read, self.deadline.slow_seconds)
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
                            entry.get("lines", ""),
                        )
                    ledger.entries += 1
                    ledger.last_id = entry_id
        except Exception:
            return
