"""Ledger entries as the exporter reads them: one decoder for every kind of entry, tolerant of fields it does
not know.

The purchase script writes ``buyer``, ``quantity``, ``created_ms``, ``key`` (the Idempotency-Key) and, for an order
of a sale's SKUs, ``lines`` (inventory/skus.py; they become rows of ``order_lines``). A repair
(``reconcile/repair``) re-appends a lost order under a new stream id and names the original in ``order_id``;
the holds work may add ``kind``/``status`` (hold confirmations, cancellations) and an ``order_id`` naming the
order the entry is about. Every entry becomes one row keyed by that order id; a later entry about the same
order can only move its status forward (``held`` -> ``confirmed`` -> ``cancelled``), so replays and
re-deliveries in any order leave the same row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from flashsale.digest import key_digest
from flashsale.inventory.skus import decode_lines

STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
"""A Redis stream entry id (``<ms>-<seq>``): the only shape an order id has."""

STATUSES = ("held", "confirmed", "cancelled")
"""Order states in PostgreSQL, in the only order a row may move through them."""

_STATUS_WORDS = {
    "held": "held",
    "hold": "held",
    "pending": "held",
    "confirmed": "confirmed",
    "confirm": "confirmed",
    "sold": "confirmed",
    "purchase": "confirmed",
    "order": "confirmed",
    "restored": "confirmed",
    "hold_confirmed": "confirmed",
    "paid": "confirmed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "cancel": "cancelled",
    "hold_cancelled": "cancelled",
    "released": "cancelled",
    "release": "cancelled",
    "hold_released": "cancelled",
    "expired": "cancelled",
    "hold_expired": "cancelled",
    "refunded": "cancelled",
    "refund": "cancelled",
}
"""Words a ledger entry's ``status`` or ``kind`` may carry, mapped to the three statuses. An unknown word is an
order (``confirmed``): every entry the purchase script writes sold units."""


class BadEntry(ValueError):
    """A ledger entry without the fields an order needs (buyer, a positive quantity)."""


@dataclass(frozen=True, slots=True)
class OrderRow:
    order_id: str
    sale_id: str
    buyer_id: str
    quantity: int
    created_at: datetime
    idempotency_key: str
    key_digest: str
    status: str
    ledger_id: str
    """The stream entry the row was read from (differs from ``order_id`` for a repaired order)."""
    lines: tuple[tuple[str, int], ...] = ()
    """(sku, quantity) of an order of a sale's SKUs (the entry's ``lines``), empty for a one-stock order."""


def order_id_of(entry_id: str, fields: dict[str, str]) -> str:
    """The order an entry is about: its own stream id, or the original one it names (repair, holds)."""
    named = fields.get("order_id", "")
    return named if STREAM_ID.match(named) else entry_id


def status_of(fields: dict[str, str]) -> str:
    for name in ("status", "kind"):
        word = fields.get(name, "").strip().lower()
        if word in _STATUS_WORDS:
            return _STATUS_WORDS[word]
    return "confirmed"


def decode(sale_id: str, entry_id: str, fields: dict[str, str]) -> OrderRow:
    buyer = fields.get("buyer") or fields.get("buyer_id") or ""
    try:
        quantity = int(fields.get("quantity", ""))
    except ValueError:
        quantity = 0
    if not buyer or quantity <= 0:
        raise BadEntry(f"ledger entry {entry_id} of sale {sale_id} has no buyer or quantity")
    try:
        lines = decode_lines(fields.get("lines", ""))
    except ValueError:
        raise BadEntry(f"ledger entry {entry_id} of sale {sale_id} has unreadable lines") from None
    if lines and (sum(q for _, q in lines) != quantity or min(q for _, q in lines) <= 0):
        raise BadEntry(f"ledger entry {entry_id} of sale {sale_id}: its lines do not add up to its quantity")
    try:
        created_ms = int(fields.get("created_ms", ""))
    except ValueError:
        created_ms = int(entry_id.split("-", 1)[0])
    key = fields.get("key", "")
    return OrderRow(
        order_id=order_id_of(entry_id, fields),
        sale_id=sale_id,
        buyer_id=buyer,
        quantity=quantity,
        created_at=datetime.fromtimestamp(created_ms / 1000, tz=UTC),
        idempotency_key=key,
        key_digest=key_digest(key) if key else "",
        status=status_of(fields),
        ledger_id=entry_id,
        lines=lines,
    )
