"""Replicated durability: a write is answered only once ``WAIT`` saw it on enough replicas.

Used by the engine when FLASHSALE_DURABILITY=replicated, for the scripts whose answer a client relies on
(purchase, hold, confirm, release, cancel). Raises ``Unavailable`` itself where the replicas fell short; the
caller's ``Deadline`` classifies everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio.cluster import PipelineCommand, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, MovedError, NoScriptError, RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError

from flashsale.inventory.deadline import Unavailable
from flashsale.inventory.outcomes import Outcome
from flashsale.inventory.records import OrderRecord, encode_order
from flashsale.inventory.scripts import LuaScript

Rewrite = Callable[[tuple[str, ...], Any], tuple[Any, ...]]
"""``(keys, reply) -> command``: the write that makes a replayed outcome's earlier write durable."""

PURCHASE_WRITES = frozenset({Outcome.SOLD.value})
HOLD_WRITES = frozenset({Outcome.HELD.value})
CONFIRM_WRITES = frozenset({Outcome.CONFIRMED.value})
RELEASE_WRITES = frozenset({Outcome.RELEASED.value})
CANCEL_WRITES = frozenset({Outcome.CANCELLED.value})


def purchase_replay_rewrite(keys: tuple[str, ...], reply: Any) -> tuple[Any, ...]:
    """The replayed order's idempotency record (keys[3] of purchase.lua), re-written with the same value."""
    lines = str(reply[5]) if len(reply) > 5 else ""
    record = encode_order(OrderRecord(reply[1], reply[3], int(reply[4]), int(reply[2]), lines))
    return ("SET", keys[3], record, "XX", "KEEPTTL")


def counter_rewrite(keys: tuple[str, ...], _: Any) -> tuple[Any, ...]:
    """keys[0] is the sale hash in every hold script and in cancel_order.lua."""
    return ("HINCRBY", keys[0], "holds", 0)


class Replication:
    """Runs a script and ``WAIT`` on one connection, in one round trip: a sale is a 201 only once acked."""

    def __init__(self, client: Any, replicas: int, timeout_ms: int) -> None:
        self.client = client
        self.replicas = replicas
        self._wait = ("WAIT", replicas, timeout_ms)

    async def run(
        self,
        script: LuaScript,
        keys: tuple[str, ...],
        args: tuple[Any, ...],
        writes: frozenset[str],
        replay_rewrite: Rewrite,
    ) -> Any:
        """The script's reply, once its write is on ``replicas`` replicas.

        ``writes``: the outcomes whose write must reach the replicas before they are answered (purchase: sold;
        hold: held; confirm: confirmed; release: released; cancel: cancelled). ``replay_rewrite(keys, reply)``:
        the write that makes a replayed outcome's earlier write durable (see below). Any other outcome wrote
        nothing that a client relies on and is returned at once.

        A replay wrote nothing, so ``WAIT`` would only cover this connection's earlier writes, not the replayed
        order (written earlier, maybe by another connection). A write on the sale's slot is made after it and
        waited for (a second round trip, on retries only): a replica that has it has everything written before
        it, the replayed order included. For a purchase that is its idempotency record re-written with the same
        value and TTL (``SET .. XX KEEPTTL``, which also proves the record still exists); for the hold steps an
        increment by 0 of a sale counter (``HINCRBY``: Redis propagates it like any increment).
        """
        slot_key = keys[0]
        reply, acked = await self._with_wait(slot_key, "EVALSHA", script.sha, len(keys), *keys, *args)
        if isinstance(reply, NoScriptError):  # did not run: EVAL caches it on this very node
            reply, acked = await self._with_wait(slot_key, "EVAL", script.source, len(keys), *keys, *args)
        if isinstance(reply, Exception):
            raise reply
        if reply[0] == Outcome.REPLAYED:
            rewritten, acked = await self._with_wait(slot_key, *replay_rewrite(keys, reply))
            if isinstance(rewritten, Exception):
                raise rewritten
            if rewritten is None:
                raise Unavailable("replication", "the replayed order's record vanished; retry")
        elif reply[0] not in writes:
            return reply
        if isinstance(acked, Exception):
            raise acked
        if int(acked) < self.replicas:
            raise Unavailable("replication", f"order reached {acked} of {self.replicas} replicas in time")
        return reply

    async def _with_wait(self, slot_key: str, *command: Any) -> tuple[Any, Any]:
        """``command`` then ``WAIT``, both on one connection to the node of ``slot_key``: (reply, replicas acked)."""
        try:
            return await self._round_trip(slot_key, *command)
        except (AttributeError, TypeError, RuntimeError) as exc:
            # redis-py 8.1 (#4287, #3546): writing on a connection that another task (a cluster client closing
            # every connection on CLUSTERDOWN) or the peer just closed raises these, not ConnectionError.
            # Treated like a dropped connection: a 503, outcome unknown, never a 500.
            if isinstance(self.client, RedisCluster):
                self.client._initialize = True
            raise Unavailable("connection", f"Redis connection closed mid-call: {type(exc).__name__}") from exc

    async def _round_trip(self, slot_key: str, *command: Any) -> tuple[Any, Any]:
        """``WAIT`` counts the replicas that have this connection's last write, so it must follow the script on
        the connection that ran it. On one Redis that is a non-transactional pipeline. On Redis Cluster,
        redis-py's cluster pipeline refuses ``evalsha`` and sends a keyless ``WAIT`` to its default node, which
        may be another primary (both found by the chaos suite, docs/reliability.md), so both commands go
        straight to the node that owns the sale's slot, on one of its connections; no redirection is followed
        and nothing is retried (a ``MOVED`` or a dead node is a 503 and marks the topology for a refresh, as
        redis-py's own command path does)."""
        client = self.client
        if not isinstance(client, RedisCluster):
            async with client.pipeline(transaction=False) as pipe:
                pipe.execute_command(*command)
                pipe.execute_command(*self._wait)
                first, acked = await pipe.execute(raise_on_error=False)
            return first, acked
        try:
            await client.initialize()  # a no-op unless a failure below marked the topology stale
            node = client.get_node_from_key(slot_key)
        except RedisClusterException as exc:
            raise Unavailable("connection", f"no node serves the sale's slot: {type(exc).__name__}") from exc
        if node is None:
            raise Unavailable("connection", "no node serves the sale's slot")
        pair = [PipelineCommand(0, *command), PipelineCommand(1, *self._wait)]
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
