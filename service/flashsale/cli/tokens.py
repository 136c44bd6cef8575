"""``flashsale buyer-token``: a demo issuer's token for a buyer, to try the buyer routes by hand."""

from __future__ import annotations

import json
from typing import Any

import click

from flashsale.cli.options import option
from flashsale.settings import Settings


@click.command("buyer-token")
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
