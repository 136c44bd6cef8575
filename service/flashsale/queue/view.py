"""What each worker knows of its sales' waiting rooms, and a buyer's place judged from it without Redis.

Every worker's controller (queue/controller.py) refreshes a ``QueueSnapshot`` per sale each tick; a poll then
costs no Redis call at all (a signed ticket gives the join index, the published permutation gives the place, the
admission steps give when that place was admitted). That is what lets thousands of waiting buyers poll without
touching Redis: the per-sale cost is one script call per worker per tick, whatever the number of buyers.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from dataclasses import dataclass, field
from typing import Any

from flashsale.inventory.outcomes import QueueState
from flashsale.inventory.replies import QueueSnapshot
from flashsale.queue.fair import position_of
from flashsale.queue.joinlog import buyer_digest

ISSUED_KEPT = 65_536
"""Tokens a room keeps issued at most (the cache starts afresh past it): bounded whatever the pollers do."""
STALE_AFTER_S = 2.0
"""A snapshot older than this (Redis unreachable for that long) is not answered from: the poll is a 503."""
RATE_WINDOW_MS = 10_000
"""The measured admission rate is the serving counter's growth over this window."""
MAX_RETRY_AFTER_S = 30
UNKNOWN_ETA_RETRY_S = 5
"""Retry-After while no admission was measured lately (just after the open, or every admitted slot in use): the
wait is unknown, and a buyer told 30 s could sleep through the first admissions."""


class QueueStale(Exception):
    """This worker has no recent snapshot of the sale's waiting room."""


@dataclass(frozen=True, slots=True)
class Place:
    state: QueueState
    position: int | None
    """0-based place in admission order; None in the pre-queue before the open (it is drawn at the open)."""
    ahead: int | None
    eta_s: float | None
    retry_after_s: int
    admitted_ms: int = 0
    expires_ms: int = 0
    waitlist: bool = False
    """Admitted from the waitlist (after the sale first sold out)."""


@dataclass
class Room:
    snapshot: QueueSnapshot
    received: float
    """time.monotonic() when the snapshot arrived."""
    steps_ms: list[int] = field(default_factory=list)
    steps_serving: list[int] = field(default_factory=list)
    issued: dict[tuple[int, int, str], tuple[str, str]] = field(default_factory=dict)
    """Admission tokens this worker issued, by (place, admission time, buyer): an admitted buyer polling every
    second gets the same token without another HMAC and date format (api/queue.py)."""

    def buyer_digest(self, buyer_id: str) -> bytes:
        """The 16 bytes this room stores the buyer's place under (queue/joinlog.py)."""
        return buyer_digest(bytes.fromhex(self.snapshot.salt), buyer_id)

    def now_ms(self) -> int:
        """Redis's clock, estimated from the snapshot's and the time since it came."""
        return self.snapshot.now_ms + int((time.monotonic() - self.received) * 1000)

    def serving_at(self, ms: int) -> int:
        """The serving counter as the last step at or before ``ms`` left it. The board always keeps one step
        older than its horizon (QueueBoard.update), so for any ms inside the horizon this is exact."""
        i = bisect.bisect_right(self.steps_ms, ms)
        return self.steps_serving[i - 1] if i else 0

    def admitted_ms(self, position: int) -> int | None:
        """When the step that admitted ``position`` ran, or (for a place admitted before the board's horizon) an
        older step, which is as good: either way the admission expired. None while ``position`` is not admitted."""
        i = bisect.bisect_right(self.steps_serving, position)
        return self.steps_ms[i] if i < len(self.steps_ms) else None

    def rate(self) -> float:
        """Admissions per second measured over the last RATE_WINDOW_MS (the configured rate before any)."""
        s = self.snapshot
        start = max(s.now_ms - RATE_WINDOW_MS, s.opens_ms)
        span_ms = s.now_ms - start
        if not self.steps_ms or span_ms < 1000:
            return s.rate
        return max(0.0, (s.serving - self.serving_at(start)) * 1000 / span_ms)


class QueueBoard:
    """The waiting rooms this worker knows, by sale."""

    def __init__(self) -> None:
        self.rooms: dict[str, Room] = {}
        self.stepping: dict[str, asyncio.Future[Any]] = {}
        """A first step of a sale in flight (api/waiting.py ``room_of``), shared by the requests that wait for it."""
        self.sealing: set[str] = set()
        """Sales whose draw this worker is sealing (queue/controller.py)."""
        self.trees: dict[tuple[str, str], list[list[bytes]]] = {}
        """Merkle trees of sealed pre-queues by (sale, room), kept to answer inclusion proofs."""

    def since_ms(self, sale_id: str) -> int:
        room = self.rooms.get(sale_id)
        return room.steps_ms[-1] if room is not None and room.steps_ms else 0

    def update(self, sale_id: str, snapshot: QueueSnapshot) -> None:
        room = self.rooms.get(sale_id)
        if room is None or room.snapshot.room != snapshot.room:  # new here, or the sale was re-created
            room = self.rooms[sale_id] = Room(snapshot, time.monotonic())
        room.snapshot, room.received = snapshot, time.monotonic()
        for ms, serving in snapshot.steps:
            if not room.steps_ms or ms > room.steps_ms[-1]:
                room.steps_ms.append(ms)
                room.steps_serving.append(serving)
        # Keep what the rate window and the admission times need, plus the newest older step: the serving counter
        # at the window's start, and an "admitted long ago" answer for every older place (see serving_at).
        horizon = snapshot.now_ms - max(2 * snapshot.token_ttl_ms, RATE_WINDOW_MS)
        keep_from = bisect.bisect_left(room.steps_ms, horizon) - 1
        if keep_from > 0:
            del room.steps_ms[:keep_from], room.steps_serving[:keep_from]

    def forget(self, sale_id: str) -> None:
        self.rooms.pop(sale_id, None)
        for key in [k for k in self.trees if k[0] == sale_id]:
            del self.trees[key]

    def room(self, sale_id: str) -> Room | None:
        """The sale's room if this worker has a fresh snapshot; None if the sale has no waiting room."""
        room = self.rooms.get(sale_id)
        if room is None:
            return None
        if time.monotonic() - room.received > STALE_AFTER_S:
            raise QueueStale(sale_id)
        return room

    def place(self, room: Room, index: int) -> Place:
        """Where join index ``index`` stands now."""
        s = room.snapshot
        now = room.now_ms()
        if s.state == QueueState.CLOSED:
            return Place(QueueState.CLOSED, None, None, None, MAX_RETRY_AFTER_S)
        if not s.opened:
            wait_s = max(0.0, (s.opens_ms - now) / 1000)
            return Place(QueueState.WAITING, None, None, wait_s, _retry_after(wait_s))
        if s.mode == "random_at_open" and not s.seed:  # opened, the draw not sealed yet: a moment
            return Place(QueueState.WAITING, None, None, None, 1)
        position = position_of(index, s.pre_count, bytes.fromhex(s.seed))
        assert position is not None  # opened: pre_count is fixed
        if position >= s.serving:
            ahead = position - s.serving
            if s.state == QueueState.SOLD_OUT:  # waits for units to come back: no rate to judge by
                return Place(QueueState.WAITLISTED, position, ahead, None, _waitlist_retry_after(s.token_ttl_ms))
            rate = room.rate()
            eta = (ahead + 1) / rate if rate > 0 else None  # this place needs ahead + 1 admissions
            return Place(QueueState.WAITING, position, ahead, eta, _retry_after(eta))
        admitted = room.admitted_ms(position)
        if admitted is None or now >= admitted + s.token_ttl_ms:
            return Place(QueueState.EXPIRED, position, 0, None, MAX_RETRY_AFTER_S)
        waitlist = s.waitlist_from is not None and position >= s.waitlist_from
        return Place(QueueState.ADMITTED, position, 0, 0.0, 1, admitted, admitted + s.token_ttl_ms, waitlist)


def _waitlist_retry_after(token_ttl_ms: int) -> int:
    """A waitlisted place may be admitted at any moment, for one token TTL: it polls four times per TTL."""
    return max(1, min(MAX_RETRY_AFTER_S, token_ttl_ms // 4000))


def _retry_after(eta_s: float | None) -> int:
    """Polls back off with the distance to the front: a quarter of the ETA, 1 to 30 s."""
    if eta_s is None:
        return UNKNOWN_ETA_RETRY_S
    return max(1, min(MAX_RETRY_AFTER_S, math.ceil(eta_s / 4)))
