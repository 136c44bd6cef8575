"""The admission controller: every worker, every tick, one admission step per sale with a waiting room.

The step itself is a Lua script paced by Redis time (lua/queue_advance.lua), so N workers admit no faster than
one; what a worker adds is the sale's supply (units left, admissions spent, units per admission), read from the
sale's own slot just before, and the snapshot it keeps for polls (queue/view.py). A sale of SKUs has one room for
all its SKUs: its units left are what the SKUs can still sell together with their quotas (``SaleSnapshot.sellable``),
not their sum. Right after a random open the first worker to see it seals the draw (``seal``): the join log's
Merkle root and the seed, published together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from flashsale.inventory import Inventory, Unavailable
from flashsale.inventory.replies import QueueSnapshot
from flashsale.queue import joinlog
from flashsale.queue.fair import commitment, final_seed
from flashsale.queue.tokens import Signer
from flashsale.queue.view import QueueBoard

TICK_S = 0.1
"""How often each worker takes an admission step: polls see admissions at most this late."""
LIST_EVERY = 10
"""Ticks between two reads of the set of sales with a waiting room."""

log = structlog.get_logger("flashsale")


def sale_state(remaining: int, closed: bool, closes_ms: int | None, now_ms: int) -> str:
    """``closed`` once the sale is, ``sold_out`` while no unit is left to sell now (units may come back: the
    room then serves its waitlist), else ``open``."""
    if closed or (closes_ms is not None and now_ms >= closes_ms):
        return "closed"
    if remaining <= 0:
        return "sold_out"
    return "open"


async def step(
    inventory: Inventory, board: QueueBoard, sale_id: str, signer: Signer | None = None
) -> QueueSnapshot | None:
    """One sale's step: its supply from the sale's slot, then the admission step on the queue's slot (and, with
    ``signer``, the seal of a random open that has not been sealed yet)."""
    sale = await inventory.read(sale_id)
    if sale is None:
        board.forget(sale_id)
        return None
    state = sale_state(sale.sellable, sale.closed, sale.closes_ms, sale.now_ms)
    snapshot = await inventory.advance_queue(
        sale_id,
        sale.sellable,
        sale.admissions_spent,
        state,
        board.since_ms(sale_id),
        max(1, sale.admission_units),
        sale.waitlist_units,
    )
    if snapshot is None:
        board.forget(sale_id)
        return None
    board.update(sale_id, snapshot)
    if signer is not None and snapshot.mode == "random_at_open" and snapshot.opened and not snapshot.seed:
        await seal(inventory, board, sale_id, snapshot, signer)
    return snapshot


async def join_tree(inventory: Inventory, sale_id: str, pre_count: int) -> list[list[bytes]]:
    """The Merkle tree of a room's pre-queue (every level, queue/joinlog.py). Hashing 100,000 joins takes a few
    hundred milliseconds: done in a thread so that polls keep being answered meanwhile."""
    log_bytes = await inventory.join_log(sale_id, pre_count)
    if len(log_bytes) != pre_count * joinlog.DIGEST_BYTES:
        raise ValueError(f"join log of {sale_id!r} holds {len(log_bytes)} bytes for {pre_count} joins")
    return await asyncio.to_thread(lambda: joinlog.tree(joinlog.leaves(log_bytes)))


async def seal(inventory: Inventory, board: QueueBoard, sale_id: str, snapshot: QueueSnapshot, signer: Signer) -> None:
    """Publish the draw of a random open: root of the join log as the open fixed it, the secret committed at
    creation, and the seed mixing both (lua/queue_seal.lua keeps the first worker's; the others computed the
    same). The room admits nobody before (lua/queue_advance.lua)."""
    if sale_id in board.sealing:
        return
    reveal = signer.room_seed(snapshot.kid, snapshot.room)
    if reveal is None or commitment(reveal) != snapshot.commitment:
        log.error("queue_draw_key_missing", sale=sale_id, kid=snapshot.kid)  # its key was dropped too early
        return
    board.sealing.add(sale_id)
    try:
        levels = await join_tree(inventory, sale_id, snapshot.pre_count)
        root = levels[-1][0]
        seed = final_seed(reveal, root)
        await inventory.seal_room(sale_id, snapshot.pre_count, root.hex(), reveal.hex(), seed.hex())
        board.trees[(sale_id, snapshot.room)] = levels
    finally:
        board.sealing.discard(sale_id)


async def admit_forever(
    inventory: Inventory,
    board: QueueBoard,
    observe: Callable[[str, QueueSnapshot, float], None] | None = None,
    tick_s: float = TICK_S,
    signer: Signer | None = None,
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
                snapshot = await step(inventory, board, sale_id, signer)
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
