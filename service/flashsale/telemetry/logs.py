"""Structured JSON logs: one line per purchase attempt, never a secret in clear.

structlog is configured through Litestar's StructlogPlugin with its request-logging middleware off: the
attempt line already says what happened, and a second line per request would double the cost of logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

import msgspec
import structlog
from litestar.logging.config import StructLoggingConfig
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin

from flashsale import timefmt
from flashsale.digest import key_digest

SECRET_FIELDS = frozenset({"authorization", "token", "admin_token", "idempotency_key", "password", "redis_url"})

_encoder = msgspec.json.Encoder()


_HANDLE_IN_PATH = re.compile(r"^(/sales/[^/]+/(?:holds|queue)/)([^/?]+)")


def path_digest(path: str) -> str:
    """A request path with its hold id or queue ticket replaced by ``~`` and its digest (key_digest): the access
    log keeps which handle was used without carrying the handle."""
    return _HANDLE_IN_PATH.sub(lambda m: m.group(1) + "~" + key_digest(m.group(2)), path, count=1)


def add_timestamp(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The ``timestamp`` field of every log line, in UTC."""
    event["timestamp"] = timefmt.now()
    return event


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for name in SECRET_FIELDS.intersection(event):
        event[name] = "***"
    return event


def _render(_: Any, __: str, event: MutableMapping[str, Any]) -> bytes:
    """JSON with msgspec: about five times cheaper than structlog's JSONRenderer over the stdlib json module,
    which matters at one line per purchase attempt."""
    return _encoder.encode(event)


class BufferedStdoutLogger:
    """Writes each line to stdout's buffer without flushing it.

    structlog's BytesLogger flushes after every line: one ``write`` system call per purchase attempt, which
    ``make bench`` measured at about 8 % of the purchase path. Lines are instead flushed when the buffer fills
    and by ``flush_periodically`` (every 200 ms), and at shutdown: a crash can lose the last 200 ms of logs.
    """

    def __init__(self, stream: Any = None) -> None:
        self._write = (stream or sys.stdout.buffer).write

    def msg(self, message: bytes) -> None:
        self._write(message + b"\n")

    log = debug = info = warn = warning = msg
    err = error = critical = exception = fatal = msg


class AttemptLog:
    """The per-attempt line, rendered without structlog's processor chain.

    Why: the attempt line is written once per purchase, and structlog's chain (contextvars merge, level, an
    ISO timestamp from ``datetime``, redaction, exception formatting, rendering) cost the worker about 8 %
    of a purchase (``make bench``: telemetry on/off 0.78 without traces). This writer builds the
    same JSON object (same keys, ``level`` and a UTC ISO ``timestamp``, secrets redacted) with one msgspec
    encode, the timestamp by ``timefmt`` (date and time formatted once per second): 5.2-8.4 µs per line against
    27.7-29.2 µs through the structlog chain, same process (load/README.md, "Telemetry").
    Every attempt keeps its own line: the log is the per-attempt record an operator greps for one buyer, so
    repeated outcomes are not sampled (docs/decisions.md).
    """

    def __init__(self, level: str | None = None, stream: Any = None) -> None:
        self._write = (stream or sys.stdout.buffer).write
        self._level = level
        self._enabled: bool | None = None if level is None else _numeric(level) <= logging.INFO

    @property
    def enabled(self) -> bool:
        """Whether INFO lines are written; without an explicit level, structlog's configured one decides."""
        if self._enabled is None:
            self._enabled = bool(structlog.get_logger("flashsale").is_enabled_for(logging.INFO))
        return self._enabled

    def write(self, line: dict[str, Any]) -> None:
        line["level"] = "info"
        line["timestamp"] = timefmt.now()
        if not SECRET_FIELDS.isdisjoint(line):
            redact(None, "", line)
        self._write(_encoder.encode(line) + b"\n")


def _numeric(level: str) -> int:
    numeric = logging.getLevelName(level.upper())
    return numeric if isinstance(numeric, int) else logging.INFO


def flush_stdout() -> None:
    with contextlib.suppress(Exception):
        sys.stdout.buffer.flush()


async def flush_periodically(*also: Callable[[], None], interval_s: float = 0.2) -> None:
    """Every ``interval_s``: flush stdout's buffer, then each of ``also`` (the recorder's span buffer)."""
    while True:
        await asyncio.sleep(interval_s)
        flush_stdout()
        for flush in also:
            try:
                flush()
            except Exception:  # keep flushing the log and the other buffers; say what failed
                logging.getLogger("flashsale").exception("periodic flush failed: %r", flush)


ExceptionLogger = Callable[[Any, Any, list[str]], None]
"""Litestar's ``exception_logging_handler``: (logger, ASGI scope, traceback lines) -> None."""


def structlog_plugin(level: str, log_exception: ExceptionLogger) -> StructlogPlugin:
    """The app's structlog set-up; ``log_exception`` decides how an exception that reached Litestar is logged
    (the API's, api/errors.py: telemetry knows no routes)."""
    numeric = _numeric(level)
    config = StructLoggingConfig(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            add_timestamp,
            redact,
            structlog.processors.format_exc_info,
            _render,
        ],
        logger_factory=lambda *_: BufferedStdoutLogger(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
        log_exceptions="always",
        exception_logging_handler=log_exception,
        pretty_print_tty=False,
    )
    return StructlogPlugin(StructlogConfig(structlog_logging_config=config, enable_middleware_logging=False))


def _uvicorn_fields(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """uvicorn's records as fields: an access record's arguments (client, method, full path, HTTP version,
    status) become ``method``, ``url_path`` (without the query string, which may carry a token) and ``status``;
    the client address and the request's headers are never written."""
    record = event.get("_record")
    if record is None:
        return event
    event["logger"] = record.name
    args = event.pop("positional_args", ())  # ProcessorFormatter(pass_foreign_args=True) moves them here
    if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        _, method, full_path, http_version, status = args
        event["event"] = "http_access"
        event["method"] = str(method)
        event["url_path"] = path_digest(str(full_path).split("?", 1)[0])
        event["status"] = int(status)
        event["http_version"] = str(http_version)
    return event


def _render_text(_: Any, __: str, event: MutableMapping[str, Any]) -> str:
    return _encoder.encode(event).decode()


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's ``log_config``: its loggers (``uvicorn``, ``uvicorn.error``, ``uvicorn.access``) through
    structlog's ``ProcessorFormatter``, so start-up, shutdown, error and access lines are JSON objects with the
    same ``level``, ``timestamp`` and redaction as the app's, on the same stdout."""
    pre_chain: list[Any] = [structlog.stdlib.add_log_level, add_timestamp, _uvicorn_fields, redact]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": pre_chain,
                "pass_foreign_args": True,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    _render_text,
                ],
            }
        },
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "loggers": {
            name: {"handlers": ["json"], "level": level.upper(), "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def say(event: str, **fields: Any) -> None:
    """One JSON line on stderr for the ``flashsale serve`` command's own messages (before any worker runs), so
    every line the command writes parses as JSON."""
    line: dict[str, Any] = {"event": event, "level": "info", **fields}
    add_timestamp(None, "", line)
    sys.stderr.write(_encoder.encode(redact(None, "", line)).decode() + "\n")
    sys.stderr.flush()


def get_logger() -> Any:
    return structlog.get_logger("flashsale")
