"""Holds in the engine, against a real redis-server: hold, confirm, release, expiry, cancel, invariants.

Every test ends with ``audited``: stock_added == remaining + held + sold + withdrawn, holds created == live +
confirmed + released + expired (and the live holds' units == held), ledger length == orders + cancels, and
nothing oversold.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from flashsale.inventory import HoldState, Inventory, Outcome, SaleSnapshot, sale_keys
from flashsale.inventory.connection import connect
from flashsale.inventory.records import OrderRecord, decode_order, encode_order
from flashsale.settings import Durability, Settings
from tests.servers import RedisProcess

T = TypeVar("T")


def engine(url: str, **settings: Any) -> Inventory:
    config = Settings(redis_url=url, redis_timeout_ms=3000, **settings)
    return Inventory(connect(config), config)


def run(url: str, body: Callable[[Inventory], Awaitable[T]], **settings: Any) -> T:
    async def main() -> T:
        inventory = engine(url, **settings)
        try:
            return await body(inventory)
        finally:
            await inventory.close()

    return asyncio.run(main())


async def new_sale(inv: Inventory, stock: int, limit: int = 0, ttl_s: int = 600) -> str:
    sale = f"h-{uuid.uuid4().hex[:12]}"
    assert await inv.create_sale(sale, "hold test", stock, limit, hold_ttl_s=ttl_s)
    return sale


async def audited(inv: Inventory, sale: str) -> SaleSnapshot:
    s = await inv.read(sale, audit=True)
    assert s is not None
    assert s.stock_balanced, s
    assert s.holds_balanced, s
    assert s.ledger_matches, s
    assert s.oversold == 0, s
    return s


async def poll(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Poll ``check`` every 20 ms until it is true; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.02)


def key() -> str:
    return uuid.uuid4().hex


def test_hold_confirm_replay_and_ledger_entry(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=5)
        k = key()
        held = await inv.hold(sale, "alice", 2, k)
        assert held.outcome is Outcome.HELD and held.remaining == 3 and len(held.hold_id) == 32
        s = await audited(inv, sale)
        assert (s.remaining, s.held, s.sold, s.holds) == (3, 2, 0, 1)

        again = await inv.hold(sale, "alice", 2, k)
        assert again.outcome is Outcome.REPLAYED
        assert (again.hold_id, again.expires_ms, again.state) == (held.hold_id, held.expires_ms, HoldState.HELD)
        assert (await inv.hold(sale, "alice", 1, k)).outcome is Outcome.IDEMPOTENCY_CONFLICT
        assert (await inv.hold(sale, "bob", 2, k)).outcome is Outcome.IDEMPOTENCY_CONFLICT

        # Another buyer's hold is unknown to them at every step, and stays as it was.
        assert (await inv.confirm(sale, held.hold_id, "bob", "pay-0")).outcome is Outcome.UNKNOWN_HOLD
        assert (await inv.release(sale, held.hold_id, "bob")).outcome is Outcome.UNKNOWN_HOLD
        assert (await inv.read_hold(sale, held.hold_id, "bob")).outcome is Outcome.UNKNOWN_HOLD
        assert (await inv.read_hold(sale, held.hold_id, "")).state is HoldState.HELD  # "": anyone's (operators)
        confirmed = await inv.confirm(sale, held.hold_id, "alice", "pay-1")
        assert confirmed.outcome is Outcome.CONFIRMED and confirmed.quantity == 2 and confirmed.buyer_id == "alice"
        assert confirmed.created_ms < held.expires_ms
        replay = await inv.confirm(sale, held.hold_id, "alice", "pay-2")
        assert replay.outcome is Outcome.REPLAYED
        assert (replay.order_id, replay.created_ms) == (confirmed.order_id, confirmed.created_ms)
        state = await inv.read_hold(sale, held.hold_id, "alice")
        assert (state.outcome, state.state, state.order_id) == (Outcome.FOUND, HoldState.CONFIRMED, confirmed.order_id)
        # A replayed hold after the confirm says so; it never makes a second hold.
        assert (await inv.hold(sale, "alice", 2, k)).state is HoldState.CONFIRMED

        entries = await inv.client.xrange(sale_keys(sale).orders)
        assert len(entries) == 1
        entry_id, fields = entries[0]
        assert entry_id == confirmed.order_id
        assert fields == {
            "kind": "order",
            "buyer": "alice",
            "quantity": "2",
            "created_ms": str(confirmed.created_ms),
            "key": "",
            "hold": held.hold_id,
            "payment_ref": "pay-1",
        }
        s = await audited(inv, sale)
        assert (s.remaining, s.held, s.sold, s.orders, s.holds_confirmed) == (3, 0, 2, 1, 1)

    run(redis_server.url, body)


def test_release_and_the_states_a_hold_cannot_leave(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=3)
        first = await inv.hold(sale, "carol", 1, key())
        second = await inv.hold(sale, "carol", 1, key())
        assert (await inv.release(sale, first.hold_id, "carol")).outcome is Outcome.RELEASED
        assert (await inv.release(sale, first.hold_id, "carol")).outcome is Outcome.HOLD_RELEASED
        assert (await inv.confirm(sale, first.hold_id, "carol")).outcome is Outcome.HOLD_RELEASED
        assert (await inv.confirm(sale, second.hold_id, "carol")).outcome is Outcome.CONFIRMED
        released = await inv.release(sale, second.hold_id, "carol")
        assert released.outcome is Outcome.HOLD_CONFIRMED and released.order_id
        assert (await inv.release(sale, "0" * 32, "carol")).outcome is Outcome.UNKNOWN_HOLD
        assert (await inv.confirm(sale, "not-a-hold-id", "carol")).outcome is Outcome.UNKNOWN_HOLD
        assert (await inv.confirm("no-such-sale", "0" * 32, "carol")).outcome is Outcome.UNKNOWN_SALE
        s = await audited(inv, sale)
        assert (s.remaining, s.held, s.sold, s.holds_released, s.holds_confirmed) == (2, 0, 1, 1, 1)

    run(redis_server.url, body)


def test_limit_counts_held_and_sold_units(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=10, limit=2)
        h = await inv.hold(sale, "dave", 1, key())
        assert (await inv.purchase(sale, "dave", 1, key())).outcome is Outcome.SOLD
        limited = await inv.hold(sale, "dave", 1, key())
        assert (limited.outcome, limited.bought, limited.limit) == (Outcome.LIMIT_REACHED, 2, 2)
        assert (await inv.purchase(sale, "dave", 1, key())).outcome is Outcome.LIMIT_REACHED
        assert (await inv.release(sale, h.hold_id, "dave")).outcome is Outcome.RELEASED
        assert (await inv.hold(sale, "dave", 1, key())).outcome is Outcome.HELD
        await audited(inv, sale)

    run(redis_server.url, body)


def test_expiry_is_judged_by_redis_and_units_come_back_without_a_reaper(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=2, ttl_s=1)
        a = await inv.hold(sale, "erin", 2, key())
        assert (await inv.purchase(sale, "frank", 1, key())).outcome is Outcome.SOLD_OUT
        # Sold out with units held: the memo must not be filled (those units may come back).
        assert inv.memo is not None and inv.memo.lookup(sale, key(), "frank", 1) is None

        async def redis_past_expiry() -> bool:
            seconds, micros = await inv.client.time()
            return seconds * 1000 + micros // 1000 >= a.expires_ms

        await poll(redis_past_expiry)
        late = await inv.confirm(sale, a.hold_id, "erin")
        assert (late.outcome, late.expires_ms) == (Outcome.HOLD_EXPIRED, a.expires_ms)
        assert (await inv.confirm(sale, a.hold_id, "erin")).outcome is Outcome.HOLD_EXPIRED
        assert (await inv.release(sale, a.hold_id, "erin")).outcome is Outcome.HOLD_EXPIRED
        assert (await inv.read_hold(sale, a.hold_id, "erin")).state is HoldState.EXPIRED
        bought = await inv.purchase(sale, "frank", 2, key())
        assert bought.outcome is Outcome.SOLD
        s = await audited(inv, sale)
        assert (s.sold, s.held, s.holds_expired, s.orders) == (2, 0, 1, 1)

    run(redis_server.url, body)


def test_purchase_and_hold_reclaim_expired_holds_and_the_reaper_tidies(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=4, ttl_s=1)
        holds = [await inv.hold(sale, f"b{i}", 1, key()) for i in range(4)]
        assert (await inv.hold(sale, "late", 1, key())).outcome is Outcome.SOLD_OUT

        async def hold_again() -> bool:
            return (await inv.hold(sale, "late", 1, key())).outcome is Outcome.HELD

        await poll(hold_again)  # the hold script itself reclaimed the expired holds
        # The first hold made expires first: its unit is the one the hold script took back.
        assert (await inv.read_hold(sale, holds[0].hold_id, "b0")).state is HoldState.EXPIRED

        quiet = await new_sale(inv, stock=3, ttl_s=1)
        await inv.hold(quiet, "q", 3, key())

        async def reaped() -> bool:
            units, live = await inv.reap(quiet)
            return units == 3 and live == 0

        await poll(reaped)
        raw = await inv.client.hmget(sale_keys(quiet).sale, "remaining", "held", "holds_expired")
        assert raw == ["3", "0", "1"]
        await audited(inv, sale)
        await audited(inv, quiet)

    run(redis_server.url, body)


def test_rush_of_holds_on_small_stock(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=10)
        results = await asyncio.gather(*(inv.hold(sale, f"r{i}", 1, key()) for i in range(300)))
        outcomes = [r.outcome for r in results]
        assert outcomes.count(Outcome.HELD) == 10 and outcomes.count(Outcome.SOLD_OUT) == 290
        s = await audited(inv, sale)
        assert (s.remaining, s.held, s.live_holds) == (0, 10, 10)

    run(redis_server.url, body)


def test_cancel_is_exactly_once(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=4)
        order = await inv.purchase(sale, "gina", 2, key())
        h = await inv.hold(sale, "hank", 1, key())
        confirmed = await inv.confirm(sale, h.hold_id, "hank")
        first = await inv.cancel_order(sale, order.order_id, restock=True)
        assert first.outcome is Outcome.CANCELLED and first.restock and first.quantity == 2
        again = await asyncio.gather(*(inv.cancel_order(sale, order.order_id, restock=r) for r in (True, False)))
        assert {(c.outcome, c.cancel_id, c.restock) for c in again} == {(Outcome.REPLAYED, first.cancel_id, True)}
        kept = await inv.cancel_order(sale, confirmed.order_id, restock=False)
        assert kept.outcome is Outcome.CANCELLED and not kept.restock
        assert (await inv.cancel_order(sale, first.cancel_id, True)).outcome is Outcome.UNKNOWN_ORDER
        assert (await inv.cancel_order(sale, "1-1", True)).outcome is Outcome.UNKNOWN_ORDER
        assert (await inv.cancel_order(sale, "nonsense", True)).outcome is Outcome.UNKNOWN_ORDER
        s = await audited(inv, sale)
        assert (s.remaining, s.sold, s.restocked, s.withdrawn, s.orders, s.cancels) == (3, 0, 2, 1, 2, 2)
        kinds = [f["kind"] for _, f in await inv.client.xrange(sale_keys(sale).orders)]
        assert kinds == ["order", "order", "cancel", "cancel"]
        # The buyer's units are free again: the per-buyer count dropped with the cancel.
        assert await inv.client.hget(sale_keys(sale).buyers, "gina") == "0"

    run(redis_server.url, body)


@pytest.mark.slow
def test_confirms_racing_expiry_at_the_boundary(redis_server: RedisProcess) -> None:
    """Hundreds of confirms around the moment their holds expire: each either sells before expires_ms (by
    Redis TIME) or is a hold_expired that sells nothing; the audit balances.

    A third are sent at once (a 3 s TTL is far from their expiry: they must sell), a third only once Redis's own
    clock is past their expiry (they must not), and a third aimed at the boundary itself. The first two thirds
    make both outcomes certain whatever the box's load; an earlier version aimed all 300 at the boundary and, on
    a CI box busy enough that a 300-confirm burst took 1,039 ms, every one landed late.
    """
    n = 300

    async def body(inv: Inventory) -> dict[str, Any]:
        sale = await new_sale(inv, stock=n, ttl_s=3)

        async def redis_ms() -> int:
            seconds, micros = await inv.client.time()
            return int(seconds * 1000 + micros // 1000)

        holds = await asyncio.gather(*(inv.hold(sale, f"c{i}", 1, key()) for i in range(n)))
        assert all(h.outcome is Outcome.HELD for h in holds)
        expiries = sorted(h.expires_ms for h in holds)
        # Redis's clock as seen from here (midpoint of one TIME round trip), so that each boundary confirm can be
        # sent at its own hold's expiry, shifted by -60..+20 ms (a confirm takes some ms to reach Redis).
        before = time.monotonic()
        redis_now = await redis_ms()
        skew_ms = redis_now - (before + time.monotonic()) * 500

        async def confirm_now(hold: Any) -> Any:
            return await inv.confirm(sale, hold.hold_id, hold.buyer_id)

        async def confirm_at(hold: Any, shift_ms: int) -> Any:
            delay_s = (hold.expires_ms + shift_ms - skew_ms) / 1000 - time.monotonic()
            await asyncio.sleep(max(0.0, delay_s))  # aiming the shot, not waiting for a condition
            return await inv.confirm(sale, hold.hold_id, hold.buyer_id)

        async def confirm_after_expiry(hold: Any) -> Any:
            deadline = time.monotonic() + 30
            while await redis_ms() <= hold.expires_ms:  # the condition is Redis's clock, bounded by the deadline
                assert time.monotonic() < deadline, "Redis's clock never passed the hold's expiry"
                await asyncio.sleep(0.01)
            return await inv.confirm(sale, hold.hold_id, hold.buyer_id)

        groups = {"now": holds[0::3], "boundary": holds[1::3], "late": holds[2::3]}
        started = time.monotonic()
        results = await asyncio.gather(
            *(confirm_now(h) for h in groups["now"]),
            *(confirm_at(h, i % 81 - 60) for i, h in enumerate(groups["boundary"])),
            *(confirm_after_expiry(h) for h in groups["late"]),
        )
        took_ms = round((time.monotonic() - started) * 1000)
        by_hold = {h.hold_id: h for h in holds}
        outcome = {r.hold_id: r.outcome for r in results}
        won = [r for r in results if r.outcome is Outcome.CONFIRMED]
        lost = [r for r in results if r.outcome is Outcome.HOLD_EXPIRED]
        assert len(won) + len(lost) == n
        assert all(r.created_ms < by_hold[r.hold_id].expires_ms for r in won)
        assert all(outcome[h.hold_id] is Outcome.HOLD_EXPIRED for h in groups["late"])
        s = await audited(inv, sale)
        assert (s.sold, s.orders, s.holds_confirmed) == (len(won), len(won), len(won))
        assert s.holds_expired + s.live_holds == len(lost) and s.held == s.live_holds
        figures = {
            "confirms": n,
            "won": len(won),
            "hold_expired": len(lost),
            "won_now": sum(outcome[h.hold_id] is Outcome.CONFIRMED for h in groups["now"]),
            "won_at_boundary": sum(outcome[h.hold_id] is Outcome.CONFIRMED for h in groups["boundary"]),
            "spread_ms": expiries[-1] - expiries[0],
            "confirm_run_ms": took_ms,
            "sold": s.sold,
            "remaining": s.remaining,
            "held": s.held,
            "oversold": s.oversold,
        }
        print("boundary race:", json.dumps(figures))
        return figures

    figures = run(redis_server.url, body)
    assert figures["won_now"] == n // 3, figures  # sent 3 s before their expiry
    assert figures["hold_expired"] >= n // 3, figures


@pytest.fixture
def aof_redis() -> Iterator[RedisProcess]:
    server = RedisProcess("--appendonly", "yes", "--appendfsync", "always").start()
    yield server
    server.cleanup()


@pytest.mark.chaos
def test_redis_restarted_mid_checkout_keeps_holds(aof_redis: RedisProcess) -> None:
    """SIGKILL with AOF (fsync always) between hold and confirm: the holds, their expiry and the counters
    survive; the script cache does not, and the engine reloads it (EVAL on NOSCRIPT)."""

    async def before(inv: Inventory) -> tuple[str, list[str]]:
        sale = await new_sale(inv, stock=5)
        holds = [await inv.hold(sale, f"k{i}", 1, key()) for i in range(3)]
        await inv.confirm(sale, holds[0].hold_id, "k0")
        return sale, [h.hold_id for h in holds]

    sale, ids = run(aof_redis.url, before)
    aof_redis.kill()
    aof_redis.start()

    async def after(inv: Inventory) -> None:
        assert (await inv.confirm(sale, ids[0], "k0")).outcome is Outcome.REPLAYED
        assert (await inv.confirm(sale, ids[1], "k1")).outcome is Outcome.CONFIRMED
        assert (await inv.release(sale, ids[2], "k2")).outcome is Outcome.RELEASED
        s = await audited(inv, sale)
        assert (s.sold, s.held, s.remaining, s.holds) == (2, 0, 3, 3)

    run(aof_redis.url, after)


def test_purchase_idempotency_record_has_the_format_records_py_defines(redis_server: RedisProcess) -> None:
    """purchase.lua writes the record, inventory/records.py reads and writes it (replicated replays): one format."""

    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=3)
        k = key()
        sold = await inv.purchase(sale, "rec", 2, k)
        raw = await inv.client.get(sale_keys(sale).idem(k))
        assert decode_order(raw) == OrderRecord(sold.order_id, "rec", 2, sold.created_ms)
        assert encode_order(decode_order(raw)) == raw
        await audited(inv, sale)

    run(redis_server.url, body)


@pytest.mark.chaos
def test_replicated_mode_acknowledges_holds_and_confirms_only_once_a_replica_has_them() -> None:
    """FLASHSALE_DURABILITY=replicated: a hold, a confirm and a cancel are answered only once a replica
    acknowledged them; with the replica frozen a confirm is ``Unavailable`` (a 503) and so is its retry (a replay
    waits for the replica too); once the replica is back the retry replays the one order."""
    from flashsale.inventory import Unavailable
    from tests.chaos_tools import wait_replica_acks
    from tests.servers import wait_replicas_synced

    primary = RedisProcess("--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0").start()
    replica = primary.replica("--repl-diskless-sync-delay", "0").start()
    try:
        wait_replicas_synced([replica])
        wait_replica_acks(primary.port, "holds-replication-probe")

        async def body(inv: Inventory) -> None:
            sale = await new_sale(inv, stock=3)
            held = await inv.hold(sale, "rep", 1, key())
            assert held.outcome is Outcome.HELD
            replica.freeze()
            try:
                with pytest.raises(Unavailable) as first:
                    await inv.confirm(sale, held.hold_id, "rep")
                assert first.value.kind == "replication"
                with pytest.raises(Unavailable):  # the retry is a replay: it waits for the replica too
                    await inv.confirm(sale, held.hold_id, "rep")
            finally:
                replica.thaw()

            async def replayed() -> bool:
                try:
                    return (await inv.confirm(sale, held.hold_id, "rep")).outcome is Outcome.REPLAYED
                except Unavailable:
                    return False

            await poll(replayed)
            order = await inv.confirm(sale, held.hold_id, "rep")
            cancelled = await inv.cancel_order(sale, order.order_id, restock=True)
            assert cancelled.outcome is Outcome.CANCELLED
            s = await audited(inv, sale)
            assert (s.orders, s.cancels, s.sold, s.remaining) == (1, 1, 0, 3)

        run(primary.url, body, durability=Durability.REPLICATED, replicas=1, replica_timeout_ms=100)
    finally:
        replica.thaw()
        replica.cleanup()
        primary.cleanup()
