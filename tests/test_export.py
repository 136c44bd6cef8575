"""Export to PostgreSQL (issue 13): schema migrations, exactly-once export with several exporters, discovery of
new sales, metrics, reconciliation and repair. Real PostgreSQL 15 and real Redis, each test on its own
database and Redis."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

import psycopg
import redis

from flashsale.inventory import Inventory, Outcome
from flashsale.inventory.connection import connect
from flashsale.inventory.keys import sale_keys
from flashsale.orders.reconcile import stream_order
from flashsale.settings import Settings
from tests.export_tools import (
    ExporterProcess,
    buy,
    db_count,
    db_orders,
    exactly_once,
    group_backlog,
    poll,
)
from tests.export_tools import ledger_orders as ledger
from tests.servers import RedisClusterProcesses, RedisProcess


def flashsale(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flashsale", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_upgrade_is_idempotent_and_concurrent(database: str) -> None:
    env = {"FLASHSALE_DATABASE_URL": database}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "flashsale", "db", "upgrade"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=120)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    again = flashsale("db", "upgrade", env=env)
    assert again.returncode == 0, again.stderr
    with psycopg.connect(database) as conn:
        version = conn.execute("SELECT version_num FROM flashsale_alembic_version").fetchall()
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'"
            ).fetchall()
        }
        key = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'orders_pkey'"
        ).fetchone()
    assert version == [("0002",)]  # head: 0002 adds order_lines (issue 26)
    assert {"order_id", "sale_id", "buyer_id", "quantity", "created_at", "key_digest", "status"} <= columns
    assert key == ("PRIMARY KEY (sale_id, order_id)",)


def test_db_upgrade_without_url_says_what_to_set() -> None:
    result = flashsale("db", "upgrade", env={"FLASHSALE_DATABASE_URL": ""})
    assert result.returncode == 2
    assert "FLASHSALE_DATABASE_URL" in result.stderr


def test_two_exporters_export_every_order_once_and_find_new_sales(redis_node: RedisProcess, database: str) -> None:
    first = f"x-{uuid.uuid4().hex[:8]}"
    sold = buy(redis_node.url, first, 600, stock=600)
    exporters = [ExporterProcess(redis_node.url, database, FLASHSALE_EXPORT_BATCH="50").start() for _ in range(2)]
    try:
        late = f"y-{uuid.uuid4().hex[:8]}"
        sold_late = buy(redis_node.url, late, 300, stock=250)  # 50 refused: sold out
        for sale, orders in ((first, sold), (late, sold_late)):
            poll(
                lambda s=sale, o=orders: db_count(database, s) == len(o) and group_backlog(redis_node.port, s) == 0,
                60,
                f"{sale} exported",
            )
            counts = exactly_once(database, sale, set(orders.values()))
            assert counts == {"exported": len(orders), "duplicates": 0, "lost": 0, "extra": 0}
        assert len(sold_late) == 250
        rows = {r[0]: r for r in db_orders(database, first)}
        key, order_id = next(iter(sold.items()))
        assert rows[order_id][1:] == (f"buyer-{key}", 1, key, "confirmed")
        metrics = [e.metrics() or {} for e in exporters]
        total = sum(m.get(f'flashsale_orders_exported_total{{sale="{s}"}}', 0) for m in metrics for s in (first, late))
        assert total == 850
        assert all(m.get(f'flashsale_export_lag_entries{{sale="{first}"}}') == 0 for m in metrics if m)
        assert any(m.get(f'flashsale_orders_exported_total{{sale="{first}"}}', 0) > 0 for m in metrics)
    finally:
        for e in exporters:
            e.stop()


def test_reconcile_then_repair_restores_lost_orders_exactly_once(redis_node: RedisProcess, database: str) -> None:
    sale = f"r-{uuid.uuid4().hex[:8]}"
    sold = buy(redis_node.url, sale, 8, stock=10)
    env = {"FLASHSALE_REDIS_URL": redis_node.url, "FLASHSALE_DATABASE_URL": database}
    exporter = ExporterProcess(redis_node.url, database).start()
    try:
        poll(lambda: db_count(database, sale) == 8 and group_backlog(redis_node.port, sale) == 0, 30, "exported")
        ok = flashsale("reconcile", sale, env=env)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        # A failover to a replica that had only the sale and the first 5 orders: the last 3 are lost.
        lost = sorted(sold.items(), key=lambda kv: kv[1])[5:]
        r = redis.Redis(port=redis_node.port, decode_responses=True)
        stream = sale_keys(sale).orders
        for key, order_id in lost:
            r.xdel(stream, order_id)
            r.delete(sale_keys(sale).idem(key))
        r.hset(sale_keys(sale).sale, mapping={"remaining": 5, "sold": 5, "orders": 5})
        broken = flashsale("reconcile", sale, env=env)
        assert broken.returncode == 1
        report = json.loads(broken.stdout)
        assert report["missing_in_redis"] == sorted((o for _, o in lost), key=stream_order)
        assert (report["redis_sold"], report["db_sold"], report["missing_in_db"]) == (5, 8, [])
        repairs = [json.loads(flashsale("reconcile", sale, "--repair", env=env).stdout) for _ in range(2)]
        assert [x["restored"] for x in repairs] == [3, 0]
        assert repairs[1]["already_present"] == 0  # nothing left to re-apply: PostgreSQL and Redis agree
        snapshot = r.hgetall(sale_keys(sale).sale)
        assert (snapshot["remaining"], snapshot["sold"], snapshot["orders"]) == ("2", "8", "8")
        assert set(ledger(redis_node.port, sale)) == set(sold.values())
        # A retry of a lost order replays its original order id; the stock is not sold twice.
        replay = asyncio.run(_purchase(redis_node.url, sale, lost[0][0]))
        assert (replay.outcome, replay.order_id) == (Outcome.REPLAYED, lost[0][1])
        poll(lambda: flashsale("reconcile", sale, env=env).returncode == 0, 30, "reconciled after repair")
        assert exactly_once(database, sale, set(sold.values()))["duplicates"] == 0
        # A repaired order is cancelled by its original id; PostgreSQL's row follows.
        cancelled = asyncio.run(_cancel(redis_node.url, sale, lost[1][1]))
        assert cancelled == Outcome.CANCELLED
        poll(
            lambda: dict((row[0], row[4]) for row in db_orders(database, sale))[lost[1][1]] == "cancelled",
            30,
            "cancellation exported",
        )
        poll(lambda: flashsale("reconcile", sale, env=env).returncode == 0, 30, "reconciled after the cancel")
        final = json.loads(flashsale("reconcile", sale, env=env).stdout)
        assert (final["ok"], final["redis_sold"], final["db_sold"]) == (True, 7, 7)
        r.close()
    finally:
        exporter.stop()


async def _cancel(redis_url: str, sale: str, order_id: str) -> Outcome:
    settings = Settings.from_env({}, redis_url=redis_url, redis_timeout_ms=2000, soldout_cache_ms=0)
    inventory = Inventory(connect(settings), settings)
    try:
        return (await inventory.cancel_order(sale, order_id, restock=True)).outcome
    finally:
        await inventory.close()


async def _purchase(redis_url: str, sale: str, key: str) -> object:
    settings = Settings.from_env({}, redis_url=redis_url, redis_timeout_ms=2000, soldout_cache_ms=0)
    inventory = Inventory(connect(settings), settings)
    try:
        return await inventory.purchase(sale, f"buyer-{key}", 1, key)
    finally:
        await inventory.close()


def test_api_delete_waits_for_export_and_reconciles(redis_node: RedisProcess, database: str) -> None:
    from tests.conftest import Api, start_api

    server = start_api(redis_node.url, FLASHSALE_DATABASE_URL=database)
    bare = start_api(redis_node.url)
    api, no_db = Api(server), Api(bare)
    try:
        sale = api.new_sale(stock=5)
        assert all(api.buy(sale, buyer=f"b{i}").status_code == 201 for i in range(3))
        refused = api.http.delete(f"/admin/sales/{sale}", headers=api.auth)
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert (body["type"], body["pending"]) == ("urn:flashsale:problem:export-pending", 3)
        # The group exists since the sale was created: an API without a database refuses too.
        assert no_db.http.delete(f"/admin/sales/{sale}", headers=no_db.auth).status_code == 409
        unconfigured = no_db.http.get(f"/admin/sales/{sale}/reconcile", headers=no_db.auth)
        assert unconfigured.status_code == 503
        assert unconfigured.json()["type"] == "urn:flashsale:problem:database-not-configured"
        assert "Retry-After" in unconfigured.headers
        lagging = api.http.get(f"/admin/sales/{sale}/reconcile", headers=api.auth).json()
        assert (lagging["ok"], lagging["export_lag"], lagging["redis_sold"], lagging["db_sold"]) == (False, 3, 3, 0)
        exporter = ExporterProcess(redis_node.url, database).start()
        try:
            poll(
                lambda: api.http.get(f"/admin/sales/{sale}/reconcile", headers=api.auth).json()["ok"], 30, "reconciled"
            )
        finally:
            exporter.stop()
        repaired = api.http.post(f"/admin/sales/{sale}/reconcile/repair", headers=api.auth)
        assert repaired.status_code == 200, repaired.text
        assert (repaired.json()["restored"], repaired.json()["after"]["ok"]) == (0, True)
        assert api.http.delete(f"/admin/sales/{sale}", headers=api.auth).status_code == 204
        # Without export (no group, no database on the API) a sale is deleted as before.
        plain = f"p-{uuid.uuid4().hex[:8]}"
        created = no_db.http.post(
            "/admin/sales", json={"sale_id": plain, "name": "plain", "stock": 2}, headers=no_db.auth
        )
        assert created.status_code == 201
        assert no_db.buy(plain).status_code == 201
        assert no_db.http.delete(f"/admin/sales/{plain}", headers=no_db.auth).status_code == 204
    finally:
        api.http.close()
        no_db.http.close()
        server.stop()
        bare.stop()


def test_export_from_a_redis_cluster(database: str) -> None:
    """On Redis Cluster every sale's ledger lives on its own slot: the exporter reads each one apart. A cluster
    of its own: the exporter would put export groups on every sale of the shared one."""
    redis_cluster = RedisClusterProcesses(masters=3).start()
    sales = [f"k-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    exporter = ExporterProcess(redis_cluster.url, database, FLASHSALE_REDIS_CLUSTER="true")
    try:
        sold = {sale: asyncio.run(_buy_cluster(redis_cluster.url, sale, 150)) for sale in sales}
        exporter.start()
        for sale in sales:
            poll(lambda s=sale: db_count(database, s) == 150, 60, f"{sale} exported from the cluster")
            assert exactly_once(database, sale, set(sold[sale].values())) == {
                "exported": 150,
                "duplicates": 0,
                "lost": 0,
                "extra": 0,
            }
    finally:
        exporter.stop()
        redis_cluster.cleanup()


async def _buy_cluster(url: str, sale: str, n: int) -> dict[str, str]:
    settings = Settings.from_env({}, redis_url=url, redis_cluster=True, redis_timeout_ms=2000, soldout_cache_ms=0)
    inventory = Inventory(connect(settings), settings)
    try:
        await inventory.create_sale(sale, "cluster export", n)
        results = [await inventory.purchase(sale, f"b{i}", 1, f"{sale}-key-{i:04d}") for i in range(n)]
    finally:
        await inventory.close()
    return {f"{sale}-key-{i:04d}": r.order_id for i, r in enumerate(results) if r.outcome is Outcome.SOLD}


def test_delete_does_not_take_an_order_placed_after_the_export_check(redis_node: RedisProcess) -> None:
    """The route checks the export group, then deletes: a sale is only retired (atomically) if its ledger has
    the length seen at the check; otherwise nothing is deleted and the route answers 409."""
    sale = f"d-{uuid.uuid4().hex[:8]}"
    buy(redis_node.url, sale, 2, stock=5)

    async def go() -> tuple[bool | None, bool | None, bool | None]:
        settings = Settings.from_env({}, redis_url=redis_node.url, redis_timeout_ms=2000, soldout_cache_ms=0)
        inventory = Inventory(connect(settings), settings)
        try:
            stale = await inventory.delete_sale(sale, ledger_length=1)  # one order more since "the check"
            kept = await inventory.read(sale)
            deleted = await inventory.delete_sale(sale, ledger_length=2)
            again = await inventory.delete_sale(sale, ledger_length=0)
            return stale, kept is not None and kept.sold == 2 and deleted, again
        finally:
            await inventory.close()

    assert asyncio.run(go()) == (None, True, False)
    assert ledger(redis_node.port, sale) == {}
