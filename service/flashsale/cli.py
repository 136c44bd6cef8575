"""The ``flashsale`` command: ``serve`` the API, ``attack`` it, ``create-sale`` for operators, ``export`` orders to
PostgreSQL, ``db upgrade`` its schema, ``reconcile`` a sale."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

from flashsale.settings import Settings, SettingsError

DEMO_SALE = {"sale_id": "demo", "name": "Demo drop", "stock": 100, "per_buyer_limit": 2}


def _create_sale(settings: Settings, sale: dict[str, object]) -> bool:
    from flashsale.inventory import Inventory
    from flashsale.inventory.connection import connect

    async def go() -> bool:
        inventory = Inventory(connect(settings), settings)
        try:
            return await inventory.create_sale(
                str(sale["sale_id"]),
                str(sale["name"]),
                int(str(sale["stock"])),
                int(str(sale.get("per_buyer_limit", 0))),
                hold_ttl_s=int(str(sale.get("hold_ttl_s", 600))),
            )
        finally:
            await inventory.close()

    return asyncio.run(go())


def _clear_metric_files(folder: str | None) -> None:
    """Metric files of an earlier run would be added to this one's counters: start from none."""
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def serve(args: argparse.Namespace) -> int:
    from flashsale.embedded import EmbeddedRedis
    from flashsale.security import check_admin_token

    env = os.environ
    for name in ("host", "port", "workers"):
        value = getattr(args, name)
        if value is not None:
            env[f"FLASHSALE_{name.upper()}"] = str(value)
    settings = Settings.from_env()
    embedded: EmbeddedRedis | None = None
    if not settings.redis_url:
        embedded = EmbeddedRedis()
        env["FLASHSALE_REDIS_URL"] = embedded.start()
        if not settings.admin_token:
            token = secrets.token_urlsafe(32)
            env["FLASHSALE_ADMIN_TOKEN"] = token
            assert embedded.folder is not None
            token_file = embedded.folder / "admin-token"
            token_file.write_text(token)
            token_file.chmod(0o600)
            print(f"embedded Redis at {embedded.url}; admin token written to {token_file}", file=sys.stderr)
        settings = Settings.from_env()
        _create_sale(settings, DEMO_SALE)
        print(f"demo sale 'demo' (stock {DEMO_SALE['stock']}) ready", file=sys.stderr)
    if not settings.database_url:
        # make run: no embedded PostgreSQL (docs/decisions.md, issue 13); orders stay in Redis only.
        print(
            "order export to PostgreSQL off: set FLASHSALE_DATABASE_URL=postgresql://... here and run "
            "`flashsale export` beside it (README: Orders in PostgreSQL)",
            file=sys.stderr,
        )
    try:
        check_admin_token(settings)
        if settings.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in env:
            env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="flashsale-metrics-")
        _clear_metric_files(env.get("PROMETHEUS_MULTIPROC_DIR"))
        print(
            f"serving on http://{settings.host}:{settings.port} ({settings.workers} worker(s), {args.server})",
            file=sys.stderr,
        )
        if args.server == "granian":
            from granian import Granian
            from granian.constants import Interfaces, Loops
            from granian.http import HTTP1Settings

            Granian(
                "flashsale.app:create_app",
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

            # The protocol adds header and body read deadlines (server.py); keep-alive outlasts an ALB's 60 s.
            uvicorn.run(
                "flashsale.app:create_app",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=settings.workers,
                loop="uvloop",
                http="flashsale.server:DeadlineHttpToolsProtocol",
                access_log=False,
                log_level=settings.log_level.lower(),
                lifespan="on",
                backlog=4096,
                timeout_graceful_shutdown=5,
                timeout_keep_alive=settings.keepalive_s,
                limit_concurrency=settings.limit_concurrency or None,
            )
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def attack(args: argparse.Namespace) -> int:
    from flashsale.attack import run, table

    paths = ["safe", "unsafe"] if args.path == "both" else [args.path]
    if args.url:
        token = os.environ.get("FLASHSALE_ADMIN_TOKEN", "")
        if not token:
            print(
                "set FLASHSALE_ADMIN_TOKEN to the target's admin token (the attack creates its sales)", file=sys.stderr
            )
            return 2
        results = asyncio.run(run(args.url, paths, args.buyers, args.stock, token))
    else:
        from flashsale.embedded import EmbeddedRedis
        from flashsale.local import LocalServer

        with EmbeddedRedis() as redis, LocalServer(redis.url, env={"FLASHSALE_DEMO": "true"}) as server:
            results = asyncio.run(run(server.url, paths, args.buyers, args.stock, server.admin_token))
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results.get("safe", {"oversold": 0})["oversold"] == 0 else 1


def _hold_ttl(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 86_400:
        raise argparse.ArgumentTypeError("must be within 1..86400 seconds")
    return value


def create_sale(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if not settings.redis_url:
        print("set FLASHSALE_REDIS_URL", file=sys.stderr)
        return 2
    sale = {
        "sale_id": args.sale_id,
        "name": args.name or args.sale_id,
        "stock": args.stock,
        "per_buyer_limit": args.limit,
        "hold_ttl_s": args.hold_ttl,
    }
    created = _create_sale(settings, sale)
    print("created" if created else "exists already")
    return 0 if created else 1


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="flashsale", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve the API (embedded Redis when FLASHSALE_REDIS_URL is unset)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--workers", type=int)
    s.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    s.set_defaults(func=serve)

    a = sub.add_parser("attack", help="fire many simultaneous buyers at one sale and count what was sold")
    a.add_argument("--buyers", type=int, default=500)
    a.add_argument("--stock", type=int, default=50)
    a.add_argument("--path", choices=["safe", "unsafe", "both"], default="both")
    a.add_argument("--url", help="target API (default: an embedded Redis and server, demo mode on)")
    a.add_argument("--json", help="also write the figures to this JSON file")
    a.set_defaults(func=attack)

    c = sub.add_parser("create-sale", help="create a sale directly in Redis")
    c.add_argument("sale_id")
    c.add_argument("--name")
    c.add_argument("--stock", type=int, required=True)
    c.add_argument("--limit", type=int, default=0)
    c.add_argument(
        "--hold-ttl",
        type=_hold_ttl,
        default=600,
        metavar="SECONDS",
        help="how long a hold lasts (1-86400 s, default 600)",
    )
    c.set_defaults(func=create_sale)

    from flashsale.orders.cli import add_commands

    add_commands(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"flashsale: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
