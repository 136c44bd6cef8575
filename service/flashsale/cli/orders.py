"""The order commands: ``flashsale export``, ``flashsale db upgrade`` and ``flashsale reconcile``."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from dataclasses import asdict
from typing import Any

import click
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from flashsale.cli.options import RunFailed
from flashsale.inventory.connection import no_retry
from flashsale.settings import Settings

START_RETRY_S = 60.0
"""How long ``export`` and ``db upgrade`` wait for PostgreSQL to accept the migration before giving up."""


ENV_HELP = "Reads FLASHSALE_DATABASE_URL and FLASHSALE_REDIS_URL (docs/operations.md: Settings)."


class NoSuchSale(click.ClickException):
    """``reconcile`` of a sale Redis does not know (exit 2: the caller named it)."""

    exit_code = 2


def _settings(need_redis: bool = True) -> Settings:
    """The settings, or a usage error (exit 2) naming the variables still unset."""
    settings = Settings.from_env()
    missing = [
        name
        for name, value in (
            ("FLASHSALE_DATABASE_URL", settings.database_url),
            ("FLASHSALE_REDIS_URL", settings.redis_url if need_redis else "x"),
        )
        if not value
    ]
    if missing:
        what = "export and reconcile need both stores" if need_redis else "the schema lives in PostgreSQL"
        raise click.UsageError(f"set {' and '.join(missing)} ({what})")
    return settings


def export_client(settings: Settings, block_ms: int) -> Any:
    """A Redis client for the exporter: no automatic retries (as the API's), a socket timeout longer than one
    blocking read."""
    timeout = block_ms / 1000 + 5
    assert settings.redis_url
    if settings.redis_cluster:
        return RedisCluster.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=5,
            retry=no_retry(),
        )
    return Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=5,
        retry=no_retry(),
        health_check_interval=0,
    )


def _upgrade_with_retry(url: str) -> None:
    from flashsale.orders.db import masked, upgrade

    deadline = time.monotonic() + START_RETRY_S
    delay = 0.5
    while True:
        try:
            upgrade(url)
            return
        except (OSError, ConnectionError) as exc:
            if time.monotonic() >= deadline:
                raise RunFailed(f"PostgreSQL at {masked(url)} unreachable: {exc}") from exc
            print(f"flashsale: waiting for PostgreSQL ({type(exc).__name__})", file=sys.stderr)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _json_logs(level: str) -> None:
    """One JSON object per line on stdout, as the API's logs (the exporter writes a few lines, not one per
    order, so plain line-buffered printing is enough)."""
    import logging

    import structlog

    from flashsale.telemetry.logs import add_timestamp, redact

    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            add_timestamp,
            redact,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric if isinstance(numeric, int) else logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )


@click.command(epilog=ENV_HELP)
def export() -> int:
    """Export every sale's orders to PostgreSQL, forever (stop with SIGTERM or Ctrl-C)."""
    from flashsale.orders.db import OrderStore
    from flashsale.orders.exporter import ExportConfig, Exporter
    from flashsale.orders.metrics import ExportMetrics

    settings = _settings()
    assert settings.database_url
    config = ExportConfig.from_env()
    _json_logs(settings.log_level)
    _upgrade_with_retry(settings.database_url)
    metrics = ExportMetrics()
    if config.metrics_port:
        metrics.serve(config.metrics_host, config.metrics_port)
        print(f"export metrics on http://{config.metrics_host}:{config.metrics_port}/metrics", file=sys.stderr)

    async def go() -> None:
        assert settings is not None and settings.database_url
        client = export_client(settings, config.block_ms)
        store = OrderStore(settings.database_url)
        exporter = Exporter(client, store, config, metrics)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, exporter.stop)
        try:
            await exporter.run()
        finally:
            await store.close()
            await client.aclose()

    asyncio.run(go())
    return 0


@click.group()
def db() -> None:
    """The orders database's schema."""


@db.command(epilog="Reads FLASHSALE_DATABASE_URL (docs/operations.md: Settings).")
def upgrade() -> int:
    """Apply the migrations (idempotent, safe from several processes at once)."""
    settings = _settings(need_redis=False)
    assert settings.database_url
    _upgrade_with_retry(settings.database_url)
    click.echo("orders schema at head")
    return 0


@click.command(epilog=ENV_HELP)
@click.argument("sale_id")
@click.option(
    "--repair", is_flag=True, help="Re-apply the orders PostgreSQL has and Redis lost (exactly once), then compare."
)
def reconcile(sale_id: str, repair: bool) -> int:
    """Compare a sale's orders in Redis and PostgreSQL; print JSON, exit 1 unless they match."""
    from flashsale.inventory import Inventory, Unavailable
    from flashsale.inventory.connection import connect
    from flashsale.orders.db import OrderStore
    from flashsale.orders.reconcile import reconcile as check
    from flashsale.orders.reconcile import repair as fix

    settings = _settings()
    settings = Settings.from_env(redis_timeout_ms=max(settings.redis_timeout_ms, 2000))

    async def go() -> tuple[bool, dict[str, Any]] | None:
        assert settings.database_url
        inventory = Inventory(connect(settings), settings)
        store = OrderStore(settings.database_url)
        try:
            if repair:
                fixed = await fix(inventory, store, sale_id)
                if fixed is None:
                    return None
                return bool(fixed.after and fixed.after.ok), asdict(fixed)
            result = await check(inventory, store, sale_id)
            return None if result is None else (result.ok, asdict(result))
        finally:
            await store.close()
            await inventory.close()

    try:
        out = asyncio.run(go())
    except Unavailable as exc:
        raise RunFailed(f"Redis unavailable ({exc.kind}: {exc})") from exc
    except (OSError, ConnectionError) as exc:
        raise RunFailed(f"reconcile failed: {type(exc).__name__}: {exc}") from exc
    if out is None:
        raise NoSuchSale(f"no sale {sale_id!r}")
    click.echo(json.dumps(out[1], indent=2))
    return 0 if out[0] else 1
