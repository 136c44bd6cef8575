"""The purchase engine: every sale operation as one Redis round trip, with a deadline.

Knows nothing of HTTP. Returns ``PurchaseResult`` values named by ``Outcome``, and raises ``Unavailable``
whenever Redis did not give an answer in time: the outcome of that attempt is then unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Callable
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

from flashsale.inventory.keys import (
    HOLD_ID_PATTERN,
    ORDER_ID_PATTERN,
    QUEUES_INDEX,
    SALES_INDEX,
    buyer_tag,
    queue_keys,
    sale_keys,
)
from flashsale.inventory.memo import SoldOut, SoldOutMemo
from flashsale.inventory.outcomes import Outcome
from flashsale.inventory.records import OrderRecord, encode_order
from flashsale.inventory.replies import (
    CancelResult,
    HoldResult,
    JoinResult,
    OrderView,
    PurchaseResult,
    QueueSnapshot,
    RepairResult,
    RestoredOrder,
    SaleSnapshot,
    decode_cancel,
    decode_confirm,
    decode_hold,
    decode_join,
    decode_orders,
    decode_purchase,
    decode_queue_advance,
    decode_read_hold,
    decode_reap,
    decode_release,
    decode_repair,
    decode_restock,
    decode_sale,
)
from flashsale.inventory.scripts import LuaScript, Scripts
from flashsale.inventory.skus import Item, Line, Quota, encode_lines
from flashsale.settings import Durability, Settings

UNSAFE_WORK_S = 0.02
"""What the unsafe demo path awaits between reading the stock and writing it back."""

RECLAIM_PER_CALL = 16
"""Expired holds a hold, purchase or sale read reclaims at most, before its own work (O(log n) each)."""
REAP_PER_CALL = 1000
"""Expired holds one reaper call reclaims at most: bounded so a call stays well under a millisecond."""
REAP_INTERVAL_S = 1.0
"""How often the background reaper tidies every sale (it only matters for sales nobody is buying from)."""
HOLD_TTL_S_DEFAULT = 600
ADMISSION_STEP_MS = 50
"""Shortest admission step: a worker's tick that comes sooner after another worker's step admits nothing."""
QUEUED_SALE_OPEN_S = 7 * 86_400
"""How long a sale with a waiting room and no ``closes_at`` stays open (from its open): a room has an end, so its
tickets and keys have one too (docs/decisions.md, issue 23)."""


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


MAX_PLACES_FLOOR = 1_000
MAX_PLACES_PER_ADMISSION = 10
MAX_PLACES_CEILING = 1_000_000


def default_max_places(stock: int, units_per_admission: int) -> int:
    """Ten places per admission the stock can serve, at least 1,000 and at most 1,000,000: room for the line, the
    no-shows and a waitlist ten times the stock, while a room's Redis memory stays bounded (about 90 bytes a
    place: 90 MB at the ceiling; docs/decisions.md, issue 23)."""
    admissions = -(-stock // max(1, units_per_admission))
    return min(MAX_PLACES_CEILING, max(MAX_PLACES_FLOOR, MAX_PLACES_PER_ADMISSION * admissions))


_HOLD_ID = re.compile(HOLD_ID_PATTERN)
_ORDER_ID = re.compile(ORDER_ID_PATTERN)

_TRANSIENT_ERRORS = (TryAgainError, ClusterDownError, MasterDownError, ReadOnlyError, RedisClusterException)
"""Redis is there but not serving this write right now (resharding, failover, no quorum): a 503."""
_TRANSIENT_REPLIES = ("BUSY", "NOREPLICAS")
"""Replies redis-py leaves as a plain ResponseError, recognised by their prefix."""
_REDIS_FAILURES = (
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
<TCPTransport closed=True>" when the cluster client writes on a connection a failover just closed (5 of 375
attempts answered 500 in the chaos suite's cluster failover before this). Only the Redis call itself is inside
these ``try`` blocks."""


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
    if isinstance(
        exc, RedisConnectionError | OSError | AttributeError | TypeError | RuntimeError | MaxConnectionsError
    ):
        return Unavailable("connection", f"Redis connection failed: {type(exc).__name__}")
    if isinstance(exc, _TRANSIENT_ERRORS):
        return Unavailable("connection", f"Redis is not serving writes: {type(exc).__name__}")
    if isinstance(exc, ResponseError) and str(exc).startswith(_TRANSIENT_REPLIES):
        return Unavailable("connection", f"Redis is not serving writes: {str(exc).split(' ', 1)[0]}")
    return Unavailable("script", f"Redis error: {type(exc).__name__}")


class Inventory:
    """All sale state lives in Redis; this object holds the client, the scripts and a sold-out memo."""

    def __init__(self, client: Any, settings: Settings, scripts: Scripts | None = None) -> None:
        self.client = client
        self.settings = settings
        self.scripts = scripts or Scripts.load()
        self._deadline = settings.redis_timeout_s
        self._ttl = str(settings.idempotency_ttl_s)
        self._reclaim = str(RECLAIM_PER_CALL)
        self.memo = (
            SoldOutMemo(client, settings.soldout_cache_ms / 1000, self._deadline) if settings.soldout_cache_ms else None
        )
        self._replicated = settings.durability is Durability.REPLICATED

    async def close(self) -> None:
        await self.client.aclose()

    # -- purchase path -------------------------------------------------------------------------------------

    async def purchase(
        self,
        sale_id: str,
        buyer_id: str,
        quantity: int,
        idempotency_key: str,
        admission: str = "",
        facts: str = "",
        tag: str | None = None,
        lines: tuple[Line, ...] = (),
    ) -> PurchaseResult:
        """One atomic purchase attempt: one script call, one round trip (plus WAIT in replicated mode), however
        many lines.

        ``admission``: the jti of a verified admission token (sales with a waiting room), spent by the same
        script that sells. ``facts``: the buyer's verified facts for the sale's eligibility rules; ``tag``: the
        buyer's key digest (``keys.buyer_tag``, computed here when the caller has none cached). ``lines``: (sku,
        quantity) pairs with distinct SKUs for a sale with SKUs (``quantity`` is then their sum), empty for a
        one-stock sale: every line sells, or none."""
        if self.memo is not None:
            hit = self.memo.lookup(sale_id, idempotency_key, buyer_id, quantity, lines)
            # In replicated mode a replay must be confirmed by the replicas too: only "sold out" is answered
            # from memory there, a replay goes to Redis (_with_replicas).
            if hit is not None and not (self._replicated and hit[0] is Outcome.REPLAYED):
                return _from_memo(*hit)
        k = sale_keys(sale_id)
        orders_of = k.buyer_orders(tag or buyer_tag(buyer_id))
        keys = (k.sale, k.buyers, k.orders, k.idem(idempotency_key), k.holds, k.hold_expiry, k.admissions, orders_of)
        text = encode_lines(lines)
        args = (buyer_id, quantity, idempotency_key, self._ttl, self._reclaim, admission, facts, text)
        try:
            async with asyncio.timeout(self._deadline):
                if self._replicated:
                    reply = await self._with_replicas(
                        self.scripts.purchase, keys, args, _PURCHASE_WRITES, _purchase_replay_rewrite
                    )
                else:
                    reply = await self.scripts.purchase.run(self.client, keys, args)
        except _REDIS_FAILURES as exc:
            raise await self._unavailable(exc) from exc
        result = decode_purchase(reply, buyer_id, quantity, text)
        # Only a SKU (or a one-stock sale, SKU "") with nothing held is memoised as sold out: a live hold may
        # expire and put units back.
        if result.outcome is Outcome.SOLD_OUT and self.memo is not None and result.remaining == 0 and result.held == 0:
            self.memo.sold_out(sale_id, result.ledger_length, result.sku, result.quota)
        return result

    async def _with_replicas(
        self,
        script: LuaScript,
        keys: tuple[str, ...],
        args: tuple[Any, ...],
        writes: frozenset[str],
        replay_rewrite: Callable[[tuple[str, ...], Any], tuple[Any, ...]],
    ) -> Any:
        """Run the script and ``WAIT`` on one connection, in one round trip: a sale is a 201 only once acked.

        ``writes``: the outcomes whose write must reach the replicas before they are answered (purchase: sold;
        hold: held; confirm: confirmed; release: released; cancel: cancelled). ``replay_rewrite(keys, reply)``:
        the write that makes a replayed outcome's earlier write durable (see below). Any other outcome wrote
        nothing that a client relies on and is returned at once.

        ``WAIT`` counts the replicas that have this connection's last write, so it must follow the script on
        the connection that ran it. On one Redis that is a non-transactional pipeline. On Redis Cluster,
        redis-py's cluster pipeline refuses ``evalsha`` and sends a keyless ``WAIT`` to its default node, which
        may be another primary (both found by the chaos suite, docs/reliability.md), so both commands go
        straight to the node that owns the sale's slot, on one of its connections; no redirection is followed
        and nothing is retried (a ``MOVED`` or a dead node is a 503 and marks the topology for a refresh, as
        redis-py's own command path does).

        A replay wrote nothing, so ``WAIT`` would only cover this connection's earlier writes, not the replayed
        order (written earlier, maybe by another connection). A write on the sale's slot is made after it and
        waited for (a second round trip, on retries only): a replica that has it has everything written before
        it, the replayed order included. For a purchase that is its idempotency record re-written with the same
        value and TTL (``SET .. XX KEEPTTL``, which also proves the record still exists); for the hold steps an
        increment by 0 of a sale counter (``HINCRBY``: Redis propagates it like any increment).
        """
        replicas = self.settings.replicas
        wait = ("WAIT", replicas, self.settings.replica_timeout_ms)
        client = self.client

        async def with_wait(*command: Any) -> tuple[Any, Any]:
            try:
                return await round_trip(*command)
            except (AttributeError, TypeError, RuntimeError) as exc:
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

        reply, acked = await with_wait("EVALSHA", script.sha, len(keys), *keys, *args)
        if isinstance(reply, NoScriptError):  # did not run: EVAL caches it on this very node
            reply, acked = await with_wait("EVAL", script.source, len(keys), *keys, *args)
        if isinstance(reply, Exception):
            raise reply
        if reply[0] == Outcome.REPLAYED:
            rewritten, acked = await with_wait(*replay_rewrite(keys, reply))
            if isinstance(rewritten, Exception):
                raise rewritten
            if rewritten is None:
                raise Unavailable("replication", "the replayed order's record vanished; retry")
        elif reply[0] not in writes:
            return reply
        if isinstance(acked, Exception):
            raise acked
        if int(acked) < replicas:
            raise Unavailable("replication", f"order reached {acked} of {replicas} replicas in time")
        return reply

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
                    k.orders,
                    {"kind": "order", "buyer": buyer_id, "quantity": quantity, "created_ms": now_ms, "key": ""},
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

    async def read(self, sale_id: str, audit: bool = False) -> SaleSnapshot | None:
        """A consistent snapshot (expired holds reclaimed first, up to RECLAIM_PER_CALL). ``audit`` also sums the
        live holds' units, O(live holds), to check them against ``held``."""
        k = sale_keys(sale_id)
        args = (self._reclaim, "1" if audit else "0")
        reply = await self._call(self.scripts.read_sale.run(self.client, (*k.hold_keys, k.orders), args))
        return decode_sale(sale_id, reply)

    async def create_sale(
        self,
        sale_id: str,
        name: str,
        stock: int,
        per_buyer_limit: int = 0,
        opens_ms: int | None = None,
        closes_ms: int | None = None,
        hold_ttl_s: int = HOLD_TTL_S_DEFAULT,
        queue: QueueConfig | None = None,
        eligibility: str = "",
        items: tuple[Item, ...] = (),
        quotas: tuple[Quota, ...] = (),
    ) -> bool:
        """Create a sale; False if one with this id exists already (it is left untouched).

        With ``queue`` the waiting room is made first (on its own slot, with a fresh random room id), so no
        purchase can meet a sale flagged ``queued`` whose room does not exist yet. A queued sale without
        ``closes_ms`` closes QUEUED_SALE_OPEN_S after its open; the room's keys expire the sale's retention
        (FLASHSALE_QUEUE_RETENTION_S) after that. With ``items`` (checked by ``skus.check_catalogue``) the sale has
        those SKUs and ``quotas``; ``stock`` is then ignored (the sale's stock is the sum of its items')."""
        if items:
            stock = sum(i.stock for i in items)
        k = sale_keys(sale_id)
        room = ""
        if queue is not None and queue.units_per_admission < 1:
            raise ValueError("a waiting room admits at least one unit per admission")
        if queue is not None and closes_ms is None:
            closes_ms = (opens_ms if opens_ms is not None else int(time.time() * 1000)) + QUEUED_SALE_OPEN_S * 1000
        expires_ms = 0 if closes_ms is None else closes_ms + self.settings.queue_retention_s * 1000
        if queue is not None and not await self._call(self.client.exists(k.sale)):
            q = queue_keys(sale_id)
            room = str(
                await self._call(
                    self.scripts.queue_create.run(
                        self.client,
                        (q.conf,),
                        (
                            queue.mode,
                            queue.admit_rate,
                            queue.max_active,
                            queue.token_ttl_s * 1000,
                            "" if opens_ms is None else opens_ms,
                            "",
                            queue.commitment,
                            queue.room or secrets.token_urlsafe(9),
                            queue.kid,
                            closes_ms,
                            expires_ms,
                            queue.max_places or default_max_places(stock, queue.units_per_admission),
                            secrets.token_hex(16),
                        ),
                    )
                )
            )
        args: tuple[str | int, ...] = (
            name,
            stock,
            per_buyer_limit,
            "" if opens_ms is None else opens_ms,
            "" if closes_ms is None else closes_ms,
            hold_ttl_s * 1000,
            "0" if queue is None else "1",
            0 if queue is None else queue.units_per_admission,
            room,
            eligibility,
        )
        if items:
            args += (
                len(items),
                *(v for i in items for v in (i.sku, i.stock, i.per_buyer_limit)),
                len(quotas),
                *(v for q in quotas for v in (q.name, q.cap, ",".join(q.skus))),
            )
        created = bool(await self._call(self.scripts.create_sale.run(self.client, (k.sale,), args)))
        if created:
            await self._call(self.client.sadd(SALES_INDEX, sale_id))
            if queue is not None:
                await self._call(self.client.zadd(QUEUES_INDEX, {sale_id: expires_ms}))
            self._forget(sale_id)
        return created

    async def restock(self, sale_id: str, units: int, sku: str = "") -> int | None:
        """Add units (to one SKU of a sale with SKUs); returns the new remaining stock (of that SKU), None for an
        unknown sale, -1 when ``sku`` is not one of the sale's (or is missing on a sale with SKUs, or given for a
        one-stock sale)."""
        k = sale_keys(sale_id)
        remaining = decode_restock(await self._call(self.scripts.restock.run(self.client, (k.sale,), (units, sku))))
        self._forget(sale_id)
        return remaining

    async def close_sale(self, sale_id: str) -> bool:
        k = sale_keys(sale_id)
        return bool(await self._call(self.scripts.close_sale.run(self.client, (k.sale,), ())))

    async def delete_sale(self, sale_id: str, ledger_length: int | None = None) -> bool | None:
        """Delete a sale, its ledger, holds, buyer counts and idempotency records (SCAN; admin only).

        With ``ledger_length`` (what the caller saw when it found every entry exported) the sale is first
        retired atomically only if its ledger still has that length (``retire_sale.lua``): None when it grew
        meanwhile (nothing deleted), so no order appended after the check is deleted unexported."""
        k = sale_keys(sale_id)
        if ledger_length is not None:
            retired = int(
                await self._call(
                    self.scripts.retire_sale.run(self.client, (k.sale, k.orders, k.holds), (ledger_length,))
                )
            )
            if retired == 0:
                return None
            existed = retired == 1
        else:
            existed = bool(await self._call(self.client.exists(k.sale)))
        idem_keys = [
            key
            for pattern in (k.idem_pattern, k.hold_idem_pattern, k.buyer_orders_pattern)
            async for key in self.client.scan_iter(match=pattern, count=1000)
        ]
        q = queue_keys(sale_id)
        for key in (*k.fixed, *q.fixed, *idem_keys):
            await self._call(self.client.delete(key))
        await self._call(self.client.srem(SALES_INDEX, sale_id))
        await self._call(self.client.zrem(QUEUES_INDEX, sale_id))
        self._forget(sale_id)
        return existed

    # -- the waiting room ----------------------------------------------------------------------------------

    async def join(self, sale_id: str, buyer_digest: bytes, room: str = "") -> JoinResult:
        """One place per (room, buyer) in the room ``room`` ("": whichever the sale has): one script call on the
        queue's slot, with the purchase deadline. ``buyer_digest``: the buyer's 16 bytes in this room
        (queue/joinlog.py); a join is idempotent by buyer, so it keeps no record of its Idempotency-Key."""
        if len(buyer_digest) != 16:
            raise ValueError("a buyer digest has 16 bytes")
        q = queue_keys(sale_id)
        keys = (q.conf, q.buyers, q.join_log)
        return decode_join(await self._run(self.scripts.queue_join, keys, (buyer_digest, room)))

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
        return decode_queue_advance(reply)

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

    # -- holds and cancellations ---------------------------------------------------------------------------

    async def _run(
        self, script: LuaScript, keys: tuple[str, ...], args: tuple[Any, ...], writes: frozenset[str] = frozenset()
    ) -> Any:
        """One script call with the purchase deadline (holds are on the hot path too); in replicated mode the
        outcomes in ``writes`` (and replays) are answered only once the replicas acknowledged them."""
        try:
            async with asyncio.timeout(self._deadline):
                if self._replicated and writes:
                    return await self._with_replicas(script, keys, args, writes, _counter_rewrite)
                return await script.run(self.client, keys, args)
        except _REDIS_FAILURES as exc:
            raise await self._unavailable(exc) from exc

    async def hold(
        self,
        sale_id: str,
        buyer_id: str,
        quantity: int,
        idempotency_key: str,
        admission: str = "",
        facts: str = "",
        lines: tuple[Line, ...] = (),
    ) -> HoldResult:
        """Reserve units until the sale's hold TTL runs out: one script call, one round trip, every line or none.

        Never consults the sold-out memo: a sale sold out a moment ago may have units back from expired holds,
        and a hold's replay lives in its own record, which the memo does not know.
        """
        k = sale_keys(sale_id)
        keys = (*k.hold_keys, k.hold_idem(idempotency_key), k.admissions)
        text = encode_lines(lines)
        args = (buyer_id, quantity, self._ttl, secrets.token_hex(16), self._reclaim, admission, facts, text)
        return decode_hold(await self._run(self.scripts.hold, keys, args, _HOLD_WRITES), buyer_id, quantity, text)

    async def confirm(
        self, sale_id: str, hold_id: str, buyer_id: str, payment_ref: str = "", tag: str | None = None
    ) -> HoldResult:
        """Turn the buyer's live hold into an order (a ledger entry), once; a hold past its expiry is a
        ``hold_expired``; another buyer's hold is an ``unknown_hold``."""
        if not _HOLD_ID.match(hold_id):
            return HoldResult(Outcome.UNKNOWN_HOLD, hold_id)
        k = sale_keys(sale_id)
        keys = (*k.hold_keys, k.orders, k.buyer_orders(tag or buyer_tag(buyer_id)))
        reply = await self._run(self.scripts.confirm, keys, (hold_id, payment_ref, buyer_id), _CONFIRM_WRITES)
        return decode_confirm(reply, hold_id)

    async def release(self, sale_id: str, hold_id: str, buyer_id: str) -> HoldResult:
        """Give the buyer's hold up (another buyer's hold is an ``unknown_hold``)."""
        if not _HOLD_ID.match(hold_id):
            return HoldResult(Outcome.UNKNOWN_HOLD, hold_id)
        k = sale_keys(sale_id)
        reply = await self._run(self.scripts.release, k.hold_keys, (hold_id, buyer_id), _RELEASE_WRITES)
        return decode_release(reply, hold_id)

    async def read_hold(self, sale_id: str, hold_id: str, buyer_id: str) -> HoldResult:
        """The buyer's hold (another buyer's hold is an ``unknown_hold``; "" as ``buyer_id`` reads anyone's)."""
        if not _HOLD_ID.match(hold_id):
            return HoldResult(Outcome.UNKNOWN_HOLD, hold_id)
        k = sale_keys(sale_id)
        return decode_read_hold(await self._run(self.scripts.read_hold, k.hold_keys, (hold_id, buyer_id)), hold_id)

    async def orders_of(
        self, sale_id: str, buyer_id: str, order_id: str = "", newest: int = 100, tag: str | None = None
    ) -> list[OrderView] | None:
        """The buyer's orders in a sale (the newest ``newest``), or the one ``order_id`` if it is theirs: one
        script call. None for an unknown sale."""
        k = sale_keys(sale_id)
        keys = (k.sale, k.orders, k.cancelled, k.restored, k.buyer_orders(tag or buyer_tag(buyer_id)))
        return decode_orders(await self._run(self.scripts.read_orders, keys, (buyer_id, order_id, newest)))

    async def cancel_order(self, sale_id: str, order_id: str, restock: bool) -> CancelResult:
        """Cancel an order exactly once (admin); with ``restock`` its units go back on sale."""
        if not _ORDER_ID.match(order_id):
            return CancelResult(Outcome.UNKNOWN_ORDER, order_id)
        k = sale_keys(sale_id)
        keys = (k.sale, k.buyers, k.orders, k.cancelled, k.restored)
        reply = await self._run(self.scripts.cancel_order, keys, (order_id, "1" if restock else "0"), _CANCEL_WRITES)
        result = decode_cancel(reply, order_id)
        if result.outcome is Outcome.CANCELLED and result.restock:
            self._forget(sale_id)
        return result

    async def reap(self, sale_id: str, limit: int = REAP_PER_CALL) -> tuple[int, int]:
        """Expire what ran out on one sale: (units reclaimed, live holds left)."""
        k = sale_keys(sale_id)
        return decode_reap(await self._call(self.scripts.reap.run(self.client, k.hold_keys, (limit,))))

    async def reap_forever(self, interval_s: float = REAP_INTERVAL_S) -> None:
        """The background reaper: every ``interval_s``, expire what ran out on every sale.

        Hold and purchase scripts reclaim expired holds themselves, so being late here never keeps a unit
        off sale for a buyer who asks; it keeps ``held`` and the gauges of quiet sales current. Every worker
        runs one: the script is atomic, so two reapers on one sale only find less to do.
        """
        while True:
            await asyncio.sleep(interval_s)
            with contextlib.suppress(Unavailable, ValueError):
                for sale_id in await self.sale_ids():
                    await self.reap(sale_id)

    async def ledger_orders(self, sale_id: str, page: int = 5000) -> dict[str, str]:
        """Every order the ledger holds: order id -> ledger entry id (they differ for a repaired order's copy,
        which names the original id in its ``order_id`` field). Paged XRANGE; admin and reconcile only."""
        stream = sale_keys(sale_id).orders
        out: dict[str, str] = {}
        start = "-"
        while True:
            entries = await self._call(self.client.xrange(stream, min=start, max="+", count=page))
            for entry_id, fields in entries:
                out[fields.get("order_id") or entry_id] = entry_id
            if len(entries) < page:
                return out
            start = "(" + entries[-1][0]

    async def restore_orders(self, sale_id: str, orders: list[RestoredOrder]) -> RepairResult | None:
        """Re-apply orders Redis lost, in one script call (``repair.lua``): each exactly once, however often this
        is called. None for an unknown sale."""
        k = sale_keys(sale_id)
        keys = (k.sale, k.buyers, k.orders, k.restored, *(k.idem(o.idempotency_key) for o in orders))
        args = [
            v
            for o in orders
            for v in (o.order_id, o.buyer_id, o.quantity, o.created_ms, o.idempotency_key, o.record_ttl_s, o.lines)
        ]
        result = decode_repair(await self._call(self.scripts.repair.run(self.client, keys, tuple(args))))
        if result is not None:
            self._forget(sale_id)
        return result

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


_PURCHASE_WRITES = frozenset({Outcome.SOLD.value})
_HOLD_WRITES = frozenset({Outcome.HELD.value})
_CONFIRM_WRITES = frozenset({Outcome.CONFIRMED.value})
_RELEASE_WRITES = frozenset({Outcome.RELEASED.value})
_CANCEL_WRITES = frozenset({Outcome.CANCELLED.value})


def _purchase_replay_rewrite(keys: tuple[str, ...], reply: Any) -> tuple[Any, ...]:
    lines = str(reply[5]) if len(reply) > 5 else ""
    record = encode_order(OrderRecord(reply[1], reply[3], int(reply[4]), int(reply[2]), lines))
    return ("SET", keys[3], record, "XX", "KEEPTTL")


def _counter_rewrite(keys: tuple[str, ...], _: Any) -> tuple[Any, ...]:
    """keys[0] is the sale hash in every hold script and in cancel_order.lua."""
    return ("HINCRBY", keys[0], "holds", 0)


def _from_memo(outcome: Outcome, order: OrderRecord | None, line: int, sku: str, why: SoldOut | None) -> PurchaseResult:
    if order is None:
        quota = why.quota if why is not None else ""
        return PurchaseResult(outcome, remaining=0, line=line, sku=sku, quota=quota)
    order_id, buyer_id, quantity, created_ms, lines = order
    if outcome is Outcome.REPLAYED:
        return PurchaseResult(outcome, order_id, created_ms, buyer_id, quantity, lines=lines)
    return PurchaseResult(outcome, buyer_id=buyer_id, quantity=quantity)


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return [item for v in value for item in _flatten(v)]
    return [value]
