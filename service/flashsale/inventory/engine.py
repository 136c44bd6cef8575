"""The purchase engine: every sale operation as one Redis round trip, with a deadline.

Knows nothing of HTTP. Returns ``PurchaseResult`` values named by ``Outcome``, and raises ``Unavailable``
whenever Redis did not give an answer in time: the outcome of that attempt is then unknown.

``Inventory`` is the one object the rest of the service holds; its operations live by purpose:

- buyer.py: the hot path (purchase, hold, confirm, release, the buyer's reads), one script call each;
- room.py: the waiting room (join, the admission step, pause, seal) and its settings ``QueueConfig``;
- admin.py: reads and administration (create, restock, close, delete, cancel, restore, reap, readiness);
- core.py: what they share; deadline.py: the one deadline and ``Unavailable``; replication.py: ``WAIT``.
"""

from __future__ import annotations

from flashsale.inventory.admin import (
    HOLD_TTL_S_DEFAULT,
    QUEUED_SALE_OPEN_S,
    REAP_INTERVAL_S,
    REAP_PER_CALL,
    Administration,
)
from flashsale.inventory.buyer import UNSAFE_WORK_S, BuyerPath
from flashsale.inventory.core import RECLAIM_PER_CALL
from flashsale.inventory.deadline import Unavailable, classify
from flashsale.inventory.room import (
    ADMISSION_STEP_MS,
    MAX_PLACES_CEILING,
    MAX_PLACES_FLOOR,
    MAX_PLACES_PER_ADMISSION,
    QueueConfig,
    WaitingRoom,
    default_max_places,
)

__all__ = [
    "ADMISSION_STEP_MS",
    "HOLD_TTL_S_DEFAULT",
    "MAX_PLACES_CEILING",
    "MAX_PLACES_FLOOR",
    "MAX_PLACES_PER_ADMISSION",
    "QUEUED_SALE_OPEN_S",
    "REAP_INTERVAL_S",
    "REAP_PER_CALL",
    "RECLAIM_PER_CALL",
    "UNSAFE_WORK_S",
    "Inventory",
    "QueueConfig",
    "Unavailable",
    "classify",
    "default_max_places",
]


class Inventory(BuyerPath, WaitingRoom, Administration):
    """All sale state lives in Redis; this object holds the client, the scripts and a sold-out memo."""
