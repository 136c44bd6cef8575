"""The one deadline every Redis call of the engine runs under, and how its failures become ``Unavailable``.

A call either answers within its deadline or raises ``Unavailable``: the caller never sees a redis-py exception,
and never waits longer than the deadline for a Redis that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

from redis.exceptions import (
    ClusterDownError,
    MasterDownError,
    MaxConnectionsError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

T = TypeVar("T")

_TRANSIENT_ERRORS = (TryAgainError, ClusterDownError, MasterDownError, ReadOnlyError, RedisClusterException)
"""Redis is there but not serving this write right now (resharding, failover, no quorum): a 503."""
_TRANSIENT_REPLIES = ("BUSY", "NOREPLICAS")
"""Replies redis-py leaves as a plain ResponseError, recognised by their prefix."""
REDIS_FAILURES = (
    RedisError,
    RedisClusterException,
    OSError,
    TimeoutError,
    AttributeError,
    TypeError,
    RuntimeError,
)
"""What a Redis call can raise when Redis fails. AttributeError and TypeError: redis-py 8.1 raises them when a
connection is closed under a call (redis-py #4287). RuntimeError: uvloop's "unable to perform operation on
<TCPTransport closed=True>" when the cluster client writes on a connection a failover just closed (the chaos
suite's cluster failover meets it). Only the Redis call itself runs inside ``Deadline.run``, so a bug in the
engine's own code still surfaces as itself."""


class Unavailable(Exception):
    """Redis gave no usable answer in time; the attempt's outcome is unknown."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        """One of: timeout, connection, script, replication."""


def classify(exc: BaseException) -> Unavailable:
    """The ``Unavailable`` a Redis failure stands for (an ``Unavailable`` stays itself)."""
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, TimeoutError | RedisTimeoutError):
        return Unavailable("timeout", "Redis did not answer within the deadline")
    if isinstance(
        exc, RedisConnectionError | OSError | AttributeError | TypeError | RuntimeError | MaxConnectionsError
    ):
        return Unavailable("connection", f"Redis connection failed: {type(exc).__name__}")
    if isinstance(exc, _TRANSIENT_ERRORS):
        return Unavailable("connection", f"Redis is not serving writes: {type(exc).__name__}")
    if isinstance(exc, ResponseError) and str(exc).startswith(_TRANSIENT_REPLIES):
        return Unavailable("connection", f"Redis is not serving writes: {str(exc).split(' ', 1)[0]}")
    return Unavailable("script", f"Redis error: {type(exc).__name__}")


SLOW_DEADLINE_FACTOR = 4
"""Reads and administration may take this many buyer-path deadlines: they scan, page or write several keys."""


class Deadline:
    """Runs a Redis call under ``asyncio.timeout`` and turns any Redis failure into ``Unavailable``.

    ``seconds`` is the buyer path's deadline (FLASHSALE_REDIS_TIMEOUT_S); reads and administration pass
    ``slow_seconds``, SLOW_DEADLINE_FACTOR times as long.
    """

    def __init__(self, client: Any, seconds: float) -> None:
        self.client = client
        self.seconds = seconds
        self.slow_seconds = seconds * SLOW_DEADLINE_FACTOR

    async def run(self, call: Awaitable[T], seconds: float | None = None) -> T:
        """Await ``call`` (one Redis call, or a few that make one step) within ``seconds`` (default: the buyer
        path's deadline)."""
        try:
            async with asyncio.timeout(self.seconds if seconds is None else seconds):
                return await call
        except REDIS_FAILURES as exc:
            raise await self._unavailable(exc) from exc

    async def _unavailable(self, exc: BaseException) -> Unavailable:
        """Classify a failure; after a connection failure, drop the pool's idle connections too.

        With retries off, every pooled connection to a Redis that restarted would fail once, as a 503, before
        being replaced. Dropping the idle ones at the first failure makes the next requests connect afresh.
        """
        unavailable = classify(exc)
        pool = getattr(self.client, "connection_pool", None)
        if unavailable.kind == "connection" and pool is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.seconds):
                    await pool.disconnect(inuse_connections=False)
        return unavailable
