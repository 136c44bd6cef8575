"""Rate limits: per client address with Litestar's RateLimitMiddleware on a Redis store, per buyer in memory.

Litestar's middleware runs before the body is read, so it cannot key on ``buyer_id``; and a per-buyer
limit kept in Redis would cost every purchase a second round trip to the very shard that holds the hot
sale. The per-buyer limit is therefore a fixed one-second window in each worker's memory, checked after
the body is decoded and before Redis is called: a buyer flooding the API is refused without touching
Redis. It holds per worker, so the whole fleet admits at most ``rate x workers`` per buyer per second.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar.middleware.rate_limit import RateLimitConfig
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from prometheus_client import Gauge
from redis.asyncio import Redis

from flashsale.settings import Settings

RATE_LIMIT_STORE = "rate_limit"

BUYERS_TRACKED = Gauge(
    "flashsale_rate_limit_buyers_tracked",
    "Most buyers the per-buyer rate limiter tracked in one one-second window (bounded by "
    "FLASHSALE_RATE_LIMIT_BUYERS_TRACKED), set at scrape time.",
    multiprocess_mode="max",
)


class BuyerRateLimiter:
    """At most ``per_second`` purchases per buyer in each one-second window, tracking at most ``max_tracked``
    buyers per window: the buyer id is the client's choice, so the table must not grow with whatever ids a
    flood makes up. Once a window's table is full, buyers not in it are refused until the next window (a flood
    of fresh ids can only delay other buyers by under a second, never grow the worker's memory)."""

    def __init__(self, per_second: int, max_tracked: int = 100_000) -> None:
        self.per_second = per_second
        self.max_tracked = max_tracked
        self.peak = 0
        """Most buyers tracked in one window since start (``flashsale_rate_limit_buyers_tracked``)."""
        self._window = 0
        self._counts: dict[str, int] = {}

    def allow(self, buyer_id: str) -> bool:
        window = int(time.monotonic())
        if window != self._window:
            self._window = window
            self.peak = max(self.peak, len(self._counts))
            self._counts = {}
        count = self._counts.get(buyer_id)
        if count is None:
            if len(self._counts) >= self.max_tracked:
                self.peak = self.max_tracked
                return False
            count = 0
        self._counts[buyer_id] = count + 1
        return count < self.per_second

    @property
    def tracked(self) -> int:
        """Buyers in the current window's table; never more than ``max_tracked``."""
        return len(self._counts)


async def purge_expired(store: MemoryStore, every_s: float = 1.0) -> None:
    """Litestar's MemoryStore drops an expired key only when that key is read again: with one key per client
    address, a flood of addresses would stay in memory. Purged every second instead (app lifespan)."""
    while True:
        await asyncio.sleep(every_s)
        await store.delete_expired()


def ip_rate_limit(settings: Settings) -> tuple[Any, dict[str, Store]] | None:
    """The middleware and its store, or None when the per-address limit is off.

    The store is Redis (shared by every replica) on a single-node deployment; on Redis Cluster, where
    Litestar's RedisStore cannot route, each worker keeps its own memory store.
    """
    if not settings.rate_limit_per_ip:
        return None
    store: Store
    if settings.redis_cluster or not settings.redis_url:
        store = MemoryStore()
    else:
        client = Redis.from_url(
            settings.redis_url, socket_timeout=settings.redis_timeout_s, socket_connect_timeout=settings.redis_timeout_s
        )
        store = RedisStore(client, namespace="flashsale-ratelimit", handle_client_shutdown=True)
    config = RateLimitConfig(
        rate_limit=("second", settings.rate_limit_per_ip),
        exclude=["^/health", "^/metrics", "^/schema"],
        store=RATE_LIMIT_STORE,
    )
    return config.middleware, {RATE_LIMIT_STORE: store}
