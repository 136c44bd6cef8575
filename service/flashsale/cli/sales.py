"""``flashsale create-sale``: a sale written straight into Redis, checked as the API checks one."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import click
import msgspec

from flashsale.cli.options import MAX_UNITS, Instant, RunFailed, option, sale_id_param
from flashsale.settings import PREFIX, Settings

MAX_PER_BUYER = 1_000_000
"""Largest per-buyer limit (the API's ``per_buyer_limit``: 1000 x the largest quantity)."""
MAX_HOLD_TTL_S = 86_400


def write_sale(settings: Settings, sale: dict[str, Any]) -> bool:
    """Create ``sale`` (the API's fields plus ``opens_ms``, ``closes_ms`` and the catalogue) in the Redis of
    ``settings``; False when one with its id exists already."""
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


def masked_url(url: str) -> str:
    """A Redis URL without its password, for error messages."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}" if sep and "@" in rest else url


def _items(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[Any, ...]:
    """``--item SKU=STOCK[:LIMIT]``, repeated: the sale's SKUs."""
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


@click.command("create-sale")
@click.argument("sale_id", callback=sale_id_param)
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
        created = write_sale(settings, sale)
    except Unavailable as exc:
        raise RunFailed(f"Redis at {masked_url(redis_url)} unavailable ({exc.kind}: {exc})") from exc
    except (OSError, ValueError) as exc:  # a malformed URL (redis-py raises ValueError) or a socket error
        raise RunFailed(f"Redis at {masked_url(redis_url)}: {type(exc).__name__}: {exc}") from exc
    if not created:
        raise RunFailed(f"sale {sale_id!r} exists already (left untouched)")
    click.echo("created")
    return 0
