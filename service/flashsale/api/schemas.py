"""The wire shapes more than one route family reads, as msgspec Structs and annotated types: a sale id, a line,
an order, an instant, the new sale's body (the admin's create route and ``flashsale create-sale`` check a sale
against the same ``CreateSale``), and the path and header parameters. Validated by Litestar and documented in
OpenAPI from these definitions; a body only one family sends or answers sits in that family's module.

Shared shapes live below the controllers so that no controller imports another (pyproject's ``api-layers``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from litestar.params import HeaderParameter, Parameter

from flashsale.identity.claims import GROUP_PATTERN
from flashsale.inventory import HOLD_ID_PATTERN, ORDER_ID_PATTERN, SALE_ID_PATTERN
from flashsale.inventory.skus import MAX_LINES, MAX_QUOTAS, MAX_SKUS, SKU_PATTERN
from flashsale.timefmt import format_ms

MAX_QUANTITY = 1000
MAX_LINE_QUANTITY = MAX_QUANTITY // MAX_LINES
"""Units per line (100): with at most MAX_LINES lines a request never asks for more than MAX_QUANTITY, a bound
the published schema can state (JSON Schema cannot bound a sum)."""
BUYER_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,64}$"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:+/=~-]{8,255}$"

SaleId = Annotated[
    str,
    msgspec.Meta(
        pattern=SALE_ID_PATTERN, min_length=1, max_length=64, description="URL-safe slug: a-z, 0-9 and inner dashes"
    ),
]
BuyerId = Annotated[
    str,
    msgspec.Meta(
        pattern=BUYER_ID_PATTERN,
        min_length=1,
        max_length=64,
        description="Opaque buyer id: letters, digits and . _ : @ -",
    ),
]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY, description="Units to buy")]
Units = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
SaleStatus = Literal["scheduled", "open", "sold_out", "closed"]
Sku = Annotated[
    str,
    msgspec.Meta(
        pattern=SKU_PATTERN,
        min_length=1,
        max_length=32,
        description="A SKU of the sale (a size, a colour, a ticket tier): letters, digits and . _ -",
    ),
]
QuotaName = Annotated[str, msgspec.Meta(pattern=SKU_PATTERN, min_length=1, max_length=32, description="A quota's name")]


class Line(msgspec.Struct, forbid_unknown_fields=True):
    """One line of a purchase, a hold or an order: units of one SKU."""

    sku: Sku
    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_LINE_QUANTITY, description="Units of this SKU")]


class PurchaseRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A purchase or hold as decoded: ``lines`` empty for a one-stock sale (``quantity`` units of it), else
    ``quantity`` is the sum of the lines' (api/attempts.py ``decode_purchase``)."""

    quantity: Quantity = 1
    lines: tuple[tuple[str, int], ...] = ()


Timestamp = Annotated[
    str,
    msgspec.Meta(
        description="RFC 3339 date-time in UTC with milliseconds and Z, e.g. 2026-12-07T03:44:28.069Z",
        extra_json_schema={"extra": {"format": "date-time"}},
    ),
]
"""An instant in an answer: always written by ``flashsale.timefmt`` (one format everywhere)."""


class Order(msgspec.Struct, omit_defaults=True):
    """An order; ``lines`` on a sale with SKUs (absent for a one-stock sale, whose ``quantity`` says it all)."""

    order_id: str
    sale_id: str
    buyer_id: str
    quantity: int
    created_at: Timestamp
    lines: list[Line] | None = None


Instant = Annotated[
    datetime, msgspec.Meta(tz=True, description="RFC 3339 date-time with an offset, years 1-9999 in UTC")
]
MIN_MS = int(datetime(1, 1, 1, tzinfo=UTC).timestamp() * 1000)
MAX_MS = int(datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp() * 1000)


class QueueSettings(msgspec.Struct):
    """A sale's waiting room (docs/queue.md). ``off``: no waiting room, purchases need no admission token."""

    mode: Literal["off", "fifo", "random_at_open"] = "off"
    admit_rate: Annotated[float, msgspec.Meta(gt=0, le=100_000, description="Admissions per second at most")] = 50.0
    max_active: Annotated[
        int, msgspec.Meta(ge=1, le=1_000_000, description="Admitted buyers not yet done (bought or expired)")
    ] = 500
    token_ttl_s: Annotated[int, msgspec.Meta(ge=5, le=3600, description="How long an admission lasts")] = 120
    units_per_admission: (
        Annotated[
            int,
            msgspec.Meta(
                ge=1,
                le=MAX_QUANTITY,
                description="Units one admission may buy or hold, at most. Unset: the sale's per_buyer_limit, "
                "which must then be at least 1",
            ),
        ]
        | None
    ) = None
    max_places: (
        Annotated[
            int,
            msgspec.Meta(
                ge=1,
                le=10_000_000,
                description="Places the room gives at most (409 queue-full past it). Unset: 10 per admission the "
                "stock can serve, at least 1,000, at most 1,000,000",
            ),
        ]
        | None
    ) = None


class Eligibility(msgspec.Struct, omit_defaults=True):
    """What a buyer's verified token must show to buy, hold or join (403 ``buyer-not-eligible`` names the rule
    that failed). Members-only: ``group``; a presale window: rules with ``until`` set to the public opening."""

    email_verified: bool = False
    """The token's ``email_verified`` claim must be true."""
    phone_number_verified: bool = False
    """The token's ``phone_number_verified`` claim must be true."""
    group: Annotated[str, msgspec.Meta(pattern=GROUP_PATTERN, description="A group the buyer must be in")] | None = None
    """Read from the claim FLASHSALE_OIDC_GROUPS_CLAIM (default ``groups``)."""
    account_created_before: Instant | None = None
    """The account's creation instant (claim FLASHSALE_OIDC_CREATED_CLAIM) must be earlier than this."""
    until: Instant | None = None
    """The rules apply only before this instant; afterwards every signed-in buyer may buy."""


PerBuyerLimit = Annotated[int, msgspec.Meta(ge=0, le=MAX_QUANTITY * 1000)]


class ItemSpec(msgspec.Struct):
    """One SKU of a new sale."""

    sku: Sku
    stock: Units
    per_buyer_limit: Annotated[
        int,
        msgspec.Meta(
            ge=0, le=MAX_QUANTITY * 1000, description="Units of this SKU one buyer may hold plus buy; 0: no own limit"
        ),
    ] = 0


class QuotaSpec(msgspec.Struct):
    """A cap over a set of the sale's SKUs (all sizes together, a VIP tier across two ticket types)."""

    name: QuotaName
    cap: Units
    skus: Annotated[list[Sku], msgspec.Meta(min_length=1, max_length=MAX_SKUS)]


OptionalUnits = Annotated[int, msgspec.Meta(gt=-1, le=1_000_000_000)]
"""``Units`` for an optional member: Litestar 2 leaves a 0 lower bound (``ge=0``) of an optional integer out of
the published schema, an exclusive -1 it keeps (for integers the same bound)."""


class CreateSale(msgspec.Struct):
    """A one-stock sale (``stock``) or a sale of SKUs (``items``, optional ``quotas``): exactly one of the two.
    With items, ``per_buyer_limit`` counts a buyer's units across every SKU; the SKUs and quota names are
    distinct, every SKU a quota names is an item, and no item is called ``default`` (the one SKU of a one-stock
    sale). These rules are in the description, not the schema: the ``oneOf`` that states the first one made
    openapi-python-client drop the whole operation (tests/test_openapi_contract.py)."""

    sale_id: SaleId
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    stock: OptionalUnits | None = None
    per_buyer_limit: PerBuyerLimit = 0
    opens_at: Instant | None = None
    closes_at: Instant | None = None
    hold_ttl_s: Annotated[int, msgspec.Meta(ge=1, le=86_400, description="How long a hold lasts (seconds)")] = 600
    queue: QueueSettings | None = None
    eligibility: Eligibility | None = None
    items: (
        Annotated[
            list[ItemSpec],
            msgspec.Meta(min_length=1, max_length=MAX_SKUS, description=f"The sale's SKUs, 1 to {MAX_SKUS}"),
        ]
        | None
    ) = None
    quotas: (
        Annotated[list[QuotaSpec], msgspec.Meta(max_length=MAX_QUOTAS, description=f"At most {MAX_QUOTAS}")] | None
    ) = None

    def __post_init__(self) -> None:
        if (self.stock is None) == (self.items is None):
            raise ValueError("send either `stock` (one-stock sale) or `items` (a sale of SKUs)")
        if self.quotas is not None and self.items is None:
            raise ValueError("`quotas` need `items`: a one-stock sale has no SKUs to cap")
        # "9999-12-31T23:59:59-01:00" is a valid date-time whose instant is in year 10000, which no datetime
        # (and so no answer showing it) can hold: refused here, before the sale is written.
        for name in ("opens_at", "closes_at"):
            ms = to_ms(getattr(self, name))
            if ms is not None and not MIN_MS <= ms <= MAX_MS:
                raise ValueError(f"{name} must fall within years 1-9999 in UTC")
        if self.queue is not None and self.queue.mode != "off" and self.admission_units < 1:
            # Admission lets a buyer past the room once: without a bound, one admitted buyer could take every unit
            # while the rest of the line waits for nothing.
            raise ValueError("a sale with a waiting room needs per_buyer_limit >= 1 or queue.units_per_admission")

    @property
    def admission_units(self) -> int:
        """Units one admission may buy or hold: the queue's explicit figure, else the per-buyer limit."""
        if self.queue is not None and self.queue.units_per_admission is not None:
            return self.queue.units_per_admission
        return self.per_buyer_limit


_json_decoder = msgspec.json.Decoder()
T = TypeVar("T")


def _whole_floats(value: Any) -> Any:
    """``5.0`` as 5 in an object and the objects and arrays inside it (a sale's ``queue`` settings, its
    ``items``), as JSON Schema reads it."""
    if isinstance(value, dict):
        return {k: _whole_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_floats(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def decode_strict(raw: bytes, kind: type[T]) -> T:
    """Decode a JSON body strictly against its Struct, as its published JSON Schema reads.

    Litestar converts bodies in msgspec's lax mode: ``"stock": "5"`` becomes 5 and ``"closes_at": 0`` the
    epoch, which the schema (integer, date-time string) refuses (schemathesis ST201). Strict mode refuses both.
    What JSON Schema itself allows stays allowed: an integer may be written ``5.0``, and undeclared fields are
    ignored (the schema does not forbid them; only declared fields are read, so nothing is mass-assigned).
    """
    try:
        return msgspec.convert(_whole_floats(_json_decoder.decode(raw)), kind, strict=True)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(str(exc)) from None


def from_ms(ms: int | None) -> str | None:
    """An instant kept in milliseconds, as every answer writes it (timefmt.format_ms)."""
    return None if ms is None else format_ms(ms)


def to_ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


# -- parameters and dependencies shared by the route families -------------------------------------------------

SaleIdParam = Annotated[
    str,
    Parameter(pattern=SALE_ID_PATTERN, min_length=1, max_length=64, description="The sale's id (URL-safe slug)."),
]
HoldIdParam = Annotated[
    str, Parameter(pattern=HOLD_ID_PATTERN, min_length=32, max_length=32, description="The hold's id (32 hex digits).")
]
OrderIdParam = Annotated[
    str, Parameter(pattern=ORDER_ID_PATTERN, min_length=3, max_length=41, description="The order's id (its ledger id).")
]
IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        min_length=8,
        max_length=255,
        description=(
            "A fresh random key per purchase intent (a UUID is fine), reused on every retry of that intent. "
            "8 to 255 characters from A-Z a-z 0-9 and . _ : + / = ~ -. Remembered for "
            "FLASHSALE_IDEMPOTENCY_TTL_S (default 24 h) once it bought something."
        ),
    ),
]
