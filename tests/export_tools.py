"""Helpers for the export tests: ``flashsale export`` as a real child process, orders bought through the
engine (the same Lua script the API runs), and reads of PostgreSQL and the export group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from flashsale.embedded import free_port
from flashsale.inventory import Inventory, Outcome, Unavailable
from flashsale.inventory.connection import connect
from flashsale.inventory.keys import EXPORT_GROUP, sale_keys
from flashsale.settings import Settings

LOG_DIR = Path(tempfile.gettempdir()) / "flashsale-test-logs"


def poll(condition: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.05) -> Any:
    """Poll until ``condition()`` is truthy (returns it) or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(every_s)


class ExporterProcess:
    """``flashsale export`` in its own session, with its own /metrics port; stopped or SIGKILLed by PID."""

    def __init__(self, redis_url: str, database_url: str, **env: str) -> None:
        self.metrics_port = free_port()
        self.env = {
            **os.environ,
            "FLASHSALE_REDIS_URL": redis_url,
            "FLASHSALE_DATABASE_URL": database_url,
            "FLASHSALE_EXPORT_METRICS_PORT": str(self.metrics_port),
            "FLASHSALE_EXPORT_DISCOVER_S": "0.2",
            "FLASHSALE_EXPORT_CLAIM_IDLE_MS": "1000",
            "FLASHSALE_LOG_LEVEL": "INFO",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        LOG_DIR.mkdir(exist_ok=True)
        self.log = LOG_DIR / f"export-{self.metrics_port}.log"

    def start(self) -> ExporterProcess:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flashsale", "export"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        poll(
            lambda: self.metrics() is not None or self.process is None or self.process.poll() is not None,
            30,
            "exporter serving /metrics",
        )
        assert self.process.poll() is None, self.log.read_text()[-2000:]
        return self

    def metrics(self) -> dict[str, float] | None:
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1).text
        except httpx.HTTPError:
            return None
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, sig)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def new_database(admin_url: str) -> str:
    name = "t_" + uuid.uuid4().hex[:10]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def db_orders(url: str, sale: str) -> list[tuple[str, str, int, str, str]]:
    """(order_id, buyer_id, quantity, idempotency_key, status) rows of one sale."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT order_id, buyer_id, quantity, idempotency_key, status FROM orders WHERE sale_id = %s", (sale,)
        ).fetchall()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def db_count(url: str, sale: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute("SELECT count(*) FROM orders WHERE sale_id = %s", (sale,)).fetchone()
    except psycopg.Error:
        return -1
    return int(row[0]) if row else 0


def ledger_orders(port: int, sale: str) -> dict[str, dict[str, str]]:
    """order id -> entry fields, as the ledger holds them (a repaired copy under its original id)."""
    r = redis.Redis(port=port, decode_responses=True)
    try:
        entries = r.xrange(sale_keys(sale).orders)
    finally:
        r.close()
    return {fields.get("order_id") or entry_id: fields for entry_id, fields in entries}


def group_backlog(port: int, sale: str) -> int:
    r = redis.Redis(port=port, decode_responses=True)
    try:
        for g in r.xinfo_groups(sale_keys(sale).orders):
            if g["name"] == EXPORT_GROUP:
                return int(g["pending"]) + int(g["lag"] or 0)
    finally:
        r.close()
    return -1


async def _buy(redis_url: str, sale: str, n: int, stock: int, prefix: str) -> dict[str, str]:
    settings = Settings.from_env({}, redis_url=redis_url, redis_timeout_ms=2000, soldout_cache_ms=0)
    inventory = Inventory(connect(settings), settings)
    sold: dict[str, str] = {}
    try:
        if stock:
            await inventory.create_sale(sale, "export test", stock)
        for start in range(0, n, 100):
            keys = [f"{prefix}-{i:06d}" for i in range(start, min(start + 100, n))]
            for _ in range(20):  # a 503 (outcome unknown) is retried with the same key, as a client would
                results = await asyncio.gather(
                    *(inventory.purchase(sale, f"buyer-{k}", 1, k) for k in keys), return_exceptions=True
                )
                retry = []
                for key, result in zip(keys, results, strict=True):
                    if isinstance(result, Unavailable):
                        retry.append(key)
                    elif isinstance(result, BaseException):
                        raise result
                    elif result.outcome in (Outcome.SOLD, Outcome.REPLAYED):
                        sold[key] = result.order_id
                keys = retry
                if not keys:
                    break
            assert not keys, f"{len(keys)} purchases never got an answer"
    finally:
        await inventory.close()
    return sold


def buy(redis_url: str, sale: str, n: int, stock: int = 0, prefix: str | None = None) -> dict[str, str]:
    """Buy ``n`` single units with distinct keys (creating the sale with ``stock`` first when > 0); returns
    Idempotency-Key -> order id of every sale made."""
    return asyncio.run(_buy(redis_url, sale, n, stock, prefix or uuid.uuid4().hex[:8]))


def exactly_once(url: str, sale: str, expected: set[str]) -> dict[str, int]:
    """Counts comparing PostgreSQL with the expected order ids."""
    rows = db_orders(url, sale)
    ids = [r[0] for r in rows]
    keys = [r[3] for r in rows if r[3]]
    return {
        "exported": len(set(ids) & expected),
        "duplicates": (len(ids) - len(set(ids))) + (len(keys) - len(set(keys))),
        "lost": len(expected - set(ids)),
        "extra": len(set(ids) - expected),
    }
