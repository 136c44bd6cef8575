"""Redis key names. Every key of one sale carries the sale id as its hash tag, so all of them live in one
cluster slot and one script can touch them together on a single Redis or on Redis Cluster."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

SALE_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
"""URL-safe slug: lowercase letters, digits and inner dashes, 1 to 64 characters; never braces."""

SALES_INDEX = "fs:sales"
"""Set of live sale ids, read by the metrics collector, the hold reaper, the exporter and the CLI (not on the
purchase path)."""

_SALE_ID = re.compile(SALE_ID_PATTERN)

QUEUES_INDEX = "fs:rooms"
"""Sorted set of the sale ids that have a waiting room, scored by when the room's keys expire (ms): read by each
worker's admission controller (queue/controller.py), which drops the rooms past that score."""

ADMISSION_KEY_ID = "fs:admission-kid"
"""String: the id of the admission key the servers on this Redis sign with (queue/keyring.py; never the key)."""

EXPORT_GROUP = "export"
"""Consumer group that ``flashsale export`` reads each sale's ledger with; its lag and pending entries are the
orders not yet in PostgreSQL."""


def _glob_escape(text: str) -> str:
    return re.sub(r"([\[\]*?\\])", r"\\\1", text)


@dataclass(frozen=True, slots=True)
class SaleKeys:
    sale: str
    """Hash: stock and counters (lua/purchase.lua lists the fields)."""
    buyers: str
    """Hash: buyer id -> units held plus bought (what the per-buyer limit counts)."""
    orders: str
    """Stream: the ledger, one entry per order or cancellation (field ``kind``)."""
    idem_prefix: str
    """Purchase idempotency records (inventory/records.py)."""
    holds: str
    """Hash: hold id -> hold record (lua/holdlib.lua)."""
    hold_expiry: str
    """Sorted set: live hold ids scored by expiry (ms), so expired holds are found in O(log n)."""
    hold_idem_prefix: str
    """Hold idempotency records: Idempotency-Key -> hold id."""
    cancelled: str
    """Hash: order id -> its cancellation (makes a cancel happen once)."""
    restored: str
    """Hash: original order id -> ledger entry id of its copy, for orders re-applied by a reconcile repair."""
    admissions: str
    """Hash: admission token jti -> the order or hold that spent it (sales with a waiting room). On the sale's
    slot, not the queue's, because the purchase and hold scripts spend the jti in the same step as the sale."""
    buyer_orders_prefix: str
    """Lists: a buyer's order ids in this sale (``buyer_orders``), appended by purchase.lua and confirm.lua."""

    def buyer_orders(self, buyer_tag: str) -> str:
        """The buyer's order list; ``buyer_tag`` is a digest of the buyer id (identity.Buyer.tag), which keeps
        the key short and free of characters a claim may hold."""
        return self.buyer_orders_prefix + buyer_tag

    @property
    def buyer_orders_pattern(self) -> str:
        return _glob_escape(self.buyer_orders_prefix) + "*"

    def idem(self, idempotency_key: str) -> str:
        return self.idem_prefix + idempotency_key

    def hold_idem(self, idempotency_key: str) -> str:
        return self.hold_idem_prefix + idempotency_key

    @property
    def idem_pattern(self) -> str:
        """SCAN pattern of the sale's purchase and hold idempotency records (the key is glob-escaped)."""
        return _glob_escape(self.idem_prefix) + "*"

    @property
    def hold_idem_pattern(self) -> str:
        return _glob_escape(self.hold_idem_prefix) + "*"

    @property
    def hold_keys(self) -> tuple[str, str, str, str]:
        """The keys every hold script starts with, in this order: sale, buyers, holds, hold expiry."""
        return (self.sale, self.buyers, self.holds, self.hold_expiry)

    @property
    def fixed(self) -> tuple[str, ...]:
        """Every key of the sale except the idempotency records (those are found by SCAN)."""
        return (
            self.sale,
            self.buyers,
            self.orders,
            self.holds,
            self.hold_expiry,
            self.cancelled,
            self.restored,
            self.admissions,
        )


def _prefix(sale_id: str, tag: str) -> str:
    """``fs:{<tag>}:``, once the sale id is checked: every key of a sale starts with one of these."""
    if not _SALE_ID.match(sale_id):
        raise ValueError(f"not a sale id: {sale_id!r}")
    return f"fs:{{{tag}}}:"


def sale_keys(sale_id: str) -> SaleKeys:
    tag = _prefix(sale_id, sale_id)
    return SaleKeys(
        sale=tag + "sale",
        buyers=tag + "buyers",
        orders=tag + "orders",
        idem_prefix=tag + "idem:",
        holds=tag + "holds",
        hold_expiry=tag + "hold-expiry",
        hold_idem_prefix=tag + "hold-idem:",
        cancelled=tag + "cancelled",
        restored=tag + "restored",
        admissions=tag + "admissions",
        buyer_orders_prefix=tag + "buyer-orders:",
    )


def buyer_tag(buyer_id: str) -> str:
    """The digest that names a buyer's keys (``SaleKeys.buyer_orders``): 16 hex digits of BLAKE2b."""
    return hashlib.blake2b(buyer_id.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """A sale's waiting room. Its keys carry their own hash tag (``{<sale>:q}``: a sale id never holds a
    colon), so on Redis Cluster joins and the controller's reads land on another slot than the stock's."""

    conf: str
    """Hash: settings, counters and the seed (lua/queue_create.lua lists the fields)."""
    buyers: str
    """Hash: 16-byte digest of the buyer (queue/joinlog.py) -> join index (one place per buyer)."""
    admit_times: str
    """Sorted set of the admission steps: member ``<serving after>:<admissions spent then>``, score Redis ms."""
    join_log: str
    """String: the pre-queue's buyer digests, 16 bytes per join index, appended by joins before the open of a
    ``random_at_open`` room (the leaves of the join log's Merkle tree, queue/joinlog.py)."""

    @property
    def fixed(self) -> tuple[str, ...]:
        """Every key of the room (all of them expire with it, lua/queuelib.lua)."""
        return (self.conf, self.buyers, self.admit_times, self.join_log)


def queue_keys(sale_id: str) -> QueueKeys:
    tag = _prefix(sale_id, f"{sale_id}:q")
    return QueueKeys(conf=tag + "conf", buyers=tag + "buyers", admit_times=tag + "admit-times", join_log=tag + "log")


HOLD_ID_PATTERN = r"^[0-9a-f]{32}$"
"""Hold ids are 128 random bits in hex (made by the engine): unguessable, so knowing one is the right to use it."""

ORDER_ID_PATTERN = r"^[0-9]{1,20}-[0-9]{1,20}$"
"""Order ids are the ledger stream's entry ids."""


def sale_of_key(key: str) -> str:
    """The sale id a key of ``sale_keys`` belongs to (its hash tag)."""
    return key[key.index("{") + 1 : key.index("}")]
