"""What every ``flashsale`` command shares: its error types, the option helper, and the parameter types.

Every error a command expects (a bad value, Redis down, an unreachable or misbehaving target) ends as one line
on stderr: exit status 2 for what the caller typed or set, 1 for what went wrong while running.
"""

from __future__ import annotations

import re
import sys
import typing
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import click
import msgspec
from click.core import ParameterSource

from flashsale.settings import Settings, SettingsError

MAX_UNITS = 1_000_000_000
"""Largest stock a sale can be created with (the API's ``Units``)."""

F = TypeVar("F", bound=Callable[..., Any])


class RunFailed(click.ClickException):
    """Something failed while running (exit 1): Redis down, a target that cannot be reached or misbehaves."""

    exit_code = 1


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


def sale_id_param(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from flashsale.inventory.keys import SALE_ID_PATTERN

    if not re.fullmatch(SALE_ID_PATTERN, value):
        raise click.BadParameter(f"{value!r}: use 1-64 of a-z, 0-9 and inner dashes", ctx, param)
    return value


def http_url_param(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{value!r}: give an http:// or https:// URL with a host", ctx, param)
    return value.rstrip("/")
