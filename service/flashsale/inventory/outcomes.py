"""What can happen to one purchase or hold attempt: one name used by the engine, the API, metrics, logs and docs."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """The outcome of a purchase or hold attempt. The Lua scripts return these very strings."""

    SOLD = "sold"
    REPLAYED = "replayed"
    SOLD_OUT = "sold_out"
    LIMIT_REACHED = "limit_reached"
    NOT_OPEN = "not_open"
    CLOSED = "closed"
    UNKNOWN_SALE = "unknown_sale"
    UNKNOWN_SKU = "unknown_sku"
    """A line names a SKU the sale does not have (or a sale with SKUs got a request without lines)."""
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    INVALID = "invalid"
    UNAVAILABLE = "unavailable"
    RATE_LIMITED = "rate_limited"
    # holds (lua/hold.lua, confirm.lua, release.lua, read_hold.lua) and order cancellation (cancel_order.lua)
    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    HOLD_EXPIRED = "hold_expired"
    HOLD_RELEASED = "hold_released"
    HOLD_CONFIRMED = "hold_confirmed"
    UNKNOWN_HOLD = "unknown_hold"
    CANCELLED = "cancelled"
    UNKNOWN_ORDER = "unknown_order"
    FOUND = "found"
    """A hold was read (GET): its state says the rest."""
    # the waiting room (lua/queue_join.lua; admission tokens, queue/tokens.py, purchase.lua and hold.lua)
    JOINED = "joined"
    QUEUE_FULL = "queue_full"
    """The waiting room gave every place it may (its ``max_places``)."""
    ROOM_CHANGED = "room_changed"
    """A join named another room than the sale's (deleted and re-created meanwhile)."""
    ADMISSION_REQUIRED = "admission_required"
    ADMISSION_INVALID = "admission_invalid"
    ADMISSION_EXPIRED = "admission_expired"
    ADMISSION_NOT_YET_VALID = "admission_not_yet_valid"
    ADMISSION_USED = "admission_used"
    ADMISSION_UNITS_EXCEEDED = "admission_units_exceeded"
    """More units than one admission admits (the queue's ``units_per_admission``)."""
    # the buyer's identity (identity/; eligibilitylib.lua)
    BUYER_UNAUTHENTICATED = "buyer_unauthenticated"
    """No bearer token, or one that does not prove a buyer (401)."""
    IDENTITY_UNAVAILABLE = "identity_unavailable"
    """The token's signing key could not be fetched from the identity provider (503)."""
    BUYER_NOT_ELIGIBLE = "buyer_not_eligible"
    """The buyer's verified claims fail one of the sale's eligibility rules (403)."""


_COMMON = (
    Outcome.REPLAYED,
    Outcome.UNKNOWN_SALE,
    Outcome.INVALID,
    Outcome.UNAVAILABLE,
    Outcome.RATE_LIMITED,
    Outcome.BUYER_UNAUTHENTICATED,
    Outcome.IDENTITY_UNAVAILABLE,
)
ADMISSION_REFUSALS = (
    Outcome.ADMISSION_REQUIRED,
    Outcome.ADMISSION_INVALID,
    Outcome.ADMISSION_EXPIRED,
    Outcome.ADMISSION_NOT_YET_VALID,
    Outcome.ADMISSION_USED,
    Outcome.ADMISSION_UNITS_EXCEEDED,
)
"""Why a purchase or hold on a sale with a waiting room was refused for its admission token."""

PURCHASE_OUTCOMES: tuple[Outcome, ...] = (
    Outcome.SOLD,
    Outcome.SOLD_OUT,
    Outcome.LIMIT_REACHED,
    Outcome.UNKNOWN_SKU,
    Outcome.NOT_OPEN,
    Outcome.CLOSED,
    Outcome.IDEMPOTENCY_CONFLICT,
    Outcome.BUYER_NOT_ELIGIBLE,
    *ADMISSION_REFUSALS,
    *_COMMON,
)
"""What a purchase attempt can end as (the label values of ``flashsale_purchase_attempts_total``)."""


class Step(StrEnum):
    """Which step of a checkout an attempt was: the ``step`` label of ``flashsale_hold_attempts_total``."""

    HOLD = "hold"
    CONFIRM = "confirm"
    RELEASE = "release"
    CANCEL = "cancel"


STEP_OUTCOMES: dict[Step, tuple[Outcome, ...]] = {
    Step.HOLD: (
        Outcome.HELD,
        Outcome.SOLD_OUT,
        Outcome.LIMIT_REACHED,
        Outcome.UNKNOWN_SKU,
        Outcome.NOT_OPEN,
        Outcome.CLOSED,
        Outcome.IDEMPOTENCY_CONFLICT,
        Outcome.BUYER_NOT_ELIGIBLE,
        *ADMISSION_REFUSALS,
        *_COMMON,
    ),
    Step.CONFIRM: (Outcome.CONFIRMED, Outcome.HOLD_EXPIRED, Outcome.HOLD_RELEASED, Outcome.UNKNOWN_HOLD, *_COMMON),
    Step.RELEASE: (
        Outcome.RELEASED,
        Outcome.HOLD_EXPIRED,
        Outcome.HOLD_RELEASED,
        Outcome.HOLD_CONFIRMED,
        Outcome.UNKNOWN_HOLD,
        *_COMMON,
    ),
    Step.CANCEL: (Outcome.CANCELLED, Outcome.UNKNOWN_ORDER, *_COMMON),
}
"""What each hold step can end as: the label values made at zero for every sale."""


class HoldState(StrEnum):
    """Where a hold is in its life; ``held`` is the only state it can leave (lua/holdlib.lua)."""

    HELD = "held"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    EXPIRED = "expired"


class QueueState(StrEnum):
    """Where a place in the waiting room stands (the ``state`` of a queue poll), and the room's own state
    (``open``, ``sold_out`` while nothing is left to sell: a waitlist, ``closed`` for everyone)."""

    WAITING = "waiting"
    WAITLISTED = "waitlisted"
    """Not admitted while the sale is sold out: the place waits for units to come back, in order."""
    ADMITTED = "admitted"
    EXPIRED = "expired"
    SOLD_OUT = "sold_out"
    CLOSED = "closed"
    OPEN = "open"


class Path(StrEnum):
    """Which purchase implementation served the attempt."""

    SAFE = "safe"
    UNSAFE = "unsafe"
