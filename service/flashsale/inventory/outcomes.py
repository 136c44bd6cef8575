"""What can happen to one purchase attempt: one name used by the engine, the API, metrics, logs and docs."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """The outcome of a purchase attempt. The Lua script returns these very strings."""

    SOLD = "sold"
    REPLAYED = "replayed"
    SOLD_OUT = "sold_out"
    LIMIT_REACHED = "limit_reached"
    NOT_OPEN = "not_open"
    CLOSED = "closed"
    UNKNOWN_SALE = "unknown_sale"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    INVALID = "invalid"
    UNAVAILABLE = "unavailable"
    RATE_LIMITED = "rate_limited"


class Path(StrEnum):
    """Which purchase implementation served the attempt."""

    SAFE = "safe"
    UNSAFE = "unsafe"
