"""``flashsale serve``: the API under uvicorn or granian, with a private Redis and demo sale for a laptop run."""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from pathlib import Path

import click

from flashsale.cli.options import DEFAULTS, RunFailed, option, setting_range
from flashsale.cli.sales import write_sale
from flashsale.settings import PREFIX, Settings, SettingsError

DEMO_SALE = {"sale_id": "demo", "name": "Demo drop", "stock": 100, "per_buyer_limit": 2}


def _clear_metric_files(folder: str | None) -> None:
    """Metric files of an earlier run would be added to this one's counters: start from none."""
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def _register_admission_key(settings: Settings) -> None:
    """Refuse to start when the other servers on this Redis sign with another admission key (queue/keyring.py).
    Redis not answering does not stop the start: the server answers 503 until it does, as it would anyway."""
    from flashsale.api.queue import make_signer
    from flashsale.inventory.connection import connect
    from flashsale.queue import keyring
    from flashsale.telemetry.logs import say

    async def check() -> None:
        client = connect(settings)
        try:
            async with asyncio.timeout(max(2.0, settings.redis_timeout_s)):
                await keyring.register(client, make_signer(settings))
        finally:
            await client.aclose()

    try:
        asyncio.run(check())
    except SettingsError:
        raise
    except Exception as exc:  # any Redis failure: start anyway, and say so
        say("admission_key_unchecked", message=f"admission key not checked against Redis: {type(exc).__name__}")


@click.command()
@option("--host", envvar=f"{PREFIX}HOST", default=DEFAULTS.host, help="Address to bind to.")
@option("--port", envvar=f"{PREFIX}PORT", type=setting_range("port"), default=DEFAULTS.port, help="Port to bind to.")
@option(
    "--workers",
    envvar=f"{PREFIX}WORKERS",
    type=setting_range("workers"),
    default=DEFAULTS.workers,
    help="Worker processes.",
)
@option(
    "--server",
    type=click.Choice(["uvicorn", "granian"]),
    default="uvicorn",
    help="HTTP server: uvicorn (uvloop accepting every waiting connection, httptools, header and body deadlines, "
    "the in-flight budget refusing without a task) or granian (its header timeout also closes idle keep-alive "
    "connections: not behind a load balancer; docs/decisions.md).",
)
@option(
    "--embedded",
    envvar=f"{PREFIX}EMBEDDED",
    is_flag=True,
    default=False,
    help="A laptop run (make run): without FLASHSALE_REDIS_URL, start a private Redis on loopback with a demo "
    "sale and a random admin token. Without this flag (or FLASHSALE_DEMO=true) a missing FLASHSALE_REDIS_URL "
    "stops serve.",
)
def serve(host: str, port: int, workers: int, server: str, embedded: bool) -> int:
    """Serve the API.

    FLASHSALE_REDIS_URL is required (exit 2 naming it when missing, before anything listens), except with
    --embedded or FLASHSALE_DEMO=true: then, without it, serve starts a private Redis, writes a random admin
    token to a 0600 file whose path it prints, creates the sale 'demo' (100 units, 2 per buyer) and stops that
    Redis on exit.
    """
    from flashsale.embedded import EmbeddedRedis, EmbeddedRedisError
    from flashsale.security import check_production
    from flashsale.telemetry.logs import say, uvicorn_log_config

    env = os.environ
    # The workers are separate processes that read the settings from the environment: hand the options on.
    env[f"{PREFIX}HOST"], env[f"{PREFIX}PORT"], env[f"{PREFIX}WORKERS"] = host, str(port), str(workers)
    if embedded:
        env[f"{PREFIX}EMBEDDED"] = "true"
    settings = Settings.from_env()
    private = not settings.redis_url and (settings.embedded or settings.demo)
    token_made = private and not settings.admin_token
    if token_made:
        env[f"{PREFIX}ADMIN_TOKEN"] = secrets.token_urlsafe(32)
        settings = Settings.from_env()
    if not settings.admission_key and (private or settings.demo):
        # One key for every worker of this server (independent of the admin token); outside demo mode only the
        # private Redis of `make run`, which lives and dies with this process, gets one made up here.
        env[f"{PREFIX}ADMISSION_KEY"] = secrets.token_urlsafe(32)
        settings = Settings.from_env()
    # Every fail-closed rule, before a Redis starts or a port is bound (security.py).
    check_production(settings)
    redis: EmbeddedRedis | None = None
    try:
        if private:
            redis = EmbeddedRedis()
            env[f"{PREFIX}REDIS_URL"] = redis.start()
            if token_made:
                assert redis.folder is not None
                token_file = redis.folder / "admin-token"
                token_file.write_text(env[f"{PREFIX}ADMIN_TOKEN"])
                token_file.chmod(0o600)
                say(
                    "embedded_redis",
                    message=f"embedded Redis at {redis.url}; admin token written to {token_file}",
                    admin_token_file=str(token_file),
                )
            settings = Settings.from_env()
            write_sale(settings, DEMO_SALE)
            say("demo_sale_ready", message=f"demo sale 'demo' (stock {DEMO_SALE['stock']}) ready", sale="demo")
        if not settings.demo:
            _register_admission_key(settings)
        if not settings.database_url:
            # make run has no embedded PostgreSQL (docs/decisions.md): orders stay in Redis only.
            say(
                "order_export_off",
                message="order export to PostgreSQL off: set FLASHSALE_DATABASE_URL=postgresql://... here and run "
                "'flashsale export' beside it (docs/operations.md: Orders in PostgreSQL)",
            )
        if settings.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in env:
            env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="flashsale-metrics-")
        _clear_metric_files(env.get("PROMETHEUS_MULTIPROC_DIR"))
        say(
            "serving",
            message=f"serving on http://{settings.host}:{settings.port} ({settings.workers} worker(s), {server})",
            workers=settings.workers,
            server=server,
        )
        if server == "granian":
            from granian import Granian
            from granian.constants import Interfaces, Loops
            from granian.http import HTTP1Settings

            Granian(
                "flashsale.app:create_served_app",
                address=settings.host,
                port=settings.port,
                workers=settings.workers,
                interface=Interfaces.ASGI,
                factory=True,
                loop=Loops.uvloop,
                log_enabled=False,
                http1_settings=HTTP1Settings(
                    header_read_timeout=int(settings.header_timeout_s * 1000), keep_alive=True
                ),
            ).serve()
        else:
            import uvicorn

            # The protocol adds header and body read deadlines, the loop accepts every waiting connection at
            # once (server.py); keep-alive outlasts an ALB's 60 s.
            uvicorn.run(
                "flashsale.app:create_served_app",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=settings.workers,
                loop="flashsale.server:new_event_loop",
                http="flashsale.server:DeadlineHttpToolsProtocol",
                ws="none",  # no WebSocket route: an Upgrade header gets a plain HTTP answer
                access_log=settings.access_log,
                log_level=settings.log_level.lower(),
                log_config=uvicorn_log_config(settings.log_level),
                lifespan="on",
                backlog=4096,
                timeout_graceful_shutdown=5,
                timeout_keep_alive=settings.keepalive_s,
                limit_concurrency=settings.limit_concurrency or None,
                proxy_headers=True,
                forwarded_allow_ips=settings.forwarded_allow_ips,
            )
    except EmbeddedRedisError as exc:
        raise RunFailed(f"the embedded Redis did not start: {exc}") from exc
    finally:
        if redis is not None:
            redis.stop()
    return 0
