"""Orders of a sale of SKUs in PostgreSQL (issue 26): their lines in ``order_lines`` (migration 0002, rows of
``orders`` from before stay valid), reconciliation per SKU, and a repair that re-applies lost lines after a
failover; with ``replicated`` durability a failover loses none. Real ``flashsale export`` processes, real
redis-servers (a primary and its replica) and a real PostgreSQL 15."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import uuid
from collections import Counter
from typing import Any

import psycopg
import pytest
import redis

from flashsale.inventory import Inventory, Outcome, SaleSnapshot, Unavailable
from flashsale.inventory.connection import connect
from flashsale.inventory.skus import Item, Quota, decode_lines, encode_lines
from flashsale.orders.db import upgrade
from flashsale.settings import Durability, Settings
from tests.export_tools import ExporterProcess, db_count, group_backlog, poll
from tests.servers import RedisProcess, wait_replicas_synced

SIZES = tuple(f"us-{n}" for n in range(6, 14))
QUOTAS = (Quota("all", 200, SIZES), Quota("big", 40, SIZES[-3:]))


def settings(url: str, **extra: Any) -> Settings:
    return Settings.from_env({}, redis_url=url, redis_timeout_ms=2000, soldout_cache_ms=0, **extra)


async def _buy_lines(url: str, sale: str, n: int, create: bool, seed: int, **extra: Any) -> dict[str, Any]:
    """``n`` purchases of one or two sizes each (a 503 retried with the same key); key -> (order id, lines)."""
    inventory = Inventory(connect(settings(url, **extra)), settings(url, **extra))
    rng = random.Random(seed)
    sold: dict[str, Any] = {}
    try:
        if create:
            items = tuple(Item(s, 30) for s in SIZES)
            assert await inventory.create_sale(sale, "sizes export", 0, 0, items=items, quotas=QUOTAS)
        for i in range(n):
            picked = rng.sample(SIZES, rng.choice((1, 1, 2)))
            lines = tuple((s, rng.choice((1, 2))) for s in picked)
            key = f"{seed}-{i:05d}"
            for _ in range(50):
                try:
                    r = await inventory.purchase(sale, f"buyer-{seed}-{i}", sum(q for _, q in lines), key, lines=lines)
                except Unavailable:
                    continue
                if r.outcome in (Outcome.SOLD, Outcome.REPLAYED):
                    sold[key] = (r.order_id, lines)
                break
    finally:
        await inventory.close()
    return sold


def buy_lines(url: str, sale: str, n: int, create: bool = False, seed: int = 0, **extra: Any) -> dict[str, Any]:
    return asyncio.run(_buy_lines(url, sale, n, create, seed, **extra))


def snapshot(url: str, sale: str) -> SaleSnapshot:
    async def go() -> SaleSnapshot:
        inventory = Inventory(connect(settings(url)), settings(url))
        try:
            s = await inventory.read(sale, audit=True)
        finally:
            await inventory.close()
        assert s is not None
        return s

    return asyncio.run(go())


def reconcile(redis_url: str, database: str, sale: str, *extra: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "flashsale", "reconcile", sale, *extra],
        capture_output=True,
        text=True,
        env={**os.environ, "FLASHSALE_REDIS_URL": redis_url, "FLASHSALE_DATABASE_URL": database},
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def db_lines(database: str, sale: str) -> dict[str, list[tuple[str, int]]]:
    with psycopg.connect(database, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT order_id, sku, quantity FROM order_lines WHERE sale_id = %s ORDER BY order_id, position", (sale,)
        ).fetchall()
    out: dict[str, list[tuple[str, int]]] = {}
    for order_id, sku, quantity in rows:
        out.setdefault(order_id, []).append((sku, quantity))
    return out


def audited(s: SaleSnapshot) -> SaleSnapshot:
    assert s.stock_balanced and s.skus_balanced and s.holds_balanced and s.ledger_matches, s
    assert s.oversold == 0, s
    return s


def test_order_lines_exported_and_reconciled_per_sku(redis_node: RedisProcess, database: str) -> None:
    sale, plain = f"x-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    sold = buy_lines(redis_node.url, sale, 70, create=True, seed=1)

    async def more() -> str:
        inventory = Inventory(connect(settings(redis_node.url)), settings(redis_node.url))
        try:
            assert await inventory.create_sale(plain, "one stock", 10)
            assert (await inventory.purchase(plain, "solo", 2, uuid.uuid4().hex)).outcome is Outcome.SOLD
            held = await inventory.hold(sale, "holder", 2, uuid.uuid4().hex, lines=(("us-6", 1), ("us-7", 1)))
            assert held.outcome is Outcome.HELD, held
            confirmed = await inventory.confirm(sale, held.hold_id, "holder")
            assert confirmed.outcome is Outcome.CONFIRMED
            first = next(iter(sold.values()))[0]
            assert (await inventory.cancel_order(sale, first, restock=True)).outcome is Outcome.CANCELLED
            return confirmed.order_id
        finally:
            await inventory.close()

    confirmed = asyncio.run(more())
    exporter = ExporterProcess(redis_node.url, database).start()
    try:
        poll(
            lambda: group_backlog(redis_node.port, sale) == 0 and db_count(database, sale) == len(sold) + 1,
            60,
            "exported",
        )
        poll(lambda: db_count(database, plain) == 1, 30, "the one-stock order exported")
    finally:
        exporter.stop()
    lines = db_lines(database, sale)
    assert {o: tuple(v) for o, v in lines.items()} == {
        **{order_id: tuple(ls) for order_id, ls in sold.values()},
        confirmed: (("us-6", 1), ("us-7", 1)),
    }
    assert db_lines(database, plain) == {}
    with psycopg.connect(database) as conn:
        bad = conn.execute(
            "SELECT count(*) FROM orders o WHERE sale_id = %s AND quantity <> "
            "(SELECT sum(quantity) FROM order_lines l WHERE l.sale_id = o.sale_id AND l.order_id = o.order_id)",
            (sale,),
        ).fetchone()
        holder = conn.execute(
            "SELECT buyer_id FROM orders WHERE sale_id = %s AND order_id = %s", (sale, confirmed)
        ).fetchone()
    assert bad == (0,)
    assert holder == ("holder",)
    s = audited(snapshot(redis_node.url, sale))
    result = reconcile(redis_node.url, database, sale)
    assert result["ok"] is True, result
    assert {i["sku"]: (i["redis_sold"], i["db_sold"]) for i in result["items"]} == {
        k.name: (k.sold, k.sold) for k in s.skus
    }
    assert sum(i["db_sold"] for i in result["items"]) == result["db_sold"] == s.sold
    plain_result = reconcile(redis_node.url, database, plain)
    assert plain_result["ok"] is True and plain_result["items"] == []


def test_existing_rows_stay_valid_through_the_migration(database: str) -> None:
    upgrade(database, "0001")
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO orders (sale_id, order_id, buyer_id, quantity, created_at, ledger_id) "
            "VALUES ('old-sale', '1-0', 'ann', 3, now(), '1-0')"
        )
    upgrade(database)
    with psycopg.connect(database, autocommit=True) as conn:
        assert conn.execute("SELECT buyer_id, quantity, status FROM orders").fetchall() == [("ann", 3, "confirmed")]
        assert conn.execute("SELECT count(*) FROM order_lines").fetchone() == (0,)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO order_lines VALUES ('old-sale', '9-9', 'us-9', 1, 0)")
        conn.execute("INSERT INTO order_lines VALUES ('old-sale', '1-0', 'us-9', 3, 0)")
        conn.execute("DELETE FROM orders")
        assert conn.execute("SELECT count(*) FROM order_lines").fetchone() == (0,)


@pytest.mark.chaos
def test_failover_loses_lines_then_repair_reapplies_them_per_sku(database: str) -> None:
    """Asynchronous replication: orders exported from the primary never reached the promoted replica. Reconcile
    shows the per-SKU gap, repair re-applies every lost order's lines once, a retry of a lost order replays it."""
    primary = RedisProcess("--appendonly", "no", "--repl-diskless-sync-delay", "0").start()
    replica = primary.replica("--appendonly", "no").start()
    sale = f"f-{uuid.uuid4().hex[:8]}"
    exporter: ExporterProcess | None = None
    try:
        wait_replicas_synced([replica])
        kept = buy_lines(primary.url, sale, 60, create=True, seed=2)
        exporter = ExporterProcess(primary.url, database).start()
        poll(lambda: db_count(database, sale) == len(kept), 60, "exported")
        poll(lambda: group_backlog(replica.port, sale) == 0, 30, "replica has the first orders")
        link = redis.Redis(port=replica.port)
        link.replicaof("NO", "ONE")
        link.close()
        lost = buy_lines(primary.url, sale, 30, seed=3)
        poll(lambda: db_count(database, sale) == len(kept) + len(lost), 60, "the unreplicated orders exported")
        exporter.stop()
        exporter = None
        primary.kill(signal.SIGKILL)
        before = reconcile(replica.url, database, sale)
        repaired = reconcile(replica.url, database, sale, "--repair")
        again = reconcile(replica.url, database, sale, "--repair")
        key, (order_id, lines) = next(iter(lost.items()))
        replay = asyncio.run(_replay(replica.url, sale, key, lines))
        s = audited(snapshot(replica.url, sale))
    finally:
        if exporter is not None:
            exporter.stop()
        replica.cleanup()
        primary.cleanup()
    lost_units: Counter[str] = Counter()
    for _, ls in lost.values():
        lost_units.update(dict(ls))
    gaps = {i["sku"]: i["db_sold"] - i["redis_sold"] for i in before["items"]}
    print("failover with lines:", {"kept": len(kept), "lost": len(lost), "gaps": gaps})
    assert before["ok"] is False and len(before["missing_in_redis"]) == len(lost)
    assert {k: v for k, v in gaps.items() if v} == {k: v for k, v in lost_units.items() if v}
    assert (repaired["restored"], again["restored"]) == (len(lost), 0)
    assert repaired["after"]["items"] == [{**i, "redis_sold": i["db_sold"]} for i in repaired["after"]["items"]]
    assert replay == ("replayed", order_id, encode_lines(lines))
    assert sum(k.sold for k in s.skus) == s.sold


async def _replay(url: str, sale: str, key: str, lines: tuple[tuple[str, int], ...]) -> tuple[str, str, str]:
    inventory = Inventory(connect(settings(url)), settings(url))
    try:
        buyer = f"buyer-{key.split('-')[0]}-{int(key.split('-')[1])}"
        r = await inventory.purchase(sale, buyer, sum(q for _, q in lines), key, lines=lines)
    finally:
        await inventory.close()
    return str(r.outcome), r.order_id, r.lines


@pytest.mark.chaos
def test_replicated_durability_failover_loses_no_line(database: str) -> None:
    """``replicated`` durability: every order is acknowledged only once the replica has it, so after the primary
    dies and the replica is promoted, Redis and PostgreSQL agree per SKU without any repair."""
    primary = RedisProcess("--appendonly", "no", "--repl-diskless-sync-delay", "0").start()
    replica = primary.replica("--appendonly", "no").start()
    sale = f"r-{uuid.uuid4().hex[:8]}"
    exporter: ExporterProcess | None = None
    durable = {"durability": Durability.REPLICATED, "replicas": 1, "replica_timeout_ms": 2000}
    try:
        wait_replicas_synced([replica])
        sold = buy_lines(primary.url, sale, 80, create=True, seed=4, **durable)
        exporter = ExporterProcess(primary.url, database).start()
        poll(lambda: db_count(database, sale) == len(sold), 60, "exported")
        exporter.stop()
        exporter = None
        primary.kill(signal.SIGKILL)
        link = redis.Redis(port=replica.port)
        link.replicaof("NO", "ONE")
        link.close()
        before = reconcile(replica.url, database, sale)
        more = buy_lines(replica.url, sale, 40, seed=5)
        exporter = ExporterProcess(replica.url, database).start()
        poll(lambda: reconcile(replica.url, database, sale)["ok"], 60, "reconciled on the promoted replica")
        after = reconcile(replica.url, database, sale)
        s = audited(snapshot(replica.url, sale))
    finally:
        if exporter is not None:
            exporter.stop()
        replica.cleanup()
        primary.cleanup()
    units: Counter[str] = Counter()
    for _, ls in (*sold.values(), *more.values()):
        units.update(dict(ls))
    print(
        "replicated failover with lines:",
        {"sold": len(sold), "after": len(more), "missing": before["missing_in_redis"]},
    )
    assert before["ok"] is True and before["missing_in_redis"] == [], before
    assert {i["sku"]: i["db_sold"] for i in after["items"]} == {k: units.get(k, 0) for k in SIZES}
    assert {k.name: k.sold for k in s.skus} == {k: units.get(k, 0) for k in SIZES}
    assert all(decode_lines(encode_lines(ls)) == ls for _, ls in sold.values())
