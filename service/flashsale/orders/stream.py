"""Redis side of the export: the consumer group on each sale's ledger, and how far behind it is.

Every command here names one key (the sale's ledger), so all of it works on one Redis and on Redis Cluster.
The ledger is never trimmed: it is the audit's record (ledger length == orders) and the sold-out memo's
source, and trimming past the slowest group's acknowledged entries would lose orders before export.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from flashsale.inventory.keys import EXPORT_GROUP, sale_keys

Entry = tuple[str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class Backlog:
    """What the export group has not yet acknowledged on one sale's ledger."""

    group: bool
    """The export group exists (export is or was running for this sale)."""
    pending: int
    """Delivered to an exporter, not yet acknowledged (written to PostgreSQL or about to be)."""
    undelivered: int
    """Never read by any exporter."""
    oldest_ms: int | None
    """Stream time (ms) of the oldest unacknowledged entry, None when there is none."""
    length: int = 0
    """The ledger's length, read before the group's state (a deletion checks it did not grow since)."""

    @property
    def entries(self) -> int:
        return self.pending + self.undelivered


def stream_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


async def ensure_group(client: Any, sale_id: str) -> bool:
    """Create the export group at the start of the ledger (every existing entry gets exported); True if it was
    created now. MKSTREAM: a sale without orders yet has no stream, and the group must exist before its first
    order so that a deletion sees the export is on."""
    try:
        await client.xgroup_create(sale_keys(sale_id).orders, EXPORT_GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise
    return True


async def backlog(client: Any, sale_id: str) -> Backlog:
    """Pending + undelivered entries of the export group. Redis 7 reports the undelivered count (``lag``);
    where it cannot (Redis 6.2, or after entries were deleted) they are counted with XRANGE."""
    stream = sale_keys(sale_id).orders
    length = int(await client.xlen(stream))
    try:
        groups = await client.xinfo_groups(stream)
    except ResponseError as exc:
        if "no such key" not in str(exc).lower():
            raise
        return Backlog(group=False, pending=0, undelivered=0, oldest_ms=None)
    group = next((g for g in groups if g.get("name") == EXPORT_GROUP), None)
    if group is None:
        first = await client.xrange(stream, count=1) if length else []
        return Backlog(False, 0, length, stream_ms(first[0][0]) if first else None, length)
    last = str(group.get("last-delivered-id", "0-0"))
    pending = int(group.get("pending", 0))
    lag = group.get("lag")
    undelivered = len(await client.xrange(stream, min="(" + last, max="+")) if lag is None else int(lag)
    oldest: int | None = None
    if pending:
        summary = await client.xpending(stream, EXPORT_GROUP)
        if summary.get("min"):
            oldest = stream_ms(summary["min"])
    if oldest is None and undelivered:
        nxt = await client.xrange(stream, min="(" + last, max="+", count=1)
        if nxt:
            oldest = stream_ms(nxt[0][0])
    return Backlog(True, pending, undelivered, oldest, length)


async def unexported_ids(client: Any, sale_id: str) -> set[str] | None:
    """Ids of the ledger entries the export group has not acknowledged; None when there is no group."""
    stream = sale_keys(sale_id).orders
    try:
        groups = await client.xinfo_groups(stream)
    except ResponseError:
        return None
    group = next((g for g in groups if g.get("name") == EXPORT_GROUP), None)
    if group is None:
        return None
    last = str(group.get("last-delivered-id", "0-0"))
    ids = {entry_id for entry_id, _ in await client.xrange(stream, min="(" + last, max="+")}
    start = "-"
    while True:
        page = await client.xpending_range(stream, EXPORT_GROUP, min=start, max="+", count=1000)
        ids.update(p["message_id"] for p in page)
        if len(page) < 1000:
            return ids
        start = "(" + page[-1]["message_id"]
