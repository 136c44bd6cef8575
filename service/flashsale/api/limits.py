"""Rate limits: per client address with Litestar's RateLimitMiddleware on a Redis store, per buyer in memory.

Litestar's middleware runs before the body is read, so it cannot key on ``buyer_id``; and a per-buyer
limit kept in Redis would cost every purchase a second round trip to the very shard that holds the hot
sale. The per-buyer limit is therefore a fixed one-second window in each worker's memory, checked after
the body is decoded and before Redis is called: a buyer flooding the API is refused without touching
Redis. It holds per worker, so the whole fleet admits at most ``rate x workers`` per buyer per second.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.middleware.rate_limit import CacheObject, RateLimitConfig, RateLimitMiddleware
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.types import Message, Send
from prometheus_client import Gauge
from redis.asyncio import Redis

from flashsale.settings import Settings

RATE_LIMIT_STORE = "rate_limit"

PER_BUYER = "per-buyer"
PER_ADDRESS = "per-address"
"""Which limit refused a 429: the problem body's ``rate_limit`` field (docs/problems.md)."""
LIMIT_HEADER = "RateLimit-Limit"

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

    def refusal_headers(self) -> dict[str, str]:
        """The headers of this limit's 429, in the names Litestar's per-address middleware uses (IETF draft
        ratelimit-headers): a buyer refused here must not read the per-address limit's figures, which say
        nothing about why it was refused. The window is one second, so it resets within one second."""
        reset = max(1, math.ceil(self._window + 1 - time.monotonic()))
        return {
            "RateLimit-Policy": f"{self.per_second}; w=1",
            LIMIT_HEADER: str(self.per_second),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(reset),
            "Retry-After": str(reset),
        }

    @property
    def tracked(self) -> int:
        """Buyers in the current window's table; never more than ``max_tracked``."""
        return len(self._counts)


class AddressRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's per-address middleware, except that it leaves alone a response that already carries rate
    limit headers: the per-buyer limit's 429 (answered by the handler) keeps its own figures instead of being
    overwritten with the address's, which had admitted the request."""

    def create_send_wrapper(self, send: Send, cache_object: CacheObject) -> Send:
        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableScopeHeaders(message)
                if headers.get(LIMIT_HEADER) is None:
                    for key, value in self.create_response_headers(cache_object=cache_object).items():
                        headers[key] = value
            await send(message)

        return send_wrapper


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
        middleware_class=AddressRateLimitMiddleware,
    )
    return config.middleware, {RATE_LIMIT_STORE: store}
