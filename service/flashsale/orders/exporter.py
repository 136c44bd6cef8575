"""``flashsale export``: every ledger entry of every sale into PostgreSQL, exactly once.

The hand-off, per batch: ``XREADGROUP`` (the export group, this process's own consumer name) -> one
transaction writing the rows with ``ON CONFLICT (sale_id, order_id)`` -> commit -> ``XACK``. A crash between
the commit and the ``XACK`` leaves the entries pending; they are delivered again (to this consumer's successor
through ``XAUTOCLAIM`` once idle for ``claim_idle_ms``) and the conflict clause makes the second write a no-op.
Several exporters share the group: Redis hands each entry to one of them, and a claimed entry that its first
consumer also wrote is again absorbed by the conflict clause. Nothing is acknowledged before PostgreSQL
committed it, so no failure of either side loses an order; a failed batch is retried (with backoff) until it
commits.

Sales are found in the sales index (``fs:sales``) every ``discover_s``; a sale's group is created at the
start of its ledger. A group that vanished (Redis flushed, failed over to a replica that never had it) is
created again and the whole ledger re-read: re-exports are absorbed the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from flashsale.inventory.keys import EXPORT_GROUP, SALES_INDEX, sale_keys, sale_of_key
from flashsale.orders.db import OrderStore
from flashsale.orders.ledger import BadEntry, OrderRow, decode
from flashsale.orders.metrics import ExportMetrics
from flashsale.orders.stream import Entry, backlog, ensure_group
from flashsale.telemetry.logs import get_logger

log = get_logger()

_FAILURES = (RedisError, OSError, TimeoutError, ConnectionError)


@dataclass(frozen=True, slots=True)
class ExportConfig:
    """``FLASHSALE_EXPORT_*`` knobs of the exporter (docs/operations.md's export table lists the same)."""

    batch: int = 500
    """Entries read per stream per call, written in one transaction."""
    block_ms: int = 200
    """How long one ``XREADGROUP`` waits for new entries (single Redis; on a cluster each sale is polled)."""
    claim_idle_ms: int = 30_000
    """Pending entries idle this long on another consumer are taken over (the consumer is presumed dead)."""
    discover_s: float = 1.0
    """How often the sales index is re-read and the lag gauges refreshed."""
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9465
    """The exporter's /metrics (0: not served)."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ExportConfig:
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, kind in (
            ("batch", int),
            ("block_ms", int),
            ("claim_idle_ms", int),
            ("discover_s", float),
            ("metrics_host", str),
            ("metrics_port", int),
        ):
            raw = source.get(f"FLASHSALE_EXPORT_{name.upper()}")
            if raw is not None and raw != "":
                try:
                    values[name] = kind(raw)
                except ValueError as exc:
                    raise ValueError(f"FLASHSALE_EXPORT_{name.upper()}: cannot use {raw!r}") from exc
        config = cls(**values)
        if config.batch < 1 or config.block_ms < 1 or config.claim_idle_ms < 100 or config.discover_s <= 0:
            raise ValueError("FLASHSALE_EXPORT_BATCH/BLOCK_MS must be >= 1, CLAIM_IDLE_MS >= 100, DISCOVER_S > 0")
        return config


def consumer_name() -> str:
    """Unique per process: a restarted exporter never inherits a dead one's pending entries by name (it claims
    them once idle), and two exporters never share a consumer."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Exporter:
    def __init__(
        self,
        client: Any,
        store: OrderStore,
        config: ExportConfig | None = None,
        metrics: ExportMetrics | None = None,
        consumer: str | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.config = config or ExportConfig()
        self.metrics = metrics or ExportMetrics()
        self.consumer = consumer or consumer_name()
        self.sales: set[str] = set()
        self._cluster = isinstance(client, RedisCluster)
        self._stop = asyncio.Event()
        self.exported = 0
        """Rows this process inserted (first writes only)."""
        self.delivered = 0
        """Entries this process wrote and acknowledged (re-deliveries included)."""

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Export until ``stop()``. The sales index and the lag gauges are refreshed by a task of their own, so
        the gauges keep growing while a batch waits on a slow or absent PostgreSQL."""
        log.info("export_started", consumer=self.consumer, group=EXPORT_GROUP)
        await self._guard(self.discover)
        housekeeping = asyncio.get_running_loop().create_task(self._housekeeping())
        try:
            await self._export_loop()
        finally:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
        log.info("export_stopped", consumer=self.consumer, exported=self.exported)

    async def _housekeeping(self) -> None:
        while not self._stop.is_set():
            await self._guard(self.discover)
            await self._guard(self.refresh_lag)
            await self._pause(self.config.discover_s)

    async def _export_loop(self) -> None:
        next_claim = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_claim:
                await self._guard(self.claim)
                next_claim = now + self.config.claim_idle_ms / 2000
            read = await self._guard(self.read)
            if read:
                await self.export(read)
            elif read is None:  # Redis failed: do not spin
                await self._pause(0.2)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def _guard(self, step: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await step()
        except _FAILURES as exc:
            self.metrics.errors.labels("redis").inc()
            log.warning("export_redis_error", step=getattr(step, "__name__", "?"), error=type(exc).__name__)
            return None

    async def discover(self) -> None:
        sales = set(await self.client.smembers(SALES_INDEX))
        for sale in sales - self.sales:
            if await ensure_group(self.client, sale):
                log.info("export_group_created", sale=sale)
        self.sales = sales
        self.metrics.track(sales)

    async def refresh_lag(self) -> None:
        if not self.sales:
            return
        seconds, micros = await self.client.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        for sale in sorted(self.sales):
            b = await backlog(self.client, sale)
            self.metrics.lag_entries.labels(sale).set(b.entries)
            age = 0.0 if b.oldest_ms is None else max(0.0, (now_ms - b.oldest_ms) / 1000)
            self.metrics.lag_seconds.labels(sale).set(age)

    async def read(self) -> list[tuple[str, Entry]]:
        """New entries for this consumer, across all sales."""
        if not self.sales:
            await self._pause(self.config.block_ms / 1000)
            return []
        out: list[tuple[str, Entry]] = []
        if not self._cluster:
            streams = {sale_keys(s).orders: ">" for s in sorted(self.sales)}
            try:
                reply = await self.client.xreadgroup(
                    EXPORT_GROUP, self.consumer, streams, count=self.config.batch, block=self.config.block_ms
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self._regroup()
                return []
            for stream, entries in reply or []:
                out.extend((sale_of_key(stream), e) for e in entries)
            return out
        for sale in sorted(self.sales):
            try:
                reply = await self.client.xreadgroup(
                    EXPORT_GROUP, self.consumer, {sale_keys(sale).orders: ">"}, count=self.config.batch
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self._regroup()
                continue
            for _stream, entries in reply or []:
                out.extend((sale, e) for e in entries)
        if not out:
            await self._pause(self.config.block_ms / 1000)
        return out

    async def _regroup(self) -> None:
        """A stream lost its group (flush, failover, sale deleted): re-discover from scratch."""
        self.sales = set()
        await self.discover()

    async def claim(self) -> None:
        """Take over entries idle on other consumers (dead exporters) and export them."""
        for sale in sorted(self.sales):
            stream = sale_keys(sale).orders
            start = "0-0"
            while not self._stop.is_set():
                try:
                    reply = await self.client.xautoclaim(
                        stream,
                        EXPORT_GROUP,
                        self.consumer,
                        self.config.claim_idle_ms,
                        start_id=start,
                        count=self.config.batch,
                    )
                except ResponseError as exc:
                    if "NOGROUP" in str(exc) or "no such key" in str(exc).lower():
                        break
                    raise
                start, entries = reply[0], reply[1]
                deleted = reply[2] if len(reply) > 2 else []
                if deleted:  # pending, but no longer in the stream: nothing left to export
                    await self.client.xack(stream, EXPORT_GROUP, *deleted)
                if entries:
                    log.info("export_claimed", sale=sale, entries=len(entries))
                    await self.export([(sale, e) for e in entries])
                if start == "0-0" or not entries:
                    break
            await self._forget_idle_consumers(stream)

    async def _forget_idle_consumers(self, stream: str) -> None:
        """Consumers with nothing pending and idle for an hour are gone exporters: drop their names."""
        for c in await self.client.xinfo_consumers(stream, EXPORT_GROUP):
            if c.get("name") != self.consumer and int(c.get("pending", 0)) == 0 and int(c.get("idle", 0)) > 3_600_000:
                await self.client.xgroup_delconsumer(stream, EXPORT_GROUP, c["name"])

    async def export(self, entries: list[tuple[str, Entry]]) -> None:
        """Write the entries in one transaction (retried until it commits), then acknowledge them."""
        rows: list[OrderRow] = []
        good: dict[str, list[str]] = {}
        for sale, (entry_id, fields) in entries:
            try:
                rows.append(decode(sale, entry_id, fields))
            except BadEntry as exc:
                self.metrics.errors.labels("decode").inc()
                log.error("export_bad_entry", sale=sale, entry=entry_id, error=str(exc))
                continue
            good.setdefault(sale, []).append(entry_id)
        if not rows:
            return
        inserted = await self._write(rows)
        if inserted is None:
            return  # stopping while PostgreSQL fails: the entries stay pending for the next exporter
        for sale, count in inserted.items():
            self.metrics.exported.labels(sale).inc(count)
            self.exported += count
        for sale, ids in good.items():
            try:
                await self.client.xack(sale_keys(sale).orders, EXPORT_GROUP, *ids)
            except _FAILURES as exc:
                # Committed but not acknowledged: delivered again later, absorbed by ON CONFLICT.
                self.metrics.errors.labels("redis").inc()
                log.warning("export_ack_failed", sale=sale, entries=len(ids), error=type(exc).__name__)
                continue
            self.delivered += len(ids)

    async def _write(self, rows: list[OrderRow]) -> dict[str, int] | None:
        delay = 0.1
        while True:
            try:
                return await self.store.write(rows)
            except Exception as exc:
                self.metrics.errors.labels("database").inc()
                log.warning(
                    "export_database_error",
                    rows=len(rows),
                    error=type(exc).__name__,
                    detail=str(exc)[:200],
                    retry_in_s=delay,
                )
            if self._stop.is_set():
                return None
            await self._pause(delay)
            delay = min(delay * 2, 5.0)
