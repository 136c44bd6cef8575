"""A sale of many SKUs in the engine, on a real redis-server and a real Redis Cluster: all-or-nothing lines,
quotas, the buyer's limit across SKUs, holds, cancellations and the per-SKU sold-out memo.

Every test ends with ``audited``: the sale's and every SKU's and quota's stock_added == remaining + held + sold
+ withdrawn, the SKUs add up to the sale, each SKU's live holds' units == its held, ledger length == orders +
cancels, nothing oversold.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import redis

from flashsale.inventory import Inventory, Outcome, SaleSnapshot, sale_keys
from flashsale.inventory.connection import connect
from flashsale.inventory.records import decode_order, encode_order
from flashsale.inventory.skus import Item, Quota, SkuState, check_catalogue, decode_lines, encode_lines, sellable
from flashsale.settings import Settings
from tests.servers import RedisClusterProcesses, RedisProcess

T = TypeVar("T")

SIZES = tuple(f"us-{n}" for n in (7, 8, 9, 10, 11, 12))


def run(url: str, body: Callable[[Inventory], Awaitable[T]], cluster: bool = False, **settings: Any) -> T:
    async def main() -> T:
        config = Settings(redis_url=url, redis_timeout_ms=3000, redis_cluster=cluster, **settings)
        inventory = Inventory(connect(config), config)
        try:
            return await body(inventory)
        finally:
            await inventory.close()

    return asyncio.run(main())


async def new_sale(
    inv: Inventory,
    stock: int = 3,
    limit: int = 0,
    quotas: tuple[Quota, ...] = (),
    sku_limits: dict[str, int] | None = None,
    ttl_s: int = 600,
) -> str:
    sale = f"k-{uuid.uuid4().hex[:12]}"
    items = tuple(Item(s, stock, (sku_limits or {}).get(s, 0)) for s in SIZES)
    assert check_catalogue(items, quotas) is None
    assert await inv.create_sale(sale, "sizes", 0, limit, hold_ttl_s=ttl_s, items=items, quotas=quotas)
    return sale


async def audited(inv: Inventory, sale: str) -> SaleSnapshot:
    s = await inv.read(sale, audit=True)
    assert s is not None
    assert s.stock_balanced, s
    assert s.skus_balanced, s
    assert s.holds_balanced, s
    assert s.ledger_matches, s
    assert s.oversold == 0, s
    return s


def of(s: SaleSnapshot, name: str) -> SkuState:
    return next(x for x in (*s.skus, *s.quotas) if x.name == name)


def key() -> str:
    return uuid.uuid4().hex


def test_three_lines_third_short_sells_nothing_and_names_it(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=2)
        lines = (("us-8", 1), ("us-9", 2), ("us-10", 3))
        k = key()
        first = await inv.purchase(sale, "ann", 6, k, lines=lines)
        assert first.outcome is Outcome.SOLD_OUT
        assert (first.line, first.sku, first.quota, first.remaining) == (2, "us-10", "", 2)
        again = await inv.purchase(sale, "ann", 6, k, lines=lines)
        assert (again.outcome, again.line, again.sku, again.remaining) == (Outcome.SOLD_OUT, 2, "us-10", 2)
        s = await audited(inv, sale)
        assert [x.remaining for x in s.skus] == [2] * len(SIZES)
        assert (s.remaining, s.sold, s.orders, s.ledger_length) == (12, 0, 0, 0)
        assert await inv.client.hgetall(sale_keys(sale).buyers) == {}

    run(redis_server.url, body)


def test_limit_counts_units_across_skus(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=5, limit=2)
        assert (await inv.purchase(sale, "bo", 1, key(), lines=(("us-9", 1),))).outcome is Outcome.SOLD
        assert (await inv.purchase(sale, "bo", 1, key(), lines=(("us-10", 1),))).outcome is Outcome.SOLD
        for sku in SIZES:
            third = await inv.purchase(sale, "bo", 1, key(), lines=((sku, 1),))
            assert (third.outcome, third.bought, third.limit) == (Outcome.LIMIT_REACHED, 2, 2)
        held = await inv.hold(sale, "bo", 1, key(), lines=(("us-7", 1),))
        assert held.outcome is Outcome.LIMIT_REACHED
        s = await audited(inv, sale)
        assert (s.sold, of(s, "us-9").sold, of(s, "us-10").sold) == (2, 1, 1)

    run(redis_server.url, body)


def test_a_skus_own_limit_is_stricter_and_names_the_line(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=5, limit=4, sku_limits={"us-9": 1})
        assert (await inv.purchase(sale, "cy", 1, key(), lines=(("us-9", 1),))).outcome is Outcome.SOLD
        r = await inv.purchase(sale, "cy", 2, key(), lines=(("us-8", 1), ("us-9", 1)))
        assert (r.outcome, r.bought, r.limit, r.line, r.sku) == (Outcome.LIMIT_REACHED, 1, 1, 1, "us-9")
        assert (await inv.purchase(sale, "dee", 1, key(), lines=(("us-9", 1),))).outcome is Outcome.SOLD
        # The per-SKU count follows holds too: released, the unit is the buyer's to take again.
        h = await inv.hold(sale, "eve", 1, key(), lines=(("us-9", 1),))
        assert h.outcome is Outcome.HELD
        assert (await inv.hold(sale, "eve", 1, key(), lines=(("us-9", 1),))).outcome is Outcome.LIMIT_REACHED
        assert (await inv.release(sale, h.hold_id, "eve")).outcome is Outcome.RELEASED
        assert (await inv.purchase(sale, "eve", 1, key(), lines=(("us-9", 1),))).outcome is Outcome.SOLD
        await audited(inv, sale)

    run(redis_server.url, body)


def test_overlapping_quotas_cap_their_skus_and_lines_add_up(redis_server: RedisProcess) -> None:
    quotas = (Quota("all-sizes", 8, SIZES), Quota("big", 3, ("us-11", "us-12")))

    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=3, quotas=quotas)
        s = await audited(inv, sale)
        assert (s.total, s.sellable) == (18, 8)
        # 2 + 2 of the `big` quota in one request: each line alone fits, together they do not.
        r = await inv.purchase(sale, "fay", 4, key(), lines=(("us-11", 2), ("us-12", 2)))
        assert (r.outcome, r.line, r.sku, r.quota, r.remaining) == (Outcome.SOLD_OUT, 1, "us-12", "big", 3)
        assert (await inv.purchase(sale, "fay", 3, key(), lines=(("us-11", 2), ("us-12", 1)))).outcome is Outcome.SOLD
        r = await inv.purchase(sale, "gus", 1, key(), lines=(("us-12", 1),))
        assert (r.outcome, r.quota, r.remaining, r.held) == (Outcome.SOLD_OUT, "big", 0, 0)
        for sku in ("us-7", "us-8"):
            assert (await inv.purchase(sale, "gus", 2, key(), lines=((sku, 2),))).outcome is Outcome.SOLD
        r = await inv.purchase(sale, "hal", 2, key(), lines=(("us-9", 2),))
        assert (r.outcome, r.quota, r.remaining) == (Outcome.SOLD_OUT, "all-sizes", 1)
        s = await audited(inv, sale)
        assert (of(s, "all-sizes").sold, of(s, "all-sizes").remaining, of(s, "big").remaining) == (7, 1, 0)
        assert s.sellable == 1 and s.status == "open"
        assert (await inv.purchase(sale, "hal", 1, key(), lines=(("us-10", 1),))).outcome is Outcome.SOLD
        s = await audited(inv, sale)
        assert (s.sellable, s.status, s.remaining) == (0, "sold_out", 10)

    run(redis_server.url, body)


def test_hold_with_lines_expires_returns_every_line_and_quota(redis_server: RedisProcess) -> None:
    quotas = (Quota("pair", 3, ("us-9", "us-10")),)

    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=2, quotas=quotas, sku_limits={"us-9": 1}, ttl_s=1)
        h = await inv.hold(sale, "ivo", 3, key(), lines=(("us-9", 1), ("us-10", 1), ("us-7", 1)))
        assert h.outcome is Outcome.HELD and h.lines == "us-9:1,us-10:1,us-7:1"
        s = await audited(inv, sale)
        assert (of(s, "us-9").held, of(s, "pair").held, of(s, "pair").remaining, s.held) == (1, 2, 1, 3)
        assert s.live_lines == "us-9:1,us-10:1,us-7:1"
        deadline = time.monotonic() + 10
        while (await inv.reap(sale))[1] > 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        s = await audited(inv, sale)
        assert (s.held, s.remaining, s.holds_expired) == (0, 12, 1)
        assert [x.remaining for x in s.skus] == [2] * len(SIZES)
        assert (of(s, "pair").remaining, of(s, "pair").held) == (3, 0)
        late = await inv.confirm(sale, h.hold_id, "ivo")
        assert late.outcome is Outcome.HOLD_EXPIRED
        s = await audited(inv, sale)
        assert (s.sold, s.orders, s.ledger_length) == (0, 0, 0)
        # The per-SKU limit's count went back with the units.
        assert (await inv.purchase(sale, "ivo", 1, key(), lines=(("us-9", 1),))).outcome is Outcome.SOLD
        await audited(inv, sale)

    run(redis_server.url, body)


def test_confirm_release_and_cancel_move_every_line(redis_server: RedisProcess) -> None:
    quotas = (Quota("pair", 4, ("us-9", "us-10")),)

    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=3, quotas=quotas)
        lines = (("us-9", 2), ("us-10", 1))
        h = await inv.hold(sale, "jo", 3, key(), lines=lines)
        assert (await inv.confirm(sale, h.hold_id, "kai", "pay-0")).outcome is Outcome.UNKNOWN_HOLD
        c = await inv.confirm(sale, h.hold_id, "jo", "pay-1")
        assert c.outcome is Outcome.CONFIRMED and c.lines == "us-9:2,us-10:1"
        assert (await inv.confirm(sale, h.hold_id, "jo")).lines == c.lines
        s = await audited(inv, sale)
        assert (of(s, "us-9").sold, of(s, "us-10").sold, of(s, "pair").sold, of(s, "pair").held) == (2, 1, 3, 0)
        released = await inv.hold(sale, "jo", 1, key(), lines=(("us-10", 1),))
        assert (await inv.release(sale, released.hold_id, "kai")).outcome is Outcome.UNKNOWN_HOLD
        assert (await inv.release(sale, released.hold_id, "jo")).outcome is Outcome.RELEASED
        bought = await inv.purchase(sale, "kai", 1, key(), lines=(("us-9", 1),))
        kept = await inv.cancel_order(sale, bought.order_id, restock=False)
        assert kept.outcome is Outcome.CANCELLED and kept.lines == "us-9:1"
        back = await inv.cancel_order(sale, c.order_id, restock=True)
        assert back.outcome is Outcome.CANCELLED and back.lines == c.lines
        s = await audited(inv, sale)
        nine, ten, pair = of(s, "us-9"), of(s, "us-10"), of(s, "pair")
        assert (nine.remaining, nine.sold, nine.withdrawn, nine.restocked) == (2, 0, 1, 2)
        assert (ten.remaining, ten.sold, ten.restocked) == (3, 0, 1)
        assert (pair.remaining, pair.sold, pair.withdrawn, pair.restocked) == (3, 0, 1, 3)
        entries = await inv.client.xrange(sale_keys(sale).orders)
        assert [e[1].get("lines") for e in entries] == ["us-9:2,us-10:1", "us-9:1", "us-9:1", "us-9:2,us-10:1"]

    run(redis_server.url, body)


def test_idempotency_covers_the_whole_request(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=4)
        k = key()
        lines = (("us-7", 1), ("us-8", 2))
        sold = await inv.purchase(sale, "lou", 3, k, lines=lines)
        replay = await inv.purchase(sale, "lou", 3, k, lines=lines)
        assert (replay.outcome, replay.order_id, replay.lines) == (Outcome.REPLAYED, sold.order_id, "us-7:1,us-8:2")
        other = await inv.purchase(sale, "lou", 3, k, lines=(("us-7", 2), ("us-8", 1)))
        assert other.outcome is Outcome.IDEMPOTENCY_CONFLICT
        raw = await inv.client.get(sale_keys(sale).idem(k))
        assert decode_order(raw).lines == "us-7:1,us-8:2" and encode_order(decode_order(raw)) == raw
        s = await audited(inv, sale)
        assert (s.orders, s.sold) == (1, 3)

    run(redis_server.url, body)


def test_requests_and_sales_of_the_other_kind_are_unknown_sku(redis_server: RedisProcess) -> None:
    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv)
        r = await inv.purchase(sale, "max", 1, key())
        assert (r.outcome, r.line, r.sku) == (Outcome.UNKNOWN_SKU, 0, "default")
        r = await inv.purchase(sale, "max", 2, key(), lines=(("us-7", 1), ("eu-40", 1)))
        assert (r.outcome, r.line, r.sku) == (Outcome.UNKNOWN_SKU, 1, "eu-40")
        h = await inv.hold(sale, "max", 1, key(), lines=(("eu-40", 1),))
        assert (h.outcome, h.sku) == (Outcome.UNKNOWN_SKU, "eu-40")
        plain = f"p-{uuid.uuid4().hex[:12]}"
        assert await inv.create_sale(plain, "one stock", 5)
        r = await inv.purchase(plain, "max", 1, key(), lines=(("us-7", 1),))
        assert (r.outcome, r.sku) == (Outcome.UNKNOWN_SKU, "us-7")
        assert await inv.restock(sale, 1) == -1 and await inv.restock(plain, 1, "us-7") == -1
        assert await inv.restock(sale, 2, "us-7") == 5
        s = await audited(inv, sale)
        assert (s.total, of(s, "us-7").total, s.orders) == (20, 5, 0)

    run(redis_server.url, body)


def test_one_script_call_per_purchase_whatever_the_lines() -> None:
    """On a Redis of its own: the session's server also serves other tests' API processes, whose background
    scripts (the waiting room's controller) would be counted here."""
    server = RedisProcess("--appendonly", "no").start()
    r = redis.Redis(port=server.port)

    def sent() -> int:
        """Script calls clients sent."""
        stats = r.info("commandstats")
        return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval"))

    def run_inside() -> int:
        """Commands run, a script's own calls included."""
        stats = r.info("commandstats")
        return sum(int(v.get("calls", 0)) for name, v in stats.items() if name.startswith("cmdstat_"))

    async def body(inv: Inventory) -> list[tuple[int, int]]:
        sale = await new_sale(inv, stock=50, quotas=(Quota("all", 200, SIZES),))
        # The first call of a script on a fresh server is EVALSHA, NOSCRIPT, then EVAL: not a purchase's cost.
        assert (await inv.purchase(sale, "warm", 1, key(), lines=((SIZES[0], 1),))).outcome is Outcome.SOLD
        counts = []
        for n in (1, 3, 6):
            before = (sent(), run_inside())
            result = await inv.purchase(sale, f"n{n}", n, key(), lines=tuple((s, 1) for s in SIZES[:n]))
            counts.append((sent() - before[0], run_inside() - before[1]))
            assert result.outcome is Outcome.SOLD
        await audited(inv, sale)
        return counts

    try:
        counts = run(server.url, body)
        # One EVALSHA per purchase, and as many Redis calls inside it for six lines as for one: the lines are read
        # and written with one HMGET and one HSET each (make bench counts the commands on the wire with MONITOR).
        assert [c[0] for c in counts] == [1, 1, 1], counts
        assert len({c[1] for c in counts}) == 1, counts
    finally:
        r.close()
        server.cleanup()


def test_a_sold_out_size_is_answered_from_memory_while_others_sell() -> None:
    """On a Redis of its own, so the script calls counted are this test's alone."""
    server = RedisProcess("--appendonly", "no").start()
    r = redis.Redis(port=server.port)

    def evalsha() -> int:
        return int(r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))

    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=1)
        k = key()
        first = await inv.purchase(sale, "nia", 1, k, lines=(("us-9", 1),))
        assert first.outcome is Outcome.SOLD
        refused = await inv.purchase(sale, "oli", 1, key(), lines=(("us-9", 1),))
        assert refused.outcome is Outcome.SOLD_OUT
        deadline = time.monotonic() + 5
        before = evalsha()
        while True:  # the memo reads the ledger in the background first
            memo = await inv.purchase(sale, "oli", 2, key(), lines=(("us-7", 1), ("us-9", 1)))
            assert memo.outcome is Outcome.SOLD_OUT and (memo.line, memo.sku) == (1, "us-9")
            if evalsha() == before:
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
            before = evalsha()
        replay = await inv.purchase(sale, "nia", 1, k, lines=(("us-9", 1),))
        assert (replay.outcome, replay.order_id, replay.lines) == (Outcome.REPLAYED, first.order_id, "us-9:1")
        assert evalsha() == before
        other = await inv.purchase(sale, "oli", 1, key(), lines=(("us-10", 1),))
        assert other.outcome is Outcome.SOLD and evalsha() == before + 1
        s = await audited(inv, sale)
        assert s.sold == 2 and of(s, "us-9").sold_out_ms is not None and of(s, "us-10").sold_out_ms is not None
        assert of(s, "us-8").sold_out_ms is None

    try:
        run(server.url, body, soldout_cache_ms=1000)
    finally:
        r.close()
        server.cleanup()


def test_skus_on_redis_cluster(redis_cluster: RedisClusterProcesses) -> None:
    quotas = (Quota("all", 10, SIZES), Quota("big", 1, ("us-11", "us-12")))

    async def body(inv: Inventory) -> None:
        sale = await new_sale(inv, stock=3, quotas=quotas, ttl_s=1)
        lines = (("us-7", 1), ("us-11", 1), ("us-12", 1))
        r = await inv.purchase(sale, "pia", 3, key(), lines=lines)
        assert (r.outcome, r.line, r.quota) == (Outcome.SOLD_OUT, 2, "big")
        sold = await inv.purchase(sale, "pia", 2, key(), lines=lines[:2])
        assert sold.outcome is Outcome.SOLD
        h = await inv.hold(sale, "quin", 2, key(), lines=(("us-8", 1), ("us-9", 1)))
        assert h.outcome is Outcome.HELD
        assert (await inv.cancel_order(sale, sold.order_id, restock=True)).outcome is Outcome.CANCELLED
        deadline = time.monotonic() + 10
        while (await inv.reap(sale))[1] > 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        s = await audited(inv, sale)
        assert (s.remaining, s.sold, of(s, "all").remaining, of(s, "big").remaining) == (18, 0, 10, 1)

    run(redis_cluster.url, body, cluster=True)


def test_lines_text_and_catalogue_checks() -> None:
    lines = (("us-9", 1), ("v.i.p_2", 12))
    assert decode_lines(encode_lines(lines)) == lines and decode_lines("") == ()
    items = (Item("a", 1), Item("b", 1))
    assert check_catalogue(items, (Quota("q", 1, ("a", "b")),)) is None
    assert "distinct" in str(check_catalogue((Item("a", 1), Item("a", 2)), ()))
    assert "default" in str(check_catalogue((Item("default", 1),), ()))
    assert "not an item" in str(check_catalogue(items, (Quota("q", 1, ("c",)),)))
    assert "1 to 64" in str(check_catalogue(tuple(Item(f"s{i}", 1) for i in range(65)), ()))
    assert "name" in str(check_catalogue((Item("a:b", 1),), ()))


@pytest.mark.parametrize(
    ("remaining", "quotas", "expected"),
    [
        ({"a": 5, "b": 5}, [], 10),
        ({"a": 5, "b": 5}, [("q", 3, ("a", "b"))], 3),
        ({"a": 10, "b": 5}, [("outer", 10, ("a", "b")), ("inner", 2, ("a",))], 7),
        ({"a": 1, "b": 1}, [("q1", 1, ("a", "b")), ("q2", 0, ("a",))], 1),
        ({"a": 0, "b": 4}, [("q", 9, ("a",))], 4),
    ],
)
def test_sellable_is_a_plan_every_quota_allows(
    remaining: dict[str, int], quotas: list[tuple[str, int, tuple[str, ...]]], expected: int
) -> None:
    def state(name: str, units: int, members: tuple[str, ...]) -> SkuState:
        return SkuState(name, units, units, 0, 0, 0, 0, members=members)

    quota_states = [state(n, cap, members) for n, cap, members in quotas]
    skus = [state(s, n, tuple(q for q, _, m in quotas if s in m)) for s, n in remaining.items()]
    assert sellable(skus, quota_states) == expected
