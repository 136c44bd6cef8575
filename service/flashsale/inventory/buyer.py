"""The buyer's hot path: purchase, hold, confirm, release and the buyer's own reads.

Each step is one script call and one round trip (plus ``WAIT`` in replicated mode), however many lines it
carries; nothing here awaits anything but that call.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time

from flashsale.inventory.core import EngineCore
from flashsale.inventory.keys import HOLD_ID_PATTERN, buyer_tag, sale_keys
from flashsale.inventory.memo import SoldOut
from flashsale.inventory.outcomes import Outcome
from flashsale.inventory.records import OrderRecord
from flashsale.inventory.replication import (
    CONFIRM_WRITES,
    HOLD_WRITES,
    PURCHASE_WRITES,
    RELEASE_WRITES,
    purchase_replay_rewrite,
)
from flashsale.inventory.replies import (
    HoldResult,
    OrderView,
    PurchaseResult,
    confirm_reply,
    hold_reply,
    purchase_reply,
    read_hold_reply,
    read_orders_reply,
    release_reply,
)
from flashsale.inventory.skus import Line, encode_lines

UNSAFE_WORK_S = 0.02
"""What the unsafe demo path awaits between reading the stock and writing it back."""

_HOLD_ID = re.compile(HOLD_ID_PATTERN)


class BuyerPath(EngineCore):
    """The steps a buyer's request makes: each one script call under the buyer path's deadline."""

    async def purchase(
        self,
        sale_id: str,
        buyer_id: str,
        quantity: int,
        idempotency_key: str,
        admission: str = "",
        facts: str = "",
        tag: str | None = None,
        lines: tuple[Line, ...] = (),
    ) -> PurchaseResult:
        """One atomic purchase attempt: one script call, one round trip (plus WAIT in replicated mode), however
        many lines.

        ``admission``: the jti of a verified admission token (sales with a waiting room), spent by the same
        script that sells. ``facts``: the buyer's verified facts for the sale's eligibility rules; ``tag``: the
        buyer's key digest (``keys.buyer_tag``, computed here when the caller has none cached). ``lines``: (sku,
        quantity) pairs with distinct SKUs for a sale with SKUs (``quantity`` is then their sum), empty for a
        one-stock sale: every line sells, or none."""
        if self.memo is not None:
            hit = self.memo.lookup(sale_id, idempotency_key, buyer_id, quantity, lines)
            # In replicated mode a replay must be confirmed by the replicas too: only "sold out" is answered
            # from memory there, a replay goes to Redis (replication.py).
            if hit is not None and not (self._replication is not None and hit[0] is Outcome.REPLAYED):
                return _from_memo(*hit)
        k = sale_keys(sale_id)
        orders_of = k.buyer_orders(tag or buyer_tag(buyer_id))
        keys = (k.sale, k.buyers, k.orders, k.idem(idempotency_key), k.holds, k.hold_expiry, k.admissions, orders_of)
        text = encode_lines(lines)
        args = (buyer_id, quantity, idempotency_key, self._ttl, self._reclaim, admission, facts, text)
        reply = await self._run(self.scripts.purchase, keys, args, PURCHASE_WRITES, purchase_replay_rewrite)
        result = purchase_reply(reply, buyer_id, quantity, text)
        # Only a SKU (or a one-stock sale, SKU "") with nothing held is memoised as sold out: a live hold may
        # expire and put units back.
        if result.outcome is Outcome.SOLD_OUT and self.memo is not None and result.remaining == 0 and result.held == 0:
            self.memo.sold_out(sale_id, result.ledger_length, result.sku, result.quota)
        return result

    async def purchase_unsafe(self, sale_id: str, buyer_id: str, quantity: int) -> PurchaseResult:
        """The naive read-modify-write purchase, kept to show the oversell. Demo mode only.

        Between reading the stock and writing it back, every other buyer's request runs too: they all see
        the same stock and all succeed. No limit, no idempotency, no atomicity: never use this.
        """
        k = sale_keys(sale_id)

        async def read_modify_write() -> PurchaseResult:
            raw = await self.client.hget(k.sale, "remaining")
            if raw is None:
                return PurchaseResult(Outcome.UNKNOWN_SALE)
            remaining = int(raw)
            if remaining < quantity:
                return PurchaseResult(Outcome.SOLD_OUT, remaining=remaining)
            # The "await" of read-modify-write: the work a naive handler does between reading and writing
            # (a payment or fraud check), here 20 ms. Every other buyer's request reads the same stock meanwhile.
            await asyncio.sleep(UNSAFE_WORK_S)
            await self.client.hset(k.sale, "remaining", remaining - quantity)
            await self.client.hincrby(k.sale, "sold", quantity)
            await self.client.hincrby(k.sale, "orders", 1)
            now_ms = int(time.time() * 1000)
            order_id = await self.client.xadd(
                k.orders,
                {"kind": "order", "buyer": buyer_id, "quantity": quantity, "created_ms": now_ms, "key": ""},
            )
            return PurchaseResult(Outcome.SOLD, order_id, now_ms, buyer_id, quantity, remaining - quantity)

        return await self._deadline.run(read_modify_write())

    async def hold(
        self,
        sale_id: str,
        buyer_id: str,
        quantity: int,
        idempotency_key: str,
        admission: str = "",
        facts: str = "",
        lines: tuple[Line, ...] = (),
    ) -> HoldResult:
        """Reserve units until the sale's hold TTL runs out: one script call, one round trip, every line or none.

        Never consults the sold-out memo: a sale sold out a moment ago may have units back from expired holds,
        and a hold's replay lives in its own record, which the memo does not know.
        """
        k = sale_keys(sale_id)
        keys = (*k.hold_keys, k.hold_idem(idempotency_key), k.admissions)
        text = encode_lines(lines)
        args = (buyer_id, quantity, self._ttl, secrets.token_hex(16), self._reclaim, admission, facts, text)
        return hold_reply(await self._run(self.scripts.hold, keys, args, HOLD_WRITES), buyer_id, quantity, text)

    async def confirm(
        self, sale_id: str, hold_id: str, buyer_id: str, payment_ref: str = "", tag: str | None = None
    ) -> HoldResult:
        """Turn the buyer's live hold into an order (a ledger entry), once; a hold past its expiry is a
        ``hold_expired``; another buyer's hold is an ``unknown_hold``."""
        if not _HOLD_ID.match(hold_id):
            return HoldResult(Outcome.UNKNOWN_HOLD, hold_id)
        k = sale_keys(sale_id)
        keys = (*k.hold_keys, k.orders, k.buyer_orders(tag or buyer_tag(buyer_id)))
        reply = await self._run(self.scripts.confirm, keys, (hold_id, payment_ref, buyer_id), CONFIRM_WRITES)
        return confirm_reply(reply, hold_id)

    async def release(self, sale_id: str, hold_id: str, buyer_id: str) -> HoldResult:
        """Give the buyer's hold up (another buyer's hold is an ``unknown_hold``)."""
        if not _HOLD_ID.match(hold_id):
            return HoldResult(Outcome.UNKNOWN_HOLD, hold_id)
        k = sale_keys(sale_id)
        reply = await self._run(self.scripts.release, k.hold_keys, (hold_id, buyer_id), RELEASE_WRITES)
        return release_reply(reply, hold_id)

    async def read_hold(self, sale_id: str, hold_id: str, buyer_id: str) -> HoldResult:
        """The buyer's hold (another buyer's hold is an ``unknown_hold``; "" as ``buyer_id`` reads anyone's)."""
        if not _HOLD_ID.match(hold_id):
            return HoldResult(Outcome.UNKNOWN_HOLD, hold_id)
        k = sale_keys(sale_id)
        return read_hold_reply(await self._run(self.scripts.read_hold, k.hold_keys, (hold_id, buyer_id)), hold_id)

    async def orders_of(
        self, sale_id: str, buyer_id: str, order_id: str = "", newest: int = 100, tag: str | None = None
    ) -> list[OrderView] | None:
        """The buyer's orders in a sale (the newest ``newest``), or the one ``order_id`` if it is theirs: one
        script call. None for an unknown sale."""
        k = sale_keys(sale_id)
        keys = (k.sale, k.orders, k.cancelled, k.restored, k.buyer_orders(tag or buyer_tag(buyer_id)))
        return read_orders_reply(await self._run(self.scripts.read_orders, keys, (buyer_id, order_id, newest)))


def _from_memo(outcome: Outcome, order: OrderRecord | None, line: int, sku: str, why: SoldOut | None) -> PurchaseResult:
    """The answer the sold-out memo gives without a round trip: a sold out, or the replay of a recorded order."""
    if order is None:
        quota = why.quota if why is not None else ""
        return PurchaseResult(outcome, remaining=0, line=line, sku=sku, quota=quota)
    order_id, buyer_id, quantity, created_ms, lines = order
    if outcome is Outcome.REPLAYED:
        return PurchaseResult(outcome, order_id, created_ms, buyer_id, quantity, lines=lines)
    return PurchaseResult(outcome, buyer_id=buyer_id, quantity=quantity)
