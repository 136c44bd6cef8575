"""Reads and administration: create, restock, close and delete a sale, cancel and restore orders, reap holds.

None of this is on the buyer path: each call runs on the longer deadline of ``EngineCore._call`` (cancellation
excepted: it is a buyer-visible write, so it waits for the replicas like the hold steps).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from typing import Any

from flashsale.inventory.core import EngineCore
from flashsale.inventory.deadline import Unavailable
from flashsale.inventory.keys import ORDER_ID_PATTERN, QUEUES_INDEX, SALES_INDEX, queue_keys, sale_keys
from flashsale.inventory.outcomes import Outcome
from flashsale.inventory.replication import CANCEL_WRITES
from flashsale.inventory.replies import (
    CancelResult,
    RepairResult,
    RestoredOrder,
    SaleSnapshot,
    cancel_order_reply,
    read_sale_reply,
    reap_reply,
    repair_reply,
    restock_reply,
)
from flashsale.inventory.room import QueueConfig, default_max_places
from flashsale.inventory.skus import Item, Quota

REAP_PER_CALL = 1000
"""Expired holds one reaper call reclaims at most: bounded so a call stays well under a millisecond."""
REAP_INTERVAL_S = 1.0
"""How often the background reaper tidies every sale (it only matters for sales nobody is buying from)."""
HOLD_TTL_S_DEFAULT = 600
QUEUED_SALE_OPEN_S = 7 * 86_400
"""How long a sale with a waiting room and no ``closes_at`` stays open (from its open): a room has an end, so its
tickets and keys have one too (docs/decisions.md)."""

_ORDER_ID = re.compile(ORDER_ID_PATTERN)


class Administration(EngineCore):
    """The operator's and the workers' calls: sale lifecycle, order repair, the reaper, readiness."""

    async def read(self, sale_id: str, audit: bool = False) -> SaleSnapshot | None:
        """A consistent snapshot (expired holds reclaimed first, up to RECLAIM_PER_CALL). ``audit`` also sums the
        live holds' units, O(live holds), to check them against ``held``."""
        k = sale_keys(sale_id)
        args = (self._reclaim, "1" if audit else "0")
        reply = await self._call(self.scripts.read_sale.run(self.client, (*k.hold_keys, k.orders), args))
        return read_sale_reply(sale_id, reply)

    async def create_sale(
        self,
        sale_id: str,
        name: str,
        stock: int,
        per_buyer_limit: int = 0,
        opens_ms: int | None = None,
        closes_ms: int | None = None,
        hold_ttl_s: int = HOLD_TTL_S_DEFAULT,
        queue: QueueConfig | None = None,
        eligibility: str = "",
        items: tuple[Item, ...] = (),
        quotas: tuple[Quota, ...] = (),
    ) -> bool:
        """Create a sale; False if one with this id exists already (it is left untouched).

        With ``queue`` the waiting room is made first (on its own slot, with a fresh random room id), so no
        purchase can meet a sale flagged ``queued`` whose room does not exist yet. A queued sale without
        ``closes_ms`` closes QUEUED_SALE_OPEN_S after its open; the room's keys expire the sale's retention
        (FLASHSALE_QUEUE_RETENTION_S) after that. With ``items`` (checked by ``skus.check_catalogue``) the sale has
        those SKUs and ``quotas``; ``stock`` is then ignored (the sale's stock is the sum of its items')."""
        if items:
            stock = sum(i.stock for i in items)
        k = sale_keys(sale_id)
        room = ""
        if queue is not None and queue.units_per_admission < 1:
            raise ValueError("a waiting room admits at least one unit per admission")
        if queue is not None and closes_ms is None:
            closes_ms = (opens_ms if opens_ms is not None else int(time.time() * 1000)) + QUEUED_SALE_OPEN_S * 1000
        expires_ms = 0 if closes_ms is None else closes_ms + self.settings.queue_retention_s * 1000
        if queue is not None and not await self._call(self.client.exists(k.sale)):
            room = await self._create_room(sale_id, stock, queue, opens_ms, closes_ms, expires_ms, eligibility)
        args: tuple[str | int, ...] = (
            name,
            stock,
            per_buyer_limit,
            "" if opens_ms is None else opens_ms,
            "" if closes_ms is None else closes_ms,
            hold_ttl_s * 1000,
            "0" if queue is None else "1",
            0 if queue is None else queue.units_per_admission,
            room,
            eligibility,
        )
        if items:
            args += (
                len(items),
                *(v for i in items for v in (i.sku, i.stock, i.per_buyer_limit)),
                len(quotas),
                *(v for q in quotas for v in (q.name, q.cap, ",".join(q.skus))),
            )
        created = bool(await self._call(self.scripts.create_sale.run(self.client, (k.sale,), args)))
        if created:
            await self._call(self.client.sadd(SALES_INDEX, sale_id))
            if queue is not None:
                await self._call(self.client.zadd(QUEUES_INDEX, {sale_id: expires_ms}))
            self._forget(sale_id)
        return created

    async def _create_room(
        self,
        sale_id: str,
        stock: int,
        queue: QueueConfig,
        opens_ms: int | None,
        closes_ms: int | None,
        expires_ms: int,
        eligibility: str,
    ) -> str:
        """The sale's waiting room (lua/queue_create.lua): the id of the room in effect, new or existing. It
        keeps the sale's ``eligibility`` rules, so a buyer the sale would refuse gets no place in its line."""
        q = queue_keys(sale_id)
        args = (
            queue.mode,
            queue.admit_rate,
            queue.max_active,
            queue.token_ttl_s * 1000,
            "" if opens_ms is None else opens_ms,
            eligibility,
            queue.commitment,
            queue.room or secrets.token_urlsafe(9),
            queue.kid,
            closes_ms,
            expires_ms,
            queue.max_places or default_max_places(stock, queue.units_per_admission),
            secrets.token_hex(16),
        )
        return str(await self._call(self.scripts.queue_create.run(self.client, (q.conf,), args)))

    async def restock(self, sale_id: str, units: int, sku: str = "") -> int | None:
        """Add units (to one SKU of a sale with SKUs); returns the new remaining stock (of that SKU), None for an
        unknown sale, -1 when ``sku`` is not one of the sale's (or is missing on a sale with SKUs, or given for a
        one-stock sale)."""
        k = sale_keys(sale_id)
        remaining = restock_reply(await self._call(self.scripts.restock.run(self.client, (k.sale,), (units, sku))))
        self._forget(sale_id)
        return remaining

    async def close_sale(self, sale_id: str) -> bool:
        """Stop selling now (lua/close_sale.lua); False for an unknown sale."""
        k = sale_keys(sale_id)
        return bool(await self._call(self.scripts.close_sale.run(self.client, (k.sale,), ())))

    async def delete_sale(self, sale_id: str, ledger_length: int | None = None) -> bool | None:
        """Delete a sale, its ledger, holds, buyer counts and idempotency records (SCAN; admin only).

        With ``ledger_length`` (what the caller saw when it found every entry exported) the sale is first
        retired atomically only if its ledger still has that length (``retire_sale.lua``): None when it grew
        meanwhile (nothing deleted), so no order appended after the check is deleted unexported."""
        k = sale_keys(sale_id)
        if ledger_length is not None:
            retired = int(
                await self._call(
                    self.scripts.retire_sale.run(self.client, (k.sale, k.orders, k.holds), (ledger_length,))
                )
            )
            if retired == 0:
                return None
            existed = retired == 1
        else:
            existed = bool(await self._call(self.client.exists(k.sale)))
        idem_keys = [
            key
            for pattern in (k.idem_pattern, k.hold_idem_pattern, k.buyer_orders_pattern)
            async for key in self.client.scan_iter(match=pattern, count=1000)
        ]
        q = queue_keys(sale_id)
        for key in (*k.fixed, *q.fixed, *idem_keys):
            await self._call(self.client.delete(key))
        await self._call(self.client.srem(SALES_INDEX, sale_id))
        await self._call(self.client.zrem(QUEUES_INDEX, sale_id))
        self._forget(sale_id)
        return existed

    async def cancel_order(self, sale_id: str, order_id: str, restock: bool) -> CancelResult:
        """Cancel an order exactly once (admin); with ``restock`` its units go back on sale."""
        if not _ORDER_ID.match(order_id):
            return CancelResult(Outcome.UNKNOWN_ORDER, order_id)
        k = sale_keys(sale_id)
        keys = (k.sale, k.buyers, k.orders, k.cancelled, k.restored)
        reply = await self._run(self.scripts.cancel_order, keys, (order_id, "1" if restock else "0"), CANCEL_WRITES)
        result = cancel_order_reply(reply, order_id)
        if result.outcome is Outcome.CANCELLED and result.restock:
            self._forget(sale_id)
        return result

    async def ledger_orders(self, sale_id: str, page: int = 5000) -> dict[str, str]:
        """Every order the ledger holds: order id -> ledger entry id (they differ for a repaired order's copy,
        which names the original id in its ``order_id`` field). Paged XRANGE; admin and reconcile only."""
        stream = sale_keys(sale_id).orders
        out: dict[str, str] = {}
        start = "-"
        while True:
            entries = await self._call(self.client.xrange(stream, min=start, max="+", count=page))
            for entry_id, fields in entries:
                out[fields.get("order_id") or entry_id] = entry_id
            if len(entries) < page:
                return out
            start = "(" + entries[-1][0]

    async def restore_orders(self, sale_id: str, orders: list[RestoredOrder]) -> RepairResult | None:
        """Re-apply orders Redis lost, in one script call (``repair.lua``): each exactly once, however often this
        is called. None for an unknown sale."""
        k = sale_keys(sale_id)
        keys = (k.sale, k.buyers, k.orders, k.restored, *(k.idem(o.idempotency_key) for o in orders))
        args = [
            v
            for o in orders
            for v in (o.order_id, o.buyer_id, o.quantity, o.created_ms, o.idempotency_key, o.record_ttl_s, o.lines)
        ]
        result = repair_reply(await self._call(self.scripts.repair.run(self.client, keys, tuple(args))))
        if result is not None:
            self._forget(sale_id)
        return result

    async def reap(self, sale_id: str, limit: int = REAP_PER_CALL) -> tuple[int, int]:
        """Expire what ran out on one sale: (units reclaimed, live holds left)."""
        k = sale_keys(sale_id)
        return reap_reply(await self._call(self.scripts.reap.run(self.client, k.hold_keys, (limit,))))

    async def reap_forever(self, interval_s: float = REAP_INTERVAL_S) -> None:
        """The background reaper: every ``interval_s``, expire what ran out on every sale.

        Hold and purchase scripts reclaim expired holds themselves, so being late here never keeps a unit
        off sale for a buyer who asks; it keeps ``held`` and the gauges of quiet sales current. Every worker
        runs one: the script is atomic, so two reapers on one sale only find less to do.
        """
        while True:
            await asyncio.sleep(interval_s)
            with contextlib.suppress(Unavailable, ValueError):
                for sale_id in await self.sale_ids():
                    await self.reap(sale_id)

    async def sale_ids(self) -> list[str]:
        return sorted(await self._call(self.client.smembers(SALES_INDEX)))

    async def ready(self) -> bool:
        """Redis answers and knows the purchase script (loading it where a restart or flush dropped it)."""
        sha = self.scripts.purchase.sha
        exists = await self._call(self.client.script_exists(sha))
        if isinstance(exists, dict):
            exists = list(exists.values())
        if not all(bool(x) for x in _flatten(exists)):
            await self._call(self.client.script_load(self.scripts.purchase.source))
            exists = await self._call(self.client.script_exists(sha))
            if isinstance(exists, dict):
                exists = list(exists.values())
        return all(bool(x) for x in _flatten(exists))

    async def load_scripts(self) -> None:
        for script in self.scripts:
            await self._call(self.client.script_load(script.source))


def _flatten(value: Any) -> list[Any]:
    """A cluster client answers SCRIPT EXISTS per node: every answer, however nested."""
    if isinstance(value, list | tuple):
        return [item for v in value for item in _flatten(v)]
    return [value]
