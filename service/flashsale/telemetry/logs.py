"""Structured JSON logs: one line per purchase attempt, never a secret in clear.

structlog is configured through Litestar's StructlogPlugin with its request-logging middleware off: the
attempt line already says what happened, and a second line per request would double the cost of logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import msgspec
import structlog
from litestar.logging.config import StructLoggingConfig
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin

from flashsale.errors import log_exception

SECRET_FIELDS = frozenset({"authorization", "token", "admin_token", "idempotency_key", "password", "redis_url"})

_encoder = msgspec.json.Encoder()


def key_digest(idempotency_key: str) -> str:
    """A short, stable digest that lets operators correlate retries without logging the key itself."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]


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
    of a purchase (``make bench``, 2026-12-01: telemetry on/off 0.78 without traces). This writer builds the
    same JSON object (same keys, ``level`` and a UTC ISO ``timestamp``, secrets redacted) with one msgspec
    encode, the timestamp's date and time formatted once per second: 5.2-8.4 µs per line against 27.7-29.2 µs
    through the structlog chain, same process (load/README.md, "Telemetry").
    Every attempt keeps its own line: the log is the per-attempt record an operator greps for one buyer, so
    repeated outcomes are not sampled (docs/decisions.md, issue 10).
    """

    def __init__(self, level: str | None = None, stream: Any = None) -> None:
        self._write = (stream or sys.stdout.buffer).write
        self._level = level
        self._enabled: bool | None = None if level is None else _numeric(level) <= logging.INFO
        self._second = -1
        self._prefix = ""

    @property
    def enabled(self) -> bool:
        """Whether INFO lines are written; without an explicit level, structlog's configured one decides."""
        if self._enabled is None:
            self._enabled = bool(structlog.get_logger("flashsale").is_enabled_for(logging.INFO))
        return self._enabled

    def write(self, line: dict[str, Any]) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        line["level"] = "info"
        line["timestamp"] = f"{self._prefix}.{int((now - second) * 1e6):06d}Z"
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


def structlog_plugin(level: str) -> StructlogPlugin:
    numeric = _numeric(level)
    config = StructLoggingConfig(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
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


def get_logger() -> Any:
    return structlog.get_logger("flashsale")
