"""The purchase engine: every sale operation as one Redis round trip, with a deadline.

Knows nothing of HTTP. Returns ``PurchaseResult`` values named by ``Outcome``, and raises ``Unavailable``
whenever Redis did not give an answer in time: the outcome of that attempt is then unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio.cluster import PipelineCommand, RedisCluster
from redis.exceptions import (
    ClusterDownError,
    MasterDownError,
    MaxConnectionsError,
    MovedError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from flashsale.inventory.keys import sale_keys
from flashsale.inventory.memo import OrderRecord, SoldOutMemo
from flashsale.inventory.outcomes import Outcome
from flashsale.inventory.scripts import Scripts
from flashsale.settings import Durability, Settings

UNSAFE_WORK_S = 0.02
"""What the unsafe demo path awaits between reading the stock and writing it back."""

SALES_INDEX = "fs:sales"
"""Set of live sale ids, read by the metrics collector and the CLI (not on the purchase path)."""

_TRANSIENT_ERRORS = (TryAgainError, ClusterDownError, MasterDownError, ReadOnlyError, RedisClusterException)
"""Redis is there but not serving this write right now (resharding, failover, no quorum): a 503."""
_TRANSIENT_REPLIES = ("BUSY", "NOREPLICAS")
"""Replies redis-py leaves as a plain ResponseError, recognised by their prefix."""
_REDIS_FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError, AttributeError, TypeError)
"""What a Redis call can raise when Redis fails. AttributeError and TypeError: redis-py 8.1 raises them when a
connection is closed under a call (redis-py #4287); only the Redis call itself is inside these ``try`` blocks."""


class Unavailable(Exception):
    """Redis gave no usable answer in time; the attempt's outcome is unknown."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        """One of: timeout, connection, script, replication."""


def classify(exc: BaseException) -> Unavailable:
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, TimeoutError | RedisTimeoutError):
        return Unavailable("timeout", "Redis did not answer within the deadline")
    if isinstance(exc, RedisConnectionError | OSError | AttributeError | TypeError | MaxConnectionsError):
        return Unavailable("connection", f"Redis connection failed: {type(exc).__name__}")
    if isinstance(exc, _TRANSIENT_ERRORS):
        return Unavailable("connection", f"Redis is not serving writes: {type(exc).__name__}")
    if isinstance(exc, ResponseError) and str(exc).startswith(_TRANSIENT_REPLIES):
        return Unavailable("connection", f"Redis is not serving writes: {str(exc).split(' ', 1)[0]}")
    return Unavailable("script", f"Redis error: {type(exc).__name__}")


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    outcome: Outcome
    order_id: str = ""
    created_ms: int = 0
    buyer_id: str = ""
    quantity: int = 0
    remaining: int = -1
    bought: int = 0
    limit: int = 0
    opens_ms: int = 0


@dataclass(frozen=True, slots=True)
class SaleSnapshot:
    sale_id: str
    name: str
    total: int
    remaining: int
    sold: int
    orders: int
    ledger_length: int
    limit: int
    opens_ms: int | None
    closes_ms: int | None
    closed: bool
    now_ms: int

    @property
    def status(self) -> str:
        if self.closed or (self.closes_ms is not None and self.now_ms >= self.closes_ms):
            return "closed"
        if self.opens_ms is not None and self.now_ms < self.opens_ms:
            return "scheduled"
        if self.remaining <= 0:
            return "sold_out"
        return "open"

    @property
    def oversold(self) -> int:
        return max(0, self.sold - self.total)

    @property
    def stock_balanced(self) -> bool:
        return self.total == self.remaining + self.sold

    @property
    def ledger_matches(self) -> bool:
        return self.ledger_length == self.orders


class Inventory:
    """All sale state lives in Redis; this object holds the client, the scripts and a sold-out memo."""

    def __init__(self, client: Any, settings: Settings, scripts: Scripts | None = None) -> None:
        self.client = client
        self.settings = settings
        self.scripts = scripts or Scripts.load()
        self._deadline = settings.redis_timeout_s
        self._ttl = str(settings.idempotency_ttl_s)
        self.memo = (SoldOutMemo(client, settings.soldout_cache_ms / 1000, self._deadline)
                     if settings.soldout_cache_ms else None)
        self._replicated = settings.durability is Durability.REPLICATED

    async def close(self) -> None:
        await self.client.aclose()

    # -- purchase path -------------------------------------------------------------------------------------

    async def purchase(self, sale_id: str, buyer_id: str, quantity: int, idempotency_key: str) -> PurchaseResult:
        """One atomic purchase attempt: one script call, one round trip (plus WAIT in replicated mode)."""
        if self.memo is not None:
            hit = self.memo.lookup(sale_id, idempotency_key, buyer_id, quantity)
            # In replicated mode a replay must be confirmed by the replicas too: only "sold out" is answered
            # from memory there, a replay goes to Redis (_purchase_replicated).
            if hit is not None and not (self._replicated and hit[0] is Outcome.REPLAYED):
                return _from_memo(*hit)
        k = sale_keys(sale_id)
        keys = (k.sale, k.buyers, k.orders, k.idem(idempotency_key))
        args = (buyer_id, quantity, idempotency_key, self._ttl)
        try:
            async with asyncio.timeout(self._deadline):
                if self._replicated:
                    reply = await self._purchase_replicated(keys, args)
                else:
                    reply = await self.scripts.purchase.run(self.client, keys, args)
        except _REDIS_FAILURES as exc:
            raise await self._unavailable(exc) from exc
        return self._parse(sale_id, reply, buyer_id, quantity)

    async def _purchase_replicated(self, keys: tuple[str, ...], args: tuple[Any, ...]) -> Any:
        """Run the script and ``WAIT`` on one connection, in one round trip: a sale is a 201 only once acked.

        ``WAIT`` counts the replicas that have this connection's last write, so it must follow the script on
        the connection that ran it. On one Redis that is a non-transactional pipeline. On Redis Cluster,
        redis-py's cluster pipeline refuses ``evalsha`` and sends a keyless ``WAIT`` to its default node, which
        may be another primary (both found by the chaos suite, docs/reliability.md), so both commands go
        straight to the node that owns the sale's slot, on one of its connections; no redirection is followed
        and nothing is retried (a ``MOVED`` or a dead node is a 503 and marks the topology for a refresh, as
        redis-py's own command path does).

        A replay wrote nothing, so ``WAIT`` would only cover this connection's earlier writes, not the replayed
        order (written earlier, maybe by another connection). Its idempotency record is re-written with the same
        value and TTL (``SET .. XX KEEPTTL``) and that write is waited for: a second round trip, on retries only.
        """
        replicas = self.settings.replicas
        wait = ("WAIT", replicas, self.settings.replica_timeout_ms)
        client = self.client

        async def with_wait(*command: Any) -> tuple[Any, Any]:
            try:
                return await round_trip(*command)
            except (AttributeError, TypeError) as exc:
                # redis-py 8.1 (#4287, #3546): writing on a connection that another task (a cluster client
                # closing every connection on CLUSTERDOWN) or the peer just closed raises these, not
                # ConnectionError. Treated like a dropped connection: a 503, outcome unknown, never a 500.
                if isinstance(client, RedisCluster):
                    client._initialize = True
                raise Unavailable("connection", f"Redis connection closed mid-call: {type(exc).__name__}") from exc

        async def round_trip(*command: Any) -> tuple[Any, Any]:
            if not isinstance(client, RedisCluster):
                async with client.pipeline(transaction=False) as pipe:
                    pipe.execute_command(*command)
                    pipe.execute_command(*wait)
                    first, acked = await pipe.execute(raise_on_error=False)
                return first, acked
            try:
                await client.initialize()  # a no-op unless a failure below marked the topology stale
                node = client.get_node_from_key(keys[0])
            except RedisClusterException as exc:
                raise Unavailable("connection", f"no node serves the sale's slot: {type(exc).__name__}") from exc
            if node is None:
                raise Unavailable("connection", "no node serves the sale's slot")
            pair = [PipelineCommand(0, *command), PipelineCommand(1, *wait)]
            try:
                await node.execute_pipeline(pair)
            except MaxConnectionsError:
                raise
            except (RedisConnectionError, RedisTimeoutError):
                client._initialize = True  # what RedisCluster._execute_command does on these errors
                raise
            first, acked = pair[0].result, pair[1].result
            if isinstance(first, RedisConnectionError | RedisTimeoutError | MovedError):
                client._initialize = True
            return first, acked

        script = self.scripts.purchase
        reply, acked = await with_wait("EVALSHA", script.sha, len(keys), *keys, *args)
        if isinstance(reply, NoScriptError):  # did not run: EVAL caches it on this very node
            reply, acked = await with_wait("EVAL", script.source, len(keys), *keys, *args)
        if isinstance(reply, Exception):
            raise reply
        if reply[0] == Outcome.REPLAYED:
            record = f"{reply[1]}\t{reply[3]}\t{reply[4]}\t{reply[2]}"
            rewritten, acked = await with_wait("SET", keys[3], record, "XX", "KEEPTTL")
            if isinstance(rewritten, Exception):
                raise rewritten
            if not rewritten:
                raise Unavailable("replication", "the replayed order's record vanished; retry")
        elif reply[0] != Outcome.SOLD:
            return reply
        if isinstance(acked, Exception):
            raise acked
        if int(acked) < replicas:
            raise Unavailable("replication", f"order reached {acked} of {replicas} replicas in time")
        return reply

    def _parse(self, sale_id: str, reply: list[Any], buyer_id: str, quantity: int) -> PurchaseResult:
        outcome = Outcome(reply[0])
        if outcome is Outcome.SOLD:
            return PurchaseResult(outcome, reply[1], int(reply[2]), buyer_id, quantity, int(reply[3]))
        if outcome is Outcome.REPLAYED:
            return PurchaseResult(outcome, reply[1], int(reply[2]), reply[3], int(reply[4]))
        if outcome is Outcome.SOLD_OUT:
            remaining = int(reply[1])
            if remaining == 0 and self.memo is not None:
                self.memo.sold_out(sale_id, int(reply[2]))
            return PurchaseResult(outcome, remaining=remaining)
        if outcome is Outcome.LIMIT_REACHED:
            return PurchaseResult(outcome, bought=int(reply[1]), limit=int(reply[2]))
        if outcome is Outcome.NOT_OPEN:
            return PurchaseResult(outcome, opens_ms=int(reply[1]))
        if outcome is Outcome.IDEMPOTENCY_CONFLICT:
            return PurchaseResult(outcome, buyer_id=reply[1], quantity=int(reply[2]))
        return PurchaseResult(outcome)

    async def purchase_unsafe(self, sale_id: str, buyer_id: str, quantity: int) -> PurchaseResult:
        """The naive read-modify-write purchase, kept to show the oversell. Demo mode only.

        Between reading the stock and writing it back, every other buyer's request runs too: they all see
        the same stock and all succeed. No limit, no idempotency, no atomicity: never use this.
        """
        k = sale_keys(sale_id)
        try:
            async with asyncio.timeout(self._deadline):
                raw = await self.client.hget(k.sale, "remaining")
                if raw is None:
                    return PurchaseResult(Outcome.UNKNOWN_SALE)
                remaining = int(raw)
                if remaining < quantity:
                    return PurchaseResult(Outcome.SOLD_OUT, remaining=remaining)
                # The "await" of read-modify-write: the work a naive handler does between reading and writing
                # (a payment or fraud check), here 20 ms. Every other buyer's request reads the same stock meanwhile.
                await asyncio.sleep(UNSAFE_WORK_S)
                await self.client.hset(k.sale, "remaining", remaining - quantity)
                await self.client.hincrby(k.sale, "sold", quantity)
                await self.client.hincrby(k.sale, "orders", 1)
                now_ms = int(time.time() * 1000)
                order_id = await self.client.xadd(
                    k.orders, {"buyer": buyer_id, "quantity": quantity, "created_ms": now_ms, "key": ""}
                )
        except _REDIS_FAILURES as exc:
            raise classify(exc) from exc
        return PurchaseResult(Outcome.SOLD, order_id, now_ms, buyer_id, quantity, remaining - quantity)

    # -- reads and administration (not on the hot path) --------------------------------------------------

    async def _call(self, coro: Any) -> Any:
        try:
            async with asyncio.timeout(self._deadline * 4):
                return await coro
        except _REDIS_FAILURES as exc:
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
                async with asyncio.timeout(self._deadline):
                    await pool.disconnect(inuse_connections=False)
        return unavailable

    async def read(self, sale_id: str) -> SaleSnapshot | None:
        k = sale_keys(sale_id)
        reply = await self._call(self.scripts.read_sale.run(self.client, (k.sale, k.orders), ()))
        if not reply:
            return None
        now_ms, ledger_length, *flat = reply
        f = dict(zip(flat[::2], flat[1::2], strict=True))
        if "limit" not in f:  # debris of the unsafe path writing to a deleted sale (purchase.lua): no sale
            return None
        return SaleSnapshot(
            sale_id=sale_id,
            name=f.get("name", ""),
            total=int(f.get("total", 0)),
            remaining=int(f.get("remaining", 0)),
            sold=int(f.get("sold", 0)),
            orders=int(f.get("orders", 0)),
            ledger_length=int(ledger_length),
            limit=int(f.get("limit", 0)),
            opens_ms=int(f["opens_ms"]) if "opens_ms" in f else None,
            closes_ms=int(f["closes_ms"]) if "closes_ms" in f else None,
            closed=f.get("closed") == "1",
            now_ms=int(now_ms),
        )

    async def create_sale(
        self,
        sale_id: str,
        name: str,
        stock: int,
        per_buyer_limit: int = 0,
        opens_ms: int | None = None,
        closes_ms: int | None = None,
    ) -> bool:
        """Create a sale; False if one with this id exists already (it is left untouched)."""
        k = sale_keys(sale_id)
        args = (name, stock, per_buyer_limit, "" if opens_ms is None else opens_ms,
                "" if closes_ms is None else closes_ms)
        created = bool(await self._call(self.scripts.create_sale.run(self.client, (k.sale,), args)))
        if created:
            await self._call(self.client.sadd(SALES_INDEX, sale_id))
            self._forget(sale_id)
        return created

    async def restock(self, sale_id: str, units: int) -> int | None:
        """Add units; returns the new remaining stock, or None for an unknown sale."""
        k = sale_keys(sale_id)
        remaining = int(await self._call(self.scripts.restock.run(self.client, (k.sale,), (units,))))
        self._forget(sale_id)
        return None if remaining < 0 else remaining

    async def close_sale(self, sale_id: str) -> bool:
        k = sale_keys(sale_id)
        return bool(await self._call(self.scripts.close_sale.run(self.client, (k.sale,), ())))

    async def delete_sale(self, sale_id: str) -> bool:
        """Delete a sale, its ledger, buyer counts and idempotency records (SCAN; admin only)."""
        k = sale_keys(sale_id)
        existed = bool(await self._call(self.client.exists(k.sale)))
        idem_keys = [key async for key in self.client.scan_iter(match=k.idem_pattern, count=1000)]
        for key in (k.sale, k.buyers, k.orders, *idem_keys):
            await self._call(self.client.delete(key))
        await self._call(self.client.srem(SALES_INDEX, sale_id))
        self._forget(sale_id)
        return existed

    def _forget(self, sale_id: str) -> None:
        if self.memo is not None:
            self.memo.forget(sale_id)

    async def sale_ids(self) -> list[str]:
        return sorted(await self._call(self.client.smembers(SALES_INDEX)))

    async def ready(self) -> bool:
        """Redis answers and knows the purchase script (loading it where a restart or flush dropped it)."""
        sha = self.scripts.purchase.sha
        exists = await self._call(self.client.script_exists(sha))
        if isinstance(exists, dict):
            exists = list(exists.values())
        if not all(bool(x) for x in _flatten(exists)):
            await self._call(self.client.script_load(self.scripts.purchase.source))
            exists = await self._call(self.client.script_exists(sha))
            if isinstance(exists, dict):
                exists = list(exists.values())
        return all(bool(x) for x in _flatten(exists))

    async def load_scripts(self) -> None:
        for script in self.scripts:
            await self._call(self.client.script_load(script.source))


def _from_memo(outcome: Outcome, order: OrderRecord | None) -> PurchaseResult:
    if order is None:
        return PurchaseResult(outcome, remaining=0)
    order_id, buyer_id, quantity, created_ms = order
    if outcome is Outcome.REPLAYED:
        return PurchaseResult(outcome, order_id, created_ms, buyer_id, quantity)
    return PurchaseResult(outcome, buyer_id=buyer_id, quantity=quantity)


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return [item for v in value for item in _flatten(v)]
    return [value]
