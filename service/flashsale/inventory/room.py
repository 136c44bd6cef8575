"""A sale's waiting room in Redis: its settings, the buyer's join, the admission step and the room's admin.

The room lives on its own slot (``keys.queue_keys``); queue/ above builds the tickets, tokens and draw on top of
these calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flashsale.inventory.core import EngineCore
from flashsale.inventory.keys import QUEUES_INDEX, queue_keys
from flashsale.inventory.replies import JoinResult, QueueSnapshot, queue_advance_reply, queue_join_reply

ADMISSION_STEP_MS = 50
"""Shortest admission step: a worker's tick that comes sooner after another worker's step admits nothing."""

MAX_PLACES_FLOOR = 1_000
MAX_PLACES_PER_ADMISSION = 10
MAX_PLACES_CEILING = 1_000_000


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """A sale's waiting room settings (the admin API's ``queue`` object; mode ``off`` means no QueueConfig)."""

    mode: str
    """``fifo`` or ``random_at_open``."""
    admit_rate: float
    """Admissions per second at most."""
    max_active: int
    """Admitted buyers that have neither bought nor let their admission expire, at most."""
    token_ttl_s: int
    """How long an admission (its token) lasts."""
    units_per_admission: int = 1
    """Units one admission may buy or hold (checked by the purchase and hold step, lua/admitlib.lua); the
    admission step counts units with it: it admits no more buyers than the units left can serve."""
    kid: str = ""
    """Id of the admission key the room's secrets derive from (queue/tokens.py), kept with the room so that a
    key rotation after its creation still finds them."""
    max_places: int | None = None
    """Places the room gives at most (409 queue-full past it); None: ``default_max_places`` of the stock."""
    room: str = ""
    """The room's random id (made here when empty)."""
    commitment: str = ""
    """SHA-256 of the room's secret (queue/fair.py), published from creation; the secret is not given here."""


def default_max_places(stock: int, units_per_admission: int) -> int:
    """Ten places per admission the stock can serve, at least 1,000 and at most 1,000,000: room for the line, the
    no-shows and a waitlist ten times the stock, while a room's Redis memory stays bounded (about 90 bytes a
    place: 90 MB at the ceiling; docs/decisions.md)."""
    admissions = -(-stock // max(1, units_per_admission))
    return min(MAX_PLACES_CEILING, max(MAX_PLACES_FLOOR, MAX_PLACES_PER_ADMISSION * admissions))


class WaitingRoom(EngineCore):
    """The room's operations: the buyer's join (buyer path deadline), the workers' step, the operator's admin."""

    async def join(self, sale_id: str, buyer_digest: bytes, room: str = "", facts: str = "") -> JoinResult:
        """One place per (room, buyer) in the room ``room`` ("": whichever the sale has): one script call on the
        queue's slot, with the purchase deadline. ``buyer_digest``: the buyer's 16 bytes in this room
        (queue/joinlog.py); a join is idempotent by buyer, so it keeps no record of its Idempotency-Key.
        ``facts``: the buyer's verified facts, judged against the sale's eligibility rules before a new place."""
        if len(buyer_digest) != 16:
            raise ValueError("a buyer digest has 16 bytes")
        q = queue_keys(sale_id)
        keys = (q.conf, q.buyers, q.join_log)
        return queue_join_reply(await self._run(self.scripts.queue_join, keys, (buyer_digest, room, facts)))

    async def advance_queue(
        self,
        sale_id: str,
        units: int,
        spent: int,
        sale_state: str,
        since_ms: int,
        per_admission: int = 1,
        waitlist_units: int = 0,
    ) -> QueueSnapshot | None:
        """One admission step (paced by Redis time, so every worker may call it) and the room's state.

        ``units``: the units left to sell; ``per_admission``: the units one admission may take;
        ``waitlist_units``: units bought or held with waitlist admissions (the sale's, for the room's figures)."""
        q = queue_keys(sale_id)
        args = (units, spent, sale_state, since_ms, ADMISSION_STEP_MS, per_admission, waitlist_units)
        reply = await self._call(self.scripts.queue_advance.run(self.client, (q.conf, q.admit_times), args))
        return queue_advance_reply(reply)

    async def pause_queue(self, sale_id: str, paused: bool) -> bool:
        """Pause or resume admission; False when the sale has no waiting room."""
        q = queue_keys(sale_id)
        return bool(await self._call(self.scripts.queue_pause.run(self.client, (q.conf,), ("1" if paused else "0",))))

    async def join_log(self, sale_id: str, count: int, start: int = 0) -> bytes:
        """``count`` entries of the room's join log from join index ``start`` (16 bytes each; fewer at its end)."""
        if count <= 0:
            return b""
        q = queue_keys(sale_id)
        end = (start + count) * 16 - 1
        raw = await self._call(self.client.execute_command("GETRANGE", q.join_log, start * 16, end, NEVER_DECODE=True))
        return bytes(raw or b"")

    async def seal_room(self, sale_id: str, pre_count: int, root: str, reveal: str, seed: str) -> bool:
        """Publish a random open's draw once (lua/queue_seal.lua); False when it was sealed already."""
        q = queue_keys(sale_id)
        args = (pre_count, root, reveal, seed)
        return bool(await self._call(self.scripts.queue_seal.run(self.client, (q.conf,), args)))

    async def queue_sale_ids(self) -> list[str]:
        """The sales with a live waiting room; rooms whose keys expired leave the index here (a re-created sale
        has a later score, so it stays)."""
        now_ms = int(time.time() * 1000)
        await self._call(self.client.zremrangebyscore(QUEUES_INDEX, "-inf", now_ms))
        return sorted(await self._call(self.client.zrange(QUEUES_INDEX, 0, -1)))
