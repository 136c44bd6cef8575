"""Export chaos rows (issue 13): faults on either side of the Redis -> PostgreSQL hand-off while orders are sold.

Each row runs a real ``flashsale export`` process against a real redis-server and a real PostgreSQL 15, injects
one fault and then checks what must hold: every order Redis sold is in PostgreSQL exactly once (none lost, none
twice, none extra) and, after a failover, reconcile + repair leave 0 oversold. Counts (sold, exported,
duplicates, lost, repaired) are printed and merged into ``load/reports/chaos.json`` under ``export-*``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from flashsale.inventory.keys import EXPORT_GROUP, sale_keys
from flashsale.local import LocalServer
from flashsale.orders.reconcile import stream_order
from tests.chaos_tools import (
    cluster_ok,
    find_slot_owner,
    slot_owner,
    start_api_workers,
    wait_replica_acks,
    write_report,
)
from tests.conftest import Api
from tests.export_tools import (
    ExporterProcess,
    buy,
    db_count,
    exactly_once,
    group_backlog,
    ledger_orders,
    new_database,
    poll,
)
from tests.postgres import PostgresProcess
from tests.servers import RedisClusterProcesses, RedisProcess, wait_replicas_synced

pytestmark = pytest.mark.chaos

SOLD_OUT = "urn:flashsale:problem:sold-out"


def sale_id() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


def upgrade(database: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flashsale", "db", "upgrade"],
        capture_output=True,
        text=True,
        env={**os.environ, "FLASHSALE_DATABASE_URL": database},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


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


def metric(exporter: ExporterProcess, name: str) -> float:
    return (exporter.metrics() or {}).get(name, 0.0)


class Buyers(threading.Thread):
    """Buys ``n`` units in the background (through the engine's purchase script), recording what sold."""

    def __init__(self, redis_url: str, sale: str, n: int) -> None:
        super().__init__(daemon=True)
        self.redis_url, self.sale, self.n = redis_url, sale, n
        self.sold: dict[str, str] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.sold = buy(self.redis_url, self.sale, self.n)
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self) -> dict[str, str]:
        self.join(timeout=120)
        assert self.error is None, self.error
        return self.sold


def sold_in_redis(port: int, sale: str) -> dict[str, str]:
    r = redis.Redis(port=port, decode_responses=True)
    try:
        return r.hgetall(sale_keys(sale).sale)  # type: ignore[return-value]
    finally:
        r.close()


def report(name: str, row: dict[str, Any], tmp_path: Path) -> None:
    write_report(f"export-{name}", row, tmp_path)
    print(f"\nchaos[export-{name}]: " + ", ".join(f"{k}={v}" for k, v in row.items() if not isinstance(v, dict)))


@pytest.fixture
def own_postgres() -> Iterator[PostgresProcess]:
    """A PostgreSQL of the test's own: this row kills it."""
    server = PostgresProcess().start()
    yield server
    server.cleanup()


def test_exporter_sigkilled_mid_batch(redis_node: RedisProcess, database: str, tmp_path: Path) -> None:
    """The exporter is SIGKILLed while its batch's transaction is open (held there by a table lock); a new
    exporter claims the dead one's pending entries. Every order once."""
    sale = sale_id()
    upgrade(database)
    sold = buy(redis_node.url, sale, 1000, stock=2000)
    blocker = psycopg.connect(database)
    blocker.execute("LOCK TABLE orders IN SHARE MODE")  # INSERT waits: the batch is in flight
    first = ExporterProcess(redis_node.url, database, FLASHSALE_EXPORT_BATCH="400").start()
    buyers = Buyers(redis_node.url, sale, 1000)
    try:
        r = redis.Redis(port=redis_node.port, decode_responses=True)
        stream = sale_keys(sale).orders
        poll(lambda: r.xpending(stream, EXPORT_GROUP)["pending"] > 0, 30, "a batch delivered to the first exporter")
        buyers.start()
        pending_at_kill = int(r.xpending(stream, EXPORT_GROUP)["pending"])
        first.kill(signal.SIGKILL)
        blocker.rollback()
        sold.update(buyers.finish())
        second = ExporterProcess(redis_node.url, database).start()
        try:
            poll(
                lambda: db_count(database, sale) == len(sold) and group_backlog(redis_node.port, sale) == 0,
                60,
                "all orders exported after the kill",
            )
            claimed = metric(second, f'flashsale_orders_exported_total{{sale="{sale}"}}')
        finally:
            second.stop()
        r.close()
    finally:
        blocker.close()
        first.kill()
    counts = exactly_once(database, sale, set(sold.values()))
    row = {
        "sold": len(sold),
        **counts,
        "pending_at_kill": pending_at_kill,
        "exported_by_successor": claimed,
        "repaired": 0,
    }
    report("exporter-sigkill", row, tmp_path)
    assert counts == {"exported": len(sold), "duplicates": 0, "lost": 0, "extra": 0}
    assert pending_at_kill > 0


def test_postgres_killed_and_restarted(redis_node: RedisProcess, own_postgres: PostgresProcess, tmp_path: Path) -> None:
    """PostgreSQL is SIGKILLed during a rush and restarted (crash recovery) on the same port: the exporter
    retries its batch until it commits. Every order once."""
    database = new_database(own_postgres.url)
    sale = sale_id()
    sold = buy(redis_node.url, sale, 300, stock=3000)
    exporter = ExporterProcess(redis_node.url, database, FLASHSALE_EXPORT_BATCH="200").start()
    try:
        poll(lambda: db_count(database, sale) > 0, 30, "export started")
        buyers = Buyers(redis_node.url, sale, 1500)
        buyers.start()
        own_postgres.kill(signal.SIGKILL)
        errors = poll(
            lambda: metric(exporter, 'flashsale_export_errors_total{kind="database"}'),
            30,
            "the exporter saw the database fail",
        )
        lag_while_down = poll(
            lambda: metric(exporter, f'flashsale_export_lag_entries{{sale="{sale}"}}'),
            30,
            "lag while PostgreSQL is down",
        )
        sold.update(buyers.finish())
        own_postgres.start()
        poll(
            lambda: db_count(database, sale) == len(sold) and group_backlog(redis_node.port, sale) == 0,
            90,
            "caught up after the restart",
        )
    finally:
        exporter.stop()
    counts = exactly_once(database, sale, set(sold.values()))
    row = {
        "sold": len(sold),
        **counts,
        "database_errors": errors,
        "lag_entries_while_down": lag_while_down,
        "repaired": 0,
    }
    report("postgres-kill", row, tmp_path)
    assert counts == {"exported": len(sold), "duplicates": 0, "lost": 0, "extra": 0}


def test_postgres_slow_lock_held(redis_node: RedisProcess, database: str, tmp_path: Path) -> None:
    """A lock held on ``orders`` stalls every insert: the lag gauges grow (what the alert watches) and nothing
    is acknowledged; once released the export catches up. Every order once."""
    sale = sale_id()
    upgrade(database)
    exporter = ExporterProcess(redis_node.url, database).start()
    blocker = psycopg.connect(database)
    try:
        sold = buy(redis_node.url, sale, 200, stock=1000)
        poll(lambda: db_count(database, sale) == 200, 30, "first orders exported")
        blocker.execute("LOCK TABLE orders IN SHARE MODE")
        sold.update(buy(redis_node.url, sale, 400))
        lag_s = poll(
            lambda: (v := metric(exporter, f'flashsale_export_lag_seconds{{sale="{sale}"}}')) >= 1 and v,
            30,
            "lag seconds growing while the table is locked",
        )
        lag_entries = metric(exporter, f'flashsale_export_lag_entries{{sale="{sale}"}}')
        unacked_while_locked = group_backlog(redis_node.port, sale)
        blocker.rollback()
        poll(
            lambda: db_count(database, sale) == len(sold) and group_backlog(redis_node.port, sale) == 0,
            60,
            "caught up after the lock",
        )
        poll(
            lambda: (
                metric(exporter, f'flashsale_export_lag_seconds{{sale="{sale}"}}') == 0
                and metric(exporter, f'flashsale_export_lag_entries{{sale="{sale}"}}') == 0
            ),
            30,
            "lag gauges at 0",
        )
    finally:
        blocker.close()
        exporter.stop()
    counts = exactly_once(database, sale, set(sold.values()))
    row = {
        "sold": len(sold),
        **counts,
        "lag_seconds_seen": lag_s,
        "lag_entries_seen": lag_entries,
        "unacknowledged_while_locked": unacked_while_locked,
        "repaired": 0,
    }
    report("postgres-slow", row, tmp_path)
    assert counts == {"exported": len(sold), "duplicates": 0, "lost": 0, "extra": 0}
    assert unacked_while_locked == 400


def test_redis_failover_after_export_then_reconcile_and_repair(database: str, tmp_path: Path) -> None:
    """Orders exported from the primary never reached its replica; the primary dies and the replica is promoted:
    the units of those orders are back on sale. Reconcile lists them, repair re-applies them once, a
    retry of a lost order replays its original id, and the sale then sells out with 0 oversold and every order
    exactly once in PostgreSQL."""
    stock = 1000
    primary = RedisProcess("--appendonly", "no", "--repl-diskless-sync-delay", "0").start()
    replica = primary.replica("--appendonly", "no").start()
    sale = sale_id()
    exporter: ExporterProcess | None = None
    try:
        wait_replicas_synced([replica])
        sold = buy(primary.url, sale, 300, stock=stock)
        exporter = ExporterProcess(primary.url, database).start()
        poll(lambda: db_count(database, sale) == 300 and group_backlog(primary.port, sale) == 0, 30, "exported")
        poll(
            lambda: group_backlog(replica.port, sale) == 0 and len(ledger_orders(replica.port, sale)) == 300,
            30,
            "replica has the first orders",
        )
        # The replica stops following (as if the link broke) and later becomes the primary: whatever the
        # primary acknowledges from now on never reaches it. (A SIGSTOPped replica would still read the writes
        # buffered in its socket on SIGCONT.)
        r = redis.Redis(port=replica.port, decode_responses=True)
        r.replicaof("NO", "ONE")
        lost = buy(primary.url, sale, 200)
        poll(
            lambda: db_count(database, sale) == 500 and group_backlog(primary.port, sale) == 0,
            30,
            "the unreplicated orders exported",
        )
        sold.update(lost)
        exporter.stop()
        primary.kill(signal.SIGKILL)
        before = reconcile(replica.url, database, sale)
        repaired = reconcile(replica.url, database, sale, "--repair")
        again = reconcile(replica.url, database, sale, "--repair")
        exporter = ExporterProcess(replica.url, database).start()
        # A buyer retrying a lost order (same Idempotency-Key) gets its original order back.
        key, order_id = next(iter(lost.items()))
        replay = _replay(replica.url, sale, key)
        rest = buy(replica.url, sale, stock)  # until sold out
        sold.update(rest)
        poll(lambda: reconcile(replica.url, database, sale)["ok"], 60, "reconciled after repair")
        after = reconcile(replica.url, database, sale)
        state = sold_in_redis(replica.port, sale)
        r.close()
    finally:
        if exporter is not None:
            exporter.stop()
        replica.cleanup()
        primary.cleanup()
    counts = exactly_once(database, sale, set(sold.values()))
    oversold = max(0, int(state["sold"]) - int(state["total"]))
    row = {
        "sold": len(sold),
        **counts,
        "lost_in_failover": len(before["missing_in_redis"]),
        "repaired": repaired["restored"],
        "repaired_again": again["restored"],
        "oversold": oversold,
        "reconcile_before": before,
        "repair": repaired,
        "reconcile_after": after,
    }
    report("redis-failover", row, tmp_path)
    print("reconcile after the failover:", json.dumps(before))
    print("repair:", json.dumps({k: v for k, v in repaired.items() if k != "restored_ids"}))
    assert (before["ok"], before["redis_sold"], before["db_sold"]) == (False, 300, 500)
    assert before["missing_in_redis"] == sorted(lost.values(), key=stream_order)
    assert (repaired["restored"], again["restored"]) == (200, 0)
    assert replay == ("replayed", order_id)
    assert counts == {"exported": len(sold), "duplicates": 0, "lost": 0, "extra": 0}
    assert len(sold) == stock and int(state["sold"]) == stock and oversold == 0
    assert after == {**after, "ok": True, "redis_sold": stock, "db_sold": stock, "missing_in_redis": []}


def _replay(redis_url: str, sale: str, key: str) -> tuple[str, str]:
    import asyncio

    from flashsale.inventory import Inventory
    from flashsale.inventory.connection import connect
    from flashsale.settings import Settings

    async def go() -> tuple[str, str]:
        settings = Settings.from_env({}, redis_url=redis_url, redis_timeout_ms=2000, soldout_cache_ms=0)
        inventory = Inventory(connect(settings), settings)
        try:
            result = await inventory.purchase(sale, f"buyer-{key}", 1, key)
        finally:
            await inventory.close()
        return str(result.outcome), result.order_id

    return asyncio.run(go())


# -- Redis Cluster: the sale's primary dies after export, its lagging replica is promoted ----------------------


async def _http_buy(server: LocalServer, sale: str, n: int, *, until_sold_out: bool = False) -> dict[str, str]:
    """Buy single units through the API, 32 at a time, each with its own Idempotency-Key and buyer (``buyer-<key>``,
    its token minted before its batch is sent); a 503 is retried with the same key (as a client must). Returns
    key -> order id of every 201. ``until_sold_out``: keep going (at most ``n`` purchases) until the API answers
    sold-out."""
    sold: dict[str, str] = {}
    sold_out = False
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:

        async def one(key: str, buyer: dict[str, str]) -> None:
            nonlocal sold_out
            for _ in range(50):
                r = await http.post(
                    f"/sales/{sale}/purchases",
                    json={"quantity": 1},
                    headers={"Idempotency-Key": key, **buyer},
                )
                if r.status_code == 201:
                    sold[key] = r.json()["order_id"]
                    return
                if r.status_code == 409 and r.json().get("type") == SOLD_OUT:
                    sold_out = True
                    return
                assert r.status_code == 503, r.text
                await asyncio.sleep(0.02)  # pacing, as Retry-After asks (scaled down)
            raise AssertionError(f"purchase {key} never got an answer")

        prefix = uuid.uuid4().hex[:8]
        for start in range(0, n, 32):
            keys = [f"{prefix}-{i:05d}" for i in range(start, min(start + 32, n))]
            buyers = [server.buyer(f"buyer-{key}") for key in keys]
            await asyncio.gather(*(one(key, buyer) for key, buyer in zip(keys, buyers, strict=True)))
            if sold_out and until_sold_out:
                break
    return sold


def http_buy(server: LocalServer, sale: str, n: int, *, until_sold_out: bool = False) -> dict[str, str]:
    return asyncio.run(_http_buy(server, sale, n, until_sold_out=until_sold_out))


def cluster_backlog(node: RedisProcess, sale: str) -> int:
    """The export group's pending + undelivered entries read on ``node`` (``READONLY``: a replica too)."""
    r = redis.Redis(port=node.port, decode_responses=True, socket_timeout=5)
    try:
        r.readonly()
        groups = r.xinfo_groups(sale_keys(sale).orders)
        return next((int(g["pending"]) + int(g["lag"] or 0) for g in groups if g["name"] == EXPORT_GROUP), -1)
    finally:
        r.close()


@pytest.mark.cluster
def test_redis_cluster_failover_after_export_then_reconcile_and_repair(database: str, tmp_path: Path) -> None:
    """A Redis Cluster (3 primaries, 1 replica each) with the API and the exporter on it. Orders sold and exported
    while the replica of the sale's primary is stalled (SIGSTOP, its replication link dropped) never reach it; the
    primary is SIGKILLed and the replica promoted (``CLUSTER FAILOVER TAKEOVER``) while the API and the exporter
    keep running. Through the admin API: reconcile lists the lost orders, repair re-applies them once, a second
    repair restores 0, a same-key retry of a lost order replays it, and selling out afterwards oversells nothing:
    every order exactly once in PostgreSQL."""
    stock = 500
    cluster = RedisClusterProcesses(masters=3, replicas=1, extra=("--repl-diskless-sync-delay", "0"))
    api: LocalServer | None = None
    admin: Api | None = None
    exporter: ExporterProcess | None = None
    try:
        cluster.start()
        cluster.wait_replicas_synced()
        upgrade(database)
        api = start_api_workers(cluster.url, 1, FLASHSALE_REDIS_CLUSTER="true", FLASHSALE_DATABASE_URL=database)
        admin = Api(api)
        sale = admin.new_sale(stock=stock)
        primary, replica = slot_owner(cluster, sale_keys(sale).sale)
        assert replica is not None
        exporter = ExporterProcess(cluster.url, database, FLASHSALE_REDIS_CLUSTER="true").start()
        sold = http_buy(api, sale, 200)
        poll(lambda: db_count(database, sale) == 200 and cluster_backlog(primary, sale) == 0, 30, "first exported")
        # Every write so far (orders, the group's acknowledgements) is on the replica once it acknowledges a probe.
        wait_replica_acks(primary.port, f"fs:{{{sale}}}:probe")
        assert cluster_backlog(replica, sale) == 0
        # The replication window, as the chaos suite opens it: the replica is frozen and the primary drops its
        # link, so nothing written from now on reaches it (kernel buffers would deliver it after SIGCONT).
        replica.freeze()
        control = redis.Redis(port=primary.port, socket_timeout=5)
        control.client_kill_filter(_type="replica")
        control.close()
        lost = http_buy(api, sale, 150)
        sold.update(lost)
        poll(
            lambda: db_count(database, sale) == len(sold) and cluster_backlog(primary, sale) == 0,
            30,
            "the unreplicated orders exported",
        )
        killed = time.monotonic()
        primary.kill(signal.SIGKILL)
        replica.thaw()
        promote(cluster, replica, sale)
        promoted_s = round(time.monotonic() - killed, 3)
        reconcile_url = f"/admin/sales/{sale}/reconcile"
        before = poll(
            lambda: _json(admin.http.get(reconcile_url, headers=admin.auth)),
            30,
            "reconcile answering on the promoted node",
        )
        repaired = poll(lambda: _json(admin.http.post(reconcile_url + "/repair", headers=admin.auth)), 30, "repair")
        again = poll(lambda: _json(admin.http.post(reconcile_url + "/repair", headers=admin.auth)), 30, "repair")
        # A buyer retrying a lost order (same Idempotency-Key, same body) gets its original order back.
        key, order_id = next(iter(lost.items()))
        retry = admin.http.post(
            f"/sales/{sale}/purchases",
            json={"quantity": 1},
            headers={"Idempotency-Key": key, **admin.as_buyer(f"buyer-{key}")},
        )
        rest = http_buy(api, sale, stock, until_sold_out=True)
        sold.update(rest)
        after = poll(
            lambda: (body := _json(admin.http.get(reconcile_url, headers=admin.auth))) and body["ok"] and body,
            60,
            "reconciled after repair and sell-out",
        )
        audit = admin.audit(sale)
        exported_by_exporter = metric(exporter, f'flashsale_orders_exported_total{{sale="{sale}"}}')
        exporter_redis_errors = metric(exporter, 'flashsale_export_errors_total{kind="redis"}')
    finally:
        if exporter is not None:
            exporter.stop()
        if admin is not None:
            admin.http.close()
        if api is not None:
            api.stop()
        for node in cluster.nodes:
            node.thaw()
        cluster.cleanup()
    counts = exactly_once(database, sale, set(sold.values()))
    row = {
        "sold": len(sold),
        **counts,
        "lost_in_failover": len(before["missing_in_redis"]),
        "repaired": repaired["restored"],
        "repaired_again": again["restored"],
        "oversold": audit["oversold"],
        "audit_ok": audit["ok"],
        "exported_by_exporter": exported_by_exporter,
        "exporter_redis_errors": exporter_redis_errors,
        "promoted_s": promoted_s,
        "reconcile_before": before,
        "repair": {k: v for k, v in repaired.items() if k != "restored_ids"},
        "reconcile_after": after,
    }
    report("redis-cluster-failover", row, tmp_path)
    print("reconcile after the failover:", json.dumps(before))
    print("repair:", json.dumps(row["repair"]))
    print("reconcile after repair + sell-out:", json.dumps(after))
    assert (before["ok"], before["redis_sold"], before["db_sold"]) == (False, 200, 350), before
    assert before["missing_in_redis"] == sorted(lost.values(), key=stream_order)
    assert before["missing_in_db"] == []
    assert (repaired["restored"], again["restored"]) == (150, 0)
    assert retry.status_code == 201 and retry.headers.get("idempotent-replayed") == "true", retry.text
    assert retry.json()["order_id"] == order_id
    assert counts == {"exported": len(sold), "duplicates": 0, "lost": 0, "extra": 0}
    assert len(sold) == stock and audit["sold"] == stock and audit["oversold"] == 0, audit
    assert audit["ok"] and audit["remaining"] == 0 and audit["orders"] == audit["ledger_length"] == stock, audit
    assert after == {
        **after,
        "ok": True,
        "redis_sold": stock,
        "db_sold": stock,
        "missing_in_redis": [],
        "missing_in_db": [],
        "export_lag": 0,
    }


def promote(cluster: RedisClusterProcesses, replica: RedisProcess, sale: str) -> None:
    """``CLUSTER FAILOVER TAKEOVER`` on the (thawed) replica, then poll until it serves the sale's slot and the
    cluster is ok from its point of view. TAKEOVER needs no vote, so it does not wait for the dead primary's
    FAIL flag (cluster-node-timeout); it is sent again if the first one came before the replica was answering."""
    key = sale_keys(sale).sale

    def promoted() -> bool:
        owner = find_slot_owner(cluster, key)
        if owner is not None and owner[0] is replica and cluster_ok(replica):
            return True
        with contextlib.suppress(redis.RedisError):
            r = redis.Redis(port=replica.port, decode_responses=True, socket_timeout=2)
            try:
                if r.info("replication").get("role") == "slave":
                    r.cluster("FAILOVER", "TAKEOVER")
            finally:
                r.close()
        return False

    poll(promoted, 30, "the replica to take over the sale's slot", every_s=0.1)


def _json(response: httpx.Response) -> Any:
    """The body of a 200; None for a 503 (Redis or PostgreSQL unavailable: poll again); any other status fails."""
    if response.status_code == 503:
        return None
    assert response.status_code == 200, response.text
    return response.json()
