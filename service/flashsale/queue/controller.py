"""The admission controller: every worker, every tick, one admission step per sale with a waiting room.

The step itself is a Lua script paced by Redis time (lua/queue_advance.lua), so N workers admit no faster than
one; what a worker adds is the sale's supply (units still sellable across every SKU plus held units, admissions
spent), read from the sale's own slot just before, and the snapshot it keeps for polls (queue/view.py). A sale of
SKUs has one room for all its SKUs: its supply is what the SKUs can still sell together with their quotas
(``SaleSnapshot.sellable``), not their sum; for a one-stock sale it is its remaining units.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from flashsale.inventory import Inventory, Unavailable
from flashsale.inventory.replies import QueueSnapshot
from flashsale.queue.view import QueueBoard

TICK_S = 0.1
"""How often each worker takes an admission step: polls see admissions at most this late."""
LIST_EVERY = 10
"""Ticks between two reads of the set of sales with a waiting room."""

log = structlog.get_logger("flashsale")


def sale_state(remaining: int, held: int, closed: bool, closes_ms: int | None, now_ms: int) -> str:
    """``closed`` once the sale is, ``sold_out`` once no unit is left or held (none can come back), else open."""
    if closed or (closes_ms is not None and now_ms >= closes_ms):
        return "closed"
    if remaining + held <= 0:
        return "sold_out"
    return "open"


async def step(inventory: Inventory, board: QueueBoard, sale_id: str) -> QueueSnapshot | None:
    """One sale's step: its supply from the sale's slot, then the admission step on the queue's slot."""
    sale = await inventory.read(sale_id)
    if sale is None:
        board.forget(sale_id)
        return None
    sellable = sale.sellable
    state = sale_state(sellable, sale.held, sale.closed, sale.closes_ms, sale.now_ms)
    snapshot = await inventory.advance_queue(
        sale_id, sellable + sale.held, sale.admissions_spent, state, board.since_ms(sale_id)
    )
    if snapshot is None:
        board.forget(sale_id)
    else:
        board.update(sale_id, snapshot)
    return snapshot


async def admit_forever(
    inventory: Inventory,
    board: QueueBoard,
    observe: Callable[[str, QueueSnapshot, float], None] | None = None,
    tick_s: float = TICK_S,
) -> None:
    """The worker's controller loop. A Redis failure skips the tick (logged once per outage); the board's
    snapshots then go stale and polls answer 503 until Redis is back."""
    sales: list[str] = []
    tick = 0
    failing = False
    while True:
        try:
            if tick % LIST_EVERY == 0:
                sales = await inventory.queue_sale_ids()
            for sale_id in sales:
                snapshot = await step(inventory, board, sale_id)
                if snapshot is not None and observe is not None:
                    room = board.rooms.get(sale_id)
                    with contextlib.suppress(Exception):
                        observe(sale_id, snapshot, room.rate() if room is not None else 0.0)
            if failing:
                log.info("queue_controller_recovered")
            failing = False
        except (Unavailable, ValueError) as exc:
            if not failing:
                log.warning("queue_controller_unavailable", error=str(exc))
            failing = True
        tick += 1
        await asyncio.sleep(tick_s)
