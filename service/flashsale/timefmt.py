"""The one way this service writes an instant: RFC 3339, UTC, millisecond precision, ``Z``
(``2026-12-07T03:44:28.069Z``), in API answers, problem bodies, logs and CLI output alike.

Why one function: answers used msgspec's encoding (``...28.069000Z``) and problem bodies ``isoformat()``
(``...28.069000+00:00``); clients and log queries had to parse both. Milliseconds because every instant the
engine keeps is in milliseconds (Redis ``TIME`` rounded by the scripts, ``created_ms``); a finer fraction
would be noise. The date and time of the current second are cached: the attempt log writes a line per
purchase, and formatting the calendar part once per second keeps that line cheap.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_last: tuple[int, str] = (-(1 << 62), "")


def _calendar(second: int) -> str:
    day = _EPOCH + timedelta(seconds=second)
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}T{day.hour:02d}:{day.minute:02d}:{day.second:02d}"


def format_ms(epoch_ms: int) -> str:
    """The instant ``epoch_ms`` (milliseconds since the Unix epoch) as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    global _last
    second, ms = divmod(int(epoch_ms), 1000)
    cached_second, prefix = _last
    if second != cached_second:
        prefix = _calendar(second)
        _last = (second, prefix)
    return f"{prefix}.{ms:03d}Z"


def format_instant(value: datetime) -> str:
    """A datetime (naive ones are taken as UTC), truncated to the millisecond."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return format_ms((delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000)


def now() -> str:
    """The current instant (the log lines' ``timestamp``)."""
    return format_ms(time.time_ns() // 1_000_000)
