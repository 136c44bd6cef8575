"""The ``flashsale`` command, built on click.

click gives every option its type and range, its default and its environment variable in ``--help`` from one
declaration, and reports a bad value as a usage error instead of the traceback argparse-era code let through.
Every error this command expects (a bad value, Redis down, an unreachable or misbehaving target) ends as one
line on stderr: exit status 2 for what the caller typed or set, 1 for what went wrong while running.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import secrets
import sys
import tempfile
import typing
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec
from click.core import ParameterSource

from flashsale import __version__
from flashsale.settings import PREFIX, Settings, SettingsError

DEMO_SALE = {"sale_id": "demo", "name": "Demo drop", "stock": 100, "per_buyer_limit": 2}

MAX_BUYERS = 25_000
"""Most simultaneous buyers of one ``attack`` (docs/decisions.md, issue 18): each buyer is one TCP connection
from this process to one address and port, and Linux has 28,232 ephemeral ports (32768-60999) per such pair."""
FD_HEADROOM = 512
"""File descriptors beyond one per buyer: the embedded server's Redis pool, metrics scrapes, the interpreter."""
MAX_UNITS = 1_000_000_000
"""Largest stock a sale can be created with (the API's ``Units``)."""
MAX_PER_BUYER = 1_000_000
"""Largest per-buyer limit (the API's ``per_buyer_limit``: 1000 x the largest quantity)."""
MAX_HOLD_TTL_S = 86_400

F = TypeVar("F", bound=Callable[..., Any])


class RunFailed(click.ClickException):
    """Something failed while running (exit 1): Redis down, a target that cannot be reached or misbehaves."""

    exit_code = 1


class BadSetting(click.ClickException):
    """A ``FLASHSALE_*`` variable the engine cannot run with (exit 2, as before the move to click)."""

    exit_code = 2


def _one_line(text: str) -> str:
    return " ".join(text.split())


class FlashsaleGroup(click.Group):
    """A click group whose expected errors are one line on stderr (click prints usage lines around them)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        code: int
        try:
            result = super().main(
                args, prog_name or "flashsale", complete_var, False, windows_expand_args=windows_expand_args, **extra
            )
            code = result if isinstance(result, int) else 0
        except click.exceptions.NoArgsIsHelpError as exc:  # a bare group: its help is the answer, as click does
            click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message(), err=True)
            code = exc.exit_code
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "flashsale"
            click.echo(f"{where}: {_one_line(exc.format_message())} (see '{where} --help')", err=True)
            code = exc.exit_code
        except click.ClickException as exc:
            click.echo(f"flashsale: {_one_line(exc.format_message())}", err=True)
            code = exc.exit_code
        except SettingsError as exc:
            click.echo(f"flashsale: {_one_line(str(exc))}", err=True)
            code = 2
        except click.Abort:  # Ctrl-C (click turns KeyboardInterrupt into Abort)
            code = 130
        if standalone_mode:
            sys.exit(code)
        return code


class SourcedOption(click.Option):
    """An option whose error names where the bad value came from: ``'--port'`` when typed, ``'--port' (from
    FLASHSALE_PORT)`` when read from the variable (click names the variable either way, which blamed the
    variable for a typed ``--port 0``)."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = " / ".join(f"'{o}'" for o in self.opts)
        if (
            ctx is not None
            and self.name
            and self.envvar
            and ctx.get_parameter_source(self.name) is ParameterSource.ENVIRONMENT
        ):
            hint += f" (from {self.envvar})"
        return hint


def option(*decls: str, **kwargs: Any) -> Callable[[F], F]:
    """``click.option`` showing its environment variable (if any) in ``--help``; defaults show for all."""
    kwargs.setdefault("show_envvar", True)
    kwargs.setdefault("cls", SourcedOption)
    decorator: Callable[[F], F] = click.option(*decls, **kwargs)
    return decorator


def setting_range(name: str) -> click.IntRange:
    """The bounds of a setting as a click range: the option and its ``FLASHSALE_*`` variable accept the same
    values, taken from settings.py's type (so ``--port 0`` is refused naming ``--port``, as the variable is)."""
    field = next(f for f in msgspec.structs.fields(Settings) if f.name == name)
    meta = next(m for m in typing.get_args(field.type)[1:] if isinstance(m, msgspec.Meta))
    return click.IntRange(int(meta.ge) if meta.ge is not None else None, int(meta.le) if meta.le is not None else None)


DEFAULTS = Settings()


class Instant(click.ParamType[datetime]):
    """An RFC 3339 date-time with a UTC offset (``2026-12-24T09:00:00Z``, ``...+01:00``), parsed by msgspec as
    the API parses ``opens_at``; a time without an offset is refused rather than guessed."""

    name = "RFC3339"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = msgspec.convert(str(value), datetime)
            except msgspec.ValidationError:
                self.fail(f"{value!r} is not an RFC 3339 date-time (e.g. 2026-12-24T09:00:00Z)", param, ctx)
        if parsed.tzinfo is None:
            self.fail(f"{value!r} has no UTC offset: add Z or +hh:mm (e.g. 2026-12-24T09:00:00Z)", param, ctx)
        return parsed


def _sale_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from flashsale.inventory.keys import SALE_ID_PATTERN

    if not re.fullmatch(SALE_ID_PATTERN, value):
        raise click.BadParameter(f"{value!r}: use 1-64 of a-z, 0-9 and inner dashes", ctx, param)
    return value


def _http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{value!r}: give an http:// or https:// URL with a host", ctx, param)
    return value.rstrip("/")


@click.group(
    cls=FlashsaleGroup,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 110},
)
@click.version_option(__version__, "-V", "--version", prog_name="flashsale", message="%(prog)s %(version)s")
def cli() -> None:
    """A flash-sale engine: sells exactly the stock there is, once per request, and shows every attempt.

    Every setting is a FLASHSALE_* environment variable (README: Settings); the options below show the ones
    each command also takes on its command line.
    """


# -- serve ---------------------------------------------------------------------------------------------------


def _create_sale(settings: Settings, sale: dict[str, Any]) -> bool:
    from flashsale.inventory import Inventory
    from flashsale.inventory.connection import connect

    async def go() -> bool:
        inventory = Inventory(connect(settings), settings)
        try:
            return await inventory.create_sale(
                str(sale["sale_id"]),
                str(sale["name"]),
                int(sale.get("stock") or 0),
                int(sale.get("per_buyer_limit", 0)),
                opens_ms=sale.get("opens_ms"),
                closes_ms=sale.get("closes_ms"),
                hold_ttl_s=int(sale.get("hold_ttl_s", 600)),
                items=tuple(sale.get("catalogue_items", ())),
                quotas=tuple(sale.get("catalogue_quotas", ())),
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


@cli.command()
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
    "connections: not behind a load balancer; docs/decisions.md, issue 25).",
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
            _create_sale(settings, DEMO_SALE)
            say("demo_sale_ready", message=f"demo sale 'demo' (stock {DEMO_SALE['stock']}) ready", sale="demo")
        if not settings.demo:
            _register_admission_key(settings)
        if not settings.database_url:
            # make run: no embedded PostgreSQL (docs/decisions.md, issue 13); orders stay in Redis only.
            say(
                "order_export_off",
                message="order export to PostgreSQL off: set FLASHSALE_DATABASE_URL=postgresql://... here and run "
                "'flashsale export' beside it (README: Orders in PostgreSQL)",
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


# -- attack --------------------------------------------------------------------------------------------------


def _room_for(buyers: int, ctx: click.Context) -> None:
    """Make sure this process (and the embedded server it starts, which inherits the limit) may open a socket
    per buyer: raise the soft open-files limit up to the hard one, else refuse ``--buyers`` naming the limit.
    Without this, a large burst died with "Too many open files" deep inside aiohttp."""
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


@cli.command()
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
    callback=_http_url,
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


# -- create-sale ---------------------------------------------------------------------------------------------


def masked_url(url: str) -> str:
    """A Redis URL without its password, for error messages."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}" if sep and "@" in rest else url


def _items(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[Any, ...]:
    """``--item SKU=STOCK[:LIMIT]``, repeated: the sale's SKUs (issue 26)."""
    from flashsale.inventory.skus import Item

    items = []
    for value in values:
        sku, sep, rest = value.partition("=")
        stock, _, limit = rest.partition(":")
        if not sep or not stock.isdigit() or (limit and not limit.isdigit()):
            raise click.BadParameter(f"{value!r}: write SKU=STOCK or SKU=STOCK:LIMIT, e.g. us-9=40:1", ctx, param)
        items.append(Item(sku, int(stock), int(limit or 0)))
    return tuple(items)


def _quotas(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[Any, ...]:
    """``--quota NAME=CAP:SKU,SKU,...``, repeated: caps over some of the sale's SKUs."""
    from flashsale.inventory.skus import Quota

    quotas = []
    for value in values:
        name, sep, rest = value.partition("=")
        cap, _, skus = rest.partition(":")
        if not sep or not cap.isdigit() or not skus:
            example = "all-sizes=300:us-9,us-10"
            raise click.BadParameter(f"{value!r}: write NAME=CAP:SKU,SKU,..., e.g. {example}", ctx, param)
        quotas.append(Quota(name, int(cap), tuple(skus.split(","))))
    return tuple(quotas)


@cli.command("create-sale")
@click.argument("sale_id", callback=_sale_id)
@option("--name", show_default="the sale id", help="Display name, 1-200 characters.")
@option("--stock", type=click.IntRange(0, MAX_UNITS), help="Units on sale (a one-stock sale; or use --item).")
@option(
    "--item",
    "items",
    multiple=True,
    callback=_items,
    metavar="SKU=STOCK[:LIMIT]",
    help="A SKU of the sale and its units (LIMIT: per buyer of this SKU); repeat for each SKU, instead of --stock.",
)
@option(
    "--quota",
    "quotas",
    multiple=True,
    callback=_quotas,
    metavar="NAME=CAP:SKU,...",
    help="A cap over some of the --item SKUs (e.g. all sizes together); repeatable.",
)
@option(
    "--limit",
    type=click.IntRange(0, MAX_PER_BUYER),
    default=0,
    help="Units one buyer may buy (with --item: across every SKU); 0: no limit.",
)
@option(
    "--hold-ttl",
    type=click.IntRange(1, MAX_HOLD_TTL_S),
    default=600,
    metavar="SECONDS",
    help="How long a hold lasts.",
)
@option("--opens-at", type=Instant(), show_default="open at once", help="When the sale opens: RFC 3339 with an offset.")
@option("--closes-at", type=Instant(), show_default="never", help="When the sale closes: RFC 3339 with an offset.")
@option(
    "--redis-url",
    envvar=f"{PREFIX}REDIS_URL",
    help="Redis the sale is written to (required). Prefer the variable: a password in the URL shows in the "
    "process list.",
)
@click.pass_context
def create_sale(
    ctx: click.Context,
    sale_id: str,
    name: str | None,
    stock: int | None,
    items: tuple[Any, ...],
    quotas: tuple[Any, ...],
    limit: int,
    hold_ttl: int,
    opens_at: datetime | None,
    closes_at: datetime | None,
    redis_url: str | None,
) -> int:
    """Create a sale directly in Redis (exit 1 if one with this id exists already): one --stock, or SKUs with
    --item (and --quota caps over them)."""
    from flashsale.api.schemas import CreateSale, to_ms
    from flashsale.inventory import Unavailable
    from flashsale.inventory.skus import check_catalogue
    from flashsale.timefmt import format_instant

    if (stock is None) == (not items):
        raise click.UsageError("give --stock (a one-stock sale) or --item SKU=STOCK for each SKU, not both", ctx)
    if quotas and not items:
        raise click.UsageError("--quota caps --item SKUs: give the items too", ctx)
    if items and (why := check_catalogue(items, quotas)) is not None:
        raise click.UsageError(why, ctx)
    if not redis_url:
        raise click.UsageError("set FLASHSALE_REDIS_URL (or --redis-url): the sale is written to that Redis", ctx)
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        raise click.UsageError(
            f"--closes-at {format_instant(closes_at)} is not after --opens-at {format_instant(opens_at)}", ctx
        )
    payload: dict[str, Any] = {
        "sale_id": sale_id,
        "name": name or sale_id,
        "per_buyer_limit": limit,
        "opens_at": opens_at,
        "closes_at": closes_at,
        "hold_ttl_s": hold_ttl,
    }
    if items:
        payload["items"] = [{"sku": i.sku, "stock": i.stock, "per_buyer_limit": i.per_buyer_limit} for i in items]
        payload["quotas"] = [{"name": q.name, "cap": q.cap, "skus": list(q.skus)} for q in quotas] or None
    else:
        payload["stock"] = stock
    try:  # the API's own check too (name length, years 1-9999 in UTC), so both refuse the same sales
        msgspec.convert(payload, CreateSale)
    except msgspec.ValidationError as exc:
        raise click.UsageError(str(exc), ctx) from exc
    # An operator's one call may cross a network: the purchase path's 250 ms deadline is too tight here.
    settings = Settings.from_env(redis_url=redis_url)
    settings = Settings.from_env(redis_url=redis_url, redis_timeout_ms=max(settings.redis_timeout_ms, 2000))
    sale = {
        **payload,
        "opens_ms": to_ms(opens_at),
        "closes_ms": to_ms(closes_at),
        "catalogue_items": items,
        "catalogue_quotas": quotas,
    }
    try:
        created = _create_sale(settings, sale)
    except Unavailable as exc:
        raise RunFailed(f"Redis at {masked_url(redis_url)} unavailable ({exc.kind}: {exc})") from exc
    except (OSError, ValueError) as exc:  # a malformed URL (redis-py raises ValueError) or a socket error
        raise RunFailed(f"Redis at {masked_url(redis_url)}: {type(exc).__name__}: {exc}") from exc
    if not created:
        raise RunFailed(f"sale {sale_id!r} exists already (left untouched)")
    click.echo("created")
    return 0


@cli.command("buyer-token")
@click.argument("buyer")
@option("--ttl", type=click.IntRange(60, 86_400), default=3600, metavar="SECONDS", help="How long the token lasts.")
@option(
    "--claim",
    "claims",
    multiple=True,
    metavar="NAME=JSON",
    help="An extra claim, its value as JSON (e.g. email_verified=true, groups='[\"presale\"]'); repeatable.",
)
@click.pass_context
def buyer_token(ctx: click.Context, buyer: str, ttl: int, claims: tuple[str, ...]) -> int:
    """Print a token of the demo issuer for BUYER (demo mode and --embedded only; a production server trusts only
    FLASHSALE_OIDC_ISSUER). Send it as 'Authorization: Bearer <token>' on the buyer routes."""
    from flashsale.identity import local_issuer
    from flashsale.identity.tokens import BUYER_ID_RE

    if not BUYER_ID_RE.match(buyer):
        raise click.BadParameter(f"{buyer!r}: use 1-255 printable characters without spaces", ctx)
    extra: dict[str, Any] = {}
    for claim in claims:
        name, sep, raw = claim.partition("=")
        try:
            extra[name] = json.loads(raw) if sep else None
        except ValueError:
            extra[name] = raw
        if not sep or not name:
            raise click.BadParameter(f"{claim!r}: write NAME=VALUE", ctx)
    settings = Settings.from_env()
    click.echo(local_issuer(settings).mint(buyer, settings.oidc_audience or "flashsale", ttl, extra))
    return 0


def _add_order_commands() -> None:
    from flashsale.orders.cli import add_commands

    add_commands(cli)


_add_order_commands()


def main(argv: list[str] | None = None) -> int:
    """The console script and ``python -m flashsale``: run the command, return its exit status."""
    return int(cli.main(args=argv, prog_name="flashsale", standalone_mode=False))
