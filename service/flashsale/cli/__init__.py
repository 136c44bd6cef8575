"""The ``flashsale`` command, built on click: the group, its commands and the entry point.

click gives every option its type and range, its default and its environment variable in ``--help`` from one
declaration, and reports a bad value as a usage error rather than a traceback. Each command family has its
module: serving.py (``serve``), attacks.py (``attack``), sales.py (``create-sale``), tokens.py (``buyer-token``),
orders.py (``export``, ``db upgrade``, ``reconcile``); options.py holds what they share.
"""

from __future__ import annotations

import click

from flashsale import __version__
from flashsale.cli.attacks import attack
from flashsale.cli.options import FlashsaleGroup
from flashsale.cli.orders import db, export, reconcile
from flashsale.cli.sales import create_sale
from flashsale.cli.serving import serve
from flashsale.cli.tokens import buyer_token

__all__ = ["cli", "main"]


@click.group(
    cls=FlashsaleGroup,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 110},
)
@click.version_option(__version__, "-V", "--version", prog_name="flashsale", message="%(prog)s %(version)s")
def cli() -> None:
    """A flash-sale engine: sells exactly the stock there is, once per request, and shows every attempt.

    Every setting is a FLASHSALE_* environment variable (docs/operations.md: Settings); the options below show the ones
    each command also takes on its command line.
    """


for command in (serve, attack, create_sale, buyer_token, export, db, reconcile):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """The console script and ``python -m flashsale``: run the command, return its exit status."""
    return int(cli.main(args=argv, prog_name="flashsale", standalone_mode=False))
