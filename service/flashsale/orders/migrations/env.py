"""Alembic environment of the ``orders`` schema, run by ``flashsale db upgrade`` and at ``flashsale export`` start.

Online only, through SQLAlchemy's asyncpg dialect (the exporter's driver, so one driver serves both). The URL
comes from ``config.attributes["url"]`` (set by ``flashsale.orders.db.upgrade``). Several exporters may start
at once: each upgrade runs in one transaction that first takes a transaction-level advisory lock, so the
second one waits, then finds the schema at head and does nothing.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

MIGRATION_LOCK = 0x666C6173_68736165
"""Advisory lock key held while migrating ("flashsae" in hex: any constant no other tool uses)."""
VERSION_TABLE = "flashsale_alembic_version"
"""Not alembic's default name: the shop's own database may have its own alembic history."""


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def _run(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_migrate)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the orders schema is migrated online only: flashsale db upgrade")
asyncio.run(_run(context.config.attributes["url"]))
