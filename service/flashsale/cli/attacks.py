"""``flashsale attack``: many simultaneous buyers (or bots against humans) on a target or an embedded server."""

from __future__ import annotations

import asyncio
import json
import resource
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from flashsale.cli.options import MAX_UNITS, RunFailed, http_url_param, option
from flashsale.settings import PREFIX, Settings

MAX_BUYERS = 25_000
"""Most simultaneous buyers of one ``attack`` (docs/decisions.md): each buyer is one TCP connection from this
process to one address and port, and Linux has 28,232 ephemeral ports (32768-60999) per such pair."""
FD_HEADROOM = 512
"""File descriptors beyond one per buyer: the embedded server's Redis pool, metrics scrapes, the interpreter."""


def _room_for(buyers: int, ctx: click.Context) -> None:
    """Make sure this process (and the embedded server it starts, which inherits the limit) may open a socket
    per buyer: raise the soft open-files limit up to the hard one, else refuse ``--buyers`` naming the limit.
    Without it a large burst fails with "Too many open files" deep inside aiohttp."""
    need = buyers + FD_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < need:
        raise click.UsageError(
            f"--buyers {buyers} needs about {need} open files, and this process may open at most {hard} "
            f"(ulimit -Hn): use at most {hard - FD_HEADROOM} buyers here",
            ctx,
        )


@click.command()
@option(
    "--buyers",
    type=click.IntRange(1, MAX_BUYERS),
    default=500,
    help="Simultaneous buyers, one connection each, one unit each.",
)
@option("--stock", type=click.IntRange(0, MAX_UNITS), default=50, help="Units of each fresh sale attacked.")
@option(
    "--path",
    type=click.Choice(["safe", "unsafe", "both"]),
    default="both",
    help="Purchase path: safe (the Lua script), unsafe (read-modify-write demo route, demo mode only) or both.",
)
@option(
    "--url",
    callback=http_url_param,
    help="Target API. Default: an embedded Redis and a local server with demo mode on.",
)
@option(
    "--admin-token",
    envvar=f"{PREFIX}ADMIN_TOKEN",
    help="The target's admin token (the attack creates its sales); needed with --url. Prefer the variable: a "
    "value given here shows in the process list.",
)
@option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the figures to this JSON file.",
)
@option(
    "--bots",
    type=click.IntRange(1, 1000),
    help="Bots-versus-humans mode: this many bot accounts, each with --bot-connections connections, against "
    "--humans accounts with one each, once without a queue and once with a random_at_open queue (--buyers and "
    "--path are then unused).",
)
@option("--bot-connections", type=click.IntRange(1, 100), default=20, help="Concurrent attempts per bot account.")
@option("--humans", type=click.IntRange(1, 10_000), default=200, help="Human accounts (one connection each).")
@click.pass_context
def attack(
    ctx: click.Context,
    buyers: int,
    stock: int,
    path: str,
    url: str | None,
    admin_token: str | None,
    json_path: Path | None,
    bots: int | None,
    bot_connections: int,
    humans: int,
) -> int:
    """Fire many simultaneous buyers at one sale and count what was sold.

    Exit status 1 if the safe path oversold; 2 for bad options; 1 when the target cannot be reached, answers
    with an error, or (for --path unsafe or both) does not mount the unsafe demo route.
    """
    _need_load_clients()
    if bots is not None:
        return _bot_attack(ctx, bots, bot_connections, humans, stock, url, admin_token, json_path)
    from flashsale.attack import run, table

    paths = ["safe", "unsafe"] if path == "both" else [path]
    _room_for(buyers, ctx)
    results = _against(
        ctx,
        url,
        admin_token,
        {"FLASHSALE_DEMO": "true"},
        lambda at, token, mint: run(at, paths, buyers, stock, token, mint),
    )
    click.echo(table(results))
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results.get("safe", {"oversold": 0})["oversold"] == 0 else 1


def _need_load_clients() -> None:
    """The attack's HTTP clients (aiohttp) are the ``load`` extra: not in the server image nor a bare install."""
    try:
        import aiohttp  # noqa: F401
    except ImportError as exc:
        raise RunFailed(
            "flashsale attack needs its load clients: pip install 'flashsale[load]' (make venv installs them)"
        ) from exc


def _against(
    ctx: click.Context,
    url: str | None,
    admin_token: str | None,
    env: dict[str, str],
    attack: Callable[[str, str, Callable[[str], str]], Coroutine[Any, Any, dict[str, Any]]],
) -> dict[str, Any]:
    """Run ``attack(url, admin_token, mint)`` on the target ``--url``, else on an embedded Redis and server
    (``env``); its failures, and a server that does not start, are one-line errors. ``mint(buyer)`` is a buyer
    token: from the demo issuer's key file (FLASHSALE_DEMO_ISSUER_KEY) for ``--url``, which must then be a demo
    server on this machine; from the embedded server's own issuer otherwise."""
    from flashsale.attack import AttackError

    try:
        if url:
            if not admin_token:
                raise click.UsageError(
                    "set FLASHSALE_ADMIN_TOKEN (or --admin-token) to the target's admin token: the attack creates "
                    "its sales",
                    ctx,
                )
            from flashsale.identity import local_issuer

            settings = Settings.from_env()
            issuer = local_issuer(settings)
            audience = settings.oidc_audience or "flashsale"
            return asyncio.run(attack(url, admin_token, lambda buyer: issuer.mint(buyer, audience)))
        from flashsale.embedded import EmbeddedRedis
        from flashsale.local import LocalServer, LocalServerError

        try:
            with EmbeddedRedis() as redis, LocalServer(redis.url, env=env) as server:
                assert server.admin_token is not None
                return asyncio.run(attack(server.url, server.admin_token, server.token))
        except LocalServerError as exc:
            raise RunFailed(f"the local server did not start: {exc}") from exc
    except AttackError as exc:
        raise RunFailed(str(exc)) from exc


def _bot_attack(
    ctx: click.Context,
    bots: int,
    connections: int,
    humans: int,
    stock: int,
    url: str | None,
    admin_token: str | None,
    json_path: Path | None,
) -> int:
    """``attack --bots``: flashsale/bots.py; exit 1 if either run oversold."""
    from flashsale.bots import run, table

    _room_for(bots * connections + humans, ctx)
    # Every simulated account joins from this one host: the per-address join limit would refuse the run itself.
    results = _against(
        ctx,
        url,
        admin_token,
        {"FLASHSALE_DEMO": "true", "FLASHSALE_JOIN_RATE_PER_ADDRESS": "0"},
        lambda at, token, mint: run(at, token, mint, bots, connections, humans, stock),
    )
    click.echo(table(results))
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["oversold"] == 0 and r["invariants_ok"] for r in results.values()) else 1
