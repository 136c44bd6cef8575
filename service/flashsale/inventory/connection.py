"""Opening the Redis client the purchase path can trust.

redis-py retries a command after a timeout or a dropped connection by default. For the purchase script that
is unsafe: a timed-out EVALSHA may already have run on the server, and sending it again would decrement the
stock twice for one attempt. The engine therefore turns every automatic retry off and reports the outcome as
unknown (HTTP 503); the client retries with the same Idempotency-Key, which the script deduplicates.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from flashsale.settings import Settings

CLUSTER_NODE_CONNECTIONS = 1024
CLUSTER_WARM_CONNECTIONS = 512
"""Connections opened at start-up to each cluster primary: a 500-buyer burst on one worker used ~500."""


def no_retry() -> Retry:
    return Retry(NoBackoff(), retries=0)


def connect(settings: Settings, url: str | None = None) -> Any:
    """A client for ``url`` (default: the settings' URL): ``Redis`` or ``RedisCluster``, never retrying.

    A blocking pool makes a burst wait for a free connection instead of failing with ``MaxConnectionsError``;
    the wait is bounded by the same deadline as the call.
    """
    target = url or settings.redis_url
    if not target:
        raise ValueError("no Redis URL: set FLASHSALE_REDIS_URL or use the embedded Redis")
    timeout = settings.redis_timeout_s
    if settings.redis_cluster:
        # The async cluster client has no blocking pool: past max_connections it raises at once. Give each
        # node room for a full burst so the pool limit never turns a rush into 503s.
        return RedisCluster.from_url(
            target,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=no_retry(),
            max_connections=max(settings.redis_max_connections, CLUSTER_NODE_CONNECTIONS),
        )
    pool = BlockingConnectionPool.from_url(
        target,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        max_connections=settings.redis_max_connections,
        timeout=timeout,
        retry=no_retry(),
        health_check_interval=0,
    )
    return Redis(connection_pool=pool)


async def warm_pool(client: Any, count: int) -> int:
    """Open ``count`` pooled connections now (then return them to the pool); returns how many opened.

    The pool opens connections lazily, so a cold pool opens them all during a drop's first burst: each a TCP
    connect (host resolved in the default thread pool), HELLO and two CLIENT SETINFO (redis-py reads its own
    version from the package metadata for each). With a cold pool, py-spy on the worker during ``flashsale
    attack`` (500 buyers) puts 30 % of its busy samples in ``BlockingConnectionPool.get_connection``, and the
    burst's attempts wait past the deadline (503) behind it. Opening them at start-up moves that cost out of
    the rush. Failures are ignored: the pool opens what it lacks when it needs it.
    """
    if count <= 0:
        return 0
    if isinstance(client, RedisCluster):  # no blocking pool: a burst opens up to max_connections per node
        return await _warm_cluster(client, max(count, CLUSTER_WARM_CONNECTIONS))
    pool = getattr(client, "connection_pool", None)
    if not isinstance(pool, BlockingConnectionPool):
        return 0
    acquire: Any = pool.get_connection  # untyped in redis-py
    got = await asyncio.gather(*(acquire() for _ in range(count)), return_exceptions=True)
    opened = [c for c in got if not isinstance(c, BaseException)]
    for connection in opened:
        await pool.release(connection)
    return len(opened)


async def _warm_cluster(client: RedisCluster, count: int) -> int:
    """The same for a cluster client: ``count`` connections to each primary (its per-node pools are lazy too)."""
    await client.initialize()
    opened = 0
    for node in client.get_primaries():
        connections = [node.acquire_connection() for _ in range(min(count, node.max_connections))]
        connect: Any = [c.connect for c in connections]  # untyped in redis-py
        results = await asyncio.gather(*(f() for f in connect), return_exceptions=True)
        for connection, result in zip(connections, results, strict=True):
            opened += not isinstance(result, BaseException)
            node.release(connection)
    return opened
