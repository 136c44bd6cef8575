"""Each worker's snapshot of the sales buyers look at: what ``GET /sales/{id}/availability`` answers from.

A product page of a drop is polled by thousands of browsers. Reading Redis for each poll would put the pollers on
the very shard that sells, so each worker keeps a snapshot per sale and refreshes it every ``tick_s`` in the
background (``refresh_forever``): one script call per sale, worker and tick, whatever the number of pollers. A
poll reads memory only. The first poll of a sale on a worker reads Redis once (concurrent first polls share that
one read); a sale nobody polled for ``keep_s`` is dropped and no longer refreshed.

Memory stays bounded by real sales: an id that is not in the sales index (as of the last tick) is answered
"unknown" without a Redis call and is never stored, so made-up ids cost neither Redis nor memory. A sale created
on another worker is seen at the next tick. If Redis stops answering, snapshots older than ``stale_s`` are not
served: the next poll tries Redis itself and fails with ``Unavailable`` (a 503), never with old figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flashsale.inventory.engine import Inventory, Unavailable
from flashsale.inventory.replies import SaleSnapshot

TICK_S = 0.5
"""How often each worker refreshes the snapshots it serves (answers are at most about this old)."""
KEEP_S = 60.0
"""A sale not polled for this long on a worker is no longer refreshed there."""
STALE_S = 2.0
"""A snapshot older than this (Redis unreachable) is not served."""


@dataclass(slots=True)
class _Entry:
    snapshot: SaleSnapshot
    received: float
    asked: float
    view: Any = None
    """What the route made of this snapshot (its encoded answer), made once per snapshot."""


class SaleBoard:
    def __init__(
        self, inventory: Inventory, tick_s: float = TICK_S, keep_s: float = KEEP_S, stale_s: float = STALE_S
    ) -> None:
        self.inventory = inventory
        self.tick_s = tick_s
        self.keep_s = keep_s
        self.stale_s = stale_s
        self.known: set[str] | None = None
        """The sales index as of the last tick; None until the first listing."""
        self._entries: dict[str, _Entry] = {}
        self._reading: dict[str, asyncio.Future[SaleSnapshot | None]] = {}

    def add(self, sale_id: str) -> None:
        """A sale created through this worker: known at once, not at the next tick."""
        if self.known is not None:
            self.known.add(sale_id)

    def forget(self, sale_id: str) -> None:
        self._entries.pop(sale_id, None)
        if self.known is not None:
            self.known.discard(sale_id)

    async def view(self, sale_id: str, make: Callable[[SaleSnapshot], Any]) -> Any:
        """``make(snapshot)`` of the sale's current snapshot, computed once per snapshot; None for an unknown
        sale. Raises Unavailable when the snapshot is stale and Redis does not answer."""
        now = time.monotonic()
        entry = self._entries.get(sale_id)
        if entry is None or now - entry.received > self.stale_s:
            if self.known is not None and sale_id not in self.known:
                return None
            snapshot = await self._read_once(sale_id)
            if snapshot is None:
                return None
            entry = self._entries.get(sale_id)
            if entry is None or entry.snapshot is not snapshot:
                entry = self._entries[sale_id] = _Entry(snapshot, time.monotonic(), now)
        entry.asked = now
        if entry.view is None:
            entry.view = make(entry.snapshot)
        return entry.view

    async def _read_once(self, sale_id: str) -> SaleSnapshot | None:
        """One Redis read per sale however many polls wait for it."""
        pending = self._reading.get(sale_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._reading[sale_id] = pending
            try:
                snapshot = await self.inventory.read(sale_id)
            except BaseException as exc:
                pending.set_exception(exc)
                pending.exception()  # retrieved: no "never retrieved" warning when nobody else waited
                raise
            finally:
                self._reading.pop(sale_id, None)
            pending.set_result(snapshot)
            if snapshot is not None:
                self._entries[sale_id] = _Entry(snapshot, time.monotonic(), time.monotonic())
            return snapshot
        return await asyncio.shield(pending)

    async def refresh(self) -> None:
        """One tick: list the sales, then re-read every sale polled lately (concurrently)."""
        self.known = set(await self.inventory.sale_ids())
        now = time.monotonic()
        for sale_id in [s for s, e in self._entries.items() if s not in self.known or now - e.asked > self.keep_s]:
            del self._entries[sale_id]
        sale_ids = list(self._entries)
        snapshots = await asyncio.gather(*(self.inventory.read(s) for s in sale_ids), return_exceptions=True)
        received = time.monotonic()
        for sale_id, snapshot in zip(sale_ids, snapshots, strict=True):
            entry = self._entries.get(sale_id)
            if entry is None:
                continue
            if isinstance(snapshot, SaleSnapshot):
                entry.snapshot, entry.received, entry.view = snapshot, received, None
            elif snapshot is None:
                del self._entries[sale_id]

    async def refresh_forever(self) -> None:
        """The worker's refresh loop (app lifespan). A failed tick is skipped; stale snapshots stop being served."""
        while True:
            with contextlib.suppress(Unavailable, ValueError):
                await self.refresh()
            await asyncio.sleep(self.tick_s)
