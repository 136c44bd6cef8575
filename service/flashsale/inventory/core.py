"""What every part of the engine shares: the client, the scripts, the deadline and the sold-out memo.

``engine.Inventory`` is this core plus its three families of operations (buyer.py, room.py, admin.py). Every
Redis call they make runs under the one ``Deadline``: ``_run`` for a script on the buyer path's deadline,
``_call`` for anything else on the longer deadline of reads and administration (the SCAN iteration of
``delete_sale``, an admin-only loop, excepted).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from flashsale.inventory.deadline import Deadline
from flashsale.inventory.memo import SoldOutMemo
from flashsale.inventory.replication import Replication, Rewrite, counter_rewrite
from flashsale.inventory.scripts import LuaScript, Scripts
from flashsale.settings import Durability, Settings

T = TypeVar("T")

RECLAIM_PER_CALL = 16
"""Expired holds a hold, purchase or sale read reclaims at most, before its own work (O(log n) each)."""


class EngineCore:
    """All sale state lives in Redis; this object holds the client, the scripts and a sold-out memo."""

    def __init__(self, client: Any, settings: Settings, scripts: Scripts | None = None) -> None:
        self.client = client
        self.settings = settings
        self.scripts = scripts or Scripts.load()
        self._deadline = Deadline(client, settings.redis_timeout_s)
        self._ttl = str(settings.idempotency_ttl_s)
        self._reclaim = str(RECLAIM_PER_CALL)
        self.memo = (
            SoldOutMemo(client, settings.soldout_cache_ms / 1000, self._deadline) if settings.soldout_cache_ms else None
        )
        self._replication = (
            Replication(client, settings.replicas, settings.replica_timeout_ms)
            if settings.durability is Durability.REPLICATED
            else None
        )

    async def close(self) -> None:
        await self.client.aclose()

    def _run(
        self,
        script: LuaScript,
        keys: tuple[str, ...],
        args: tuple[Any, ...],
        writes: frozenset[str] = frozenset(),
        replay_rewrite: Rewrite = counter_rewrite,
    ) -> Awaitable[Any]:
        """One script call with the buyer path's deadline; in replicated mode the outcomes in ``writes`` (and
        replays) are answered only once the replicas acknowledged them. Returns the awaitable rather than
        awaiting it, so the buyer path has no extra coroutine between its step and Redis."""
        if self._replication is not None and writes:
            return self._deadline.run(self._replication.run(script, keys, args, writes, replay_rewrite))
        return self._deadline.run(script.run(self.client, keys, args))

    def _call(self, call: Awaitable[T]) -> Awaitable[T]:
        """Any Redis call off the buyer path, with the longer deadline of reads and administration."""
        return self._deadline.run(call, self._deadline.slow_seconds)

    def _forget(self, sale_id: str) -> None:
        """Drop what the sold-out memo trusts about a sale whose stock just changed outside a purchase."""
        if self.memo is not None:
            self.memo.forget(sale_id)
