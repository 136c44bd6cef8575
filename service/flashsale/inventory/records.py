"""The purchase idempotency record, encoded and decoded here (and, on the Lua side, only in lua/idemlib.lua).

Stored under ``fs:{<sale>}:idem:<Idempotency-Key>`` with the idempotency TTL:
``"<order_id>\\t<buyer>\\t<quantity>\\t<created_ms>"``, followed by ``"\\t<lines>"`` for an order of a sale's SKUs
(the lines text of inventory/skus.py). Buyer ids and keys never contain a tab (their patterns in api/schemas.py
forbid it), so the tab separator needs no escaping. A hold's idempotency record (``fs:{<sale>}:hold-idem:<key>``)
is just the hold id; the hold record itself is in lua/holdlib.lua.
"""

from __future__ import annotations

from typing import NamedTuple


class OrderRecord(NamedTuple):
    order_id: str
    buyer_id: str
    quantity: int
    created_ms: int
    lines: str = ""
    """The order's lines text ("" for a one-stock order)."""


def encode_order(record: OrderRecord) -> str:
    raw = f"{record.order_id}\t{record.buyer_id}\t{record.quantity}\t{record.created_ms}"
    return f"{raw}\t{record.lines}" if record.lines else raw


def decode_order(raw: str) -> OrderRecord:
    order_id, buyer_id, quantity, created_ms, *lines = raw.split("\t")
    return OrderRecord(order_id, buyer_id, int(quantity), int(created_ms), lines[0] if lines else "")
