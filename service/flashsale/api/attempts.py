"""What every buyer route that records attempts shares: the purchase, the unsafe demo purchase and the hold steps
(hold, confirm, release), and the admin's cancellation.

- ``run_attempt``: the one engine call of an attempt, timed (the span's Redis time), recorded once (span, metrics,
  log line, with one outcome name) and answered; a Redis that does not answer is a 503 naming the route's own path;
- ``decided``: an attempt decided without a Redis call (no buyer, rate limited, admission token refused), recorded
  the same way; ``attempt_buyer``, ``over_rate`` and ``admission_refused`` are its three cases;
- ``count_refused``: the ``after_exception`` hook that records a request refused before its handler ran (bad
  path, header or body, body too large) as an attempt with outcome ``invalid`` or ``rate_limited``;
- the purchase body (``decode_purchase``, shared by the hold: the same body), the answer headers, ``lines_view``,
  ``line_refused``, ``order_location`` and the OpenAPI response sets.

A route records its attempts as an ``AttemptKind``, (operation, kind): ("purchase", "safe" | "unsafe") or
("hold", the checkout step). A buyer route declares it in its ``opt`` under ``ATTEMPT_ROUTE`` (api/errors.py), so
a refusal before its handler is still counted, and logged once. Expected outcomes are answered with a problem
response built directly, never raised: the sold-out phase is the hottest path of a drop.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

import msgspec
from litestar import Request, Response
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, RequestBody, Schema

from flashsale.api import problems as p
from flashsale.api.auth import buyer_of, refusal
from flashsale.api.errors import attempt_of, is_disconnect
from flashsale.api.limits import BuyerRateLimiter
from flashsale.api.schemas import MAX_LINE_QUANTITY, MAX_QUANTITY, Line, PurchaseRequest, Sku
from flashsale.identity import Buyer
from flashsale.inventory import Outcome, Path, Step, Unavailable
from flashsale.inventory.skus import DEFAULT_SKU, MAX_LINES, SKU_PATTERN, decode_lines
from flashsale.queue.tokens import AdmissionError, Signer
from flashsale.telemetry import HOLD, PURCHASE, Recorder

AttemptKind = tuple[str, str]
"""(operation, kind): the telemetry operation (``purchase``, ``hold``) and its kind (the purchase path or the
checkout step), as the metrics label and the log line name them."""
SAFE: AttemptKind = (PURCHASE, Path.SAFE.value)
UNSAFE: AttemptKind = (PURCHASE, Path.UNSAFE.value)
STEPS: dict[Step, AttemptKind] = {step: (HOLD, step.value) for step in Step}

NO_STORE = CacheControlHeader(no_store=True)
REPLAYED_HEADERS = {"Idempotent-Replayed": "true"}
ADMISSION_HEADER = "admission-token"
"""The request header a purchase or hold on a sale with a waiting room carries its admission token in."""

UNITS_MOVED = frozenset({Outcome.SOLD, Outcome.HELD, Outcome.CONFIRMED, Outcome.CANCELLED})
"""Outcomes whose ``quantity`` units changed hands: the attempt's ``units``."""


class EngineResult(Protocol):
    """What every engine answer of an attempt carries (PurchaseResult, HoldResult, CancelResult)."""

    @property
    def outcome(self) -> Outcome: ...

    @property
    def quantity(self) -> int: ...


R = TypeVar("R", bound=EngineResult)


# -- recording and answering an attempt -------------------------------------------------------------------------


async def run_attempt(
    recorder: Recorder,
    kind: AttemptKind,
    sale_id: str,
    quantity: int,
    call: Callable[[], Awaitable[R]],
    answer: Callable[[R], Response[Any]],
    instance: str,
    scope: Any,
    **log_fields: Any,
) -> Response[Any]:
    """The engine call, timed (the span's Redis script time), then the attempt recorded once and answered."""
    attempt = recorder.begin(kind[0], sale_id, kind[1], quantity, scope, **log_fields)
    started = time.perf_counter()
    try:
        result = await call()
    except Unavailable as exc:
        attempt.redis_s = time.perf_counter() - started
        recorder.redis_error(exc.kind)
        recorder.record(attempt, Outcome.UNAVAILABLE, error=exc.kind)
        return p.problem_response(
            p.UNAVAILABLE, f"{p.UNAVAILABLE_DETAIL} ({exc.kind})", instance, headers=p.unavailable_headers()
        )
    attempt.redis_s = time.perf_counter() - started
    outcome = result.outcome
    recorder.record(attempt, outcome, result.quantity if outcome in UNITS_MOVED else 0)
    return answer(result)


def decided(
    recorder: Recorder, kind: AttemptKind, sale_id: str, outcome: Outcome, scope: Any, quantity: int = 0, **fields: Any
) -> None:
    """Record an attempt decided without a Redis call (refused before or by the handler)."""
    recorder.record(recorder.begin(kind[0], sale_id, kind[1], quantity, scope, **fields), outcome)


async def attempt_buyer(
    request: Request[Any, Any, Any], kind: AttemptKind, sale_id: str, instance: str
) -> Buyer | Response[Any]:
    """The attempt's verified buyer, or its refusal recorded as the attempt and answered (api/auth.py)."""
    buyer = await buyer_of(request)
    if isinstance(buyer, Buyer):
        return buyer
    decided(request.app.state.recorder, kind, sale_id, buyer[0], request.scope)
    return refusal(buyer[0], buyer[1], instance)


def over_rate(
    request: Request[Any, Any, Any], kind: AttemptKind, sale_id: str, buyer_id: str, instance: str
) -> Response[Any] | None:
    """None while the buyer is within the per-buyer rate (``app.state.buyer_limiter``, None when that limit is
    off); else the refusal, recorded as a ``rate_limited`` attempt, and its 429."""
    limiter: BuyerRateLimiter | None = request.app.state.buyer_limiter
    if limiter is None or limiter.allow(buyer_id):
        return None
    decided(request.app.state.recorder, kind, sale_id, Outcome.RATE_LIMITED, request.scope, buyer_id=buyer_id)
    what = "purchase requests" if kind[0] == PURCHASE else "requests"
    return p.rate_limited_response(limiter, f"too many {what} for this buyer; retry after Retry-After", instance)


def check_admission_token(request: Request[Any, Any, Any], sale_id: str, buyer_id: str) -> tuple[str, Outcome | None]:
    """The request's admission token as the purchase or hold step spends it (``<room>:<place>[:w]``), checked
    without Redis: ("", None) when none came (the Lua step refuses it if the sale has a waiting room), ("", reason)
    when it is refused here. Its room is checked by the Lua step (lua/admitlib.lua)."""
    token = request.headers.get(ADMISSION_HEADER)
    if token is None:
        return "", None
    signer: Signer = request.app.state.signer
    try:
        claims = signer.verify(token, sale_id, buyer_id, int(time.time() * 1000))
    except AdmissionError as exc:
        return "", Outcome(exc.reason)
    return claims.spent_as, None


def admission_refused(
    request: Request[Any, Any, Any],
    kind: AttemptKind,
    sale_id: str,
    quantity: int,
    outcome: Outcome,
    instance: str,
    **fields: Any,
) -> Response[Any]:
    """An admission token refused before Redis (``check_admission_token``): the attempt recorded with that
    outcome, and its problem answered."""
    decided(request.app.state.recorder, kind, sale_id, outcome, request.scope, quantity, **fields)
    return p.problem_response(p.BY_OUTCOME[outcome], outcome.value, instance)


async def count_refused(exc: Exception, scope: Any) -> None:
    """``after_exception`` hook: a request to an attempt route refused before its handler ran (bad path, header
    or body, body too large, rate limited per address) is still an attempt, counted with outcome ``invalid`` or
    ``rate_limited``."""
    kind = attempt_of(scope)
    if kind is None or not isinstance(exc, HTTPException):
        return
    outcome = Outcome.RATE_LIMITED if exc.status_code == 429 else Outcome.INVALID
    # A client that hung up (or was cut off by the body deadline, server.py) before its body came is not a
    # server error: logged with nginx's 499 "client closed request", not the 500 Litestar raised for it.
    status = 499 if is_disconnect(exc) else exc.status_code
    decided(scope["litestar_app"].state.recorder, kind, "", outcome, scope, status=status)


# -- the purchase body (also the hold's) --------------------------------------------------------------------------


_WireQuantity = Annotated[float, msgspec.Meta(ge=1, le=MAX_QUANTITY)]


class _LineWire(msgspec.Struct, forbid_unknown_fields=True):
    sku: Sku
    quantity: Annotated[float, msgspec.Meta(ge=1, le=MAX_LINE_QUANTITY)]


class _PurchaseWire(msgspec.Struct, forbid_unknown_fields=True):
    """The body as JSON Schema defines it: an integer may be written 2 or 2.0 (but never "2" or true).

    Litestar converts bodies with msgspec in lax mode, which turns ``"quantity": "1"`` into 1. A purchase must
    refuse a wrong type outright, so the purchase and hold routes decode the raw body themselves with one strict
    decoder made at import (also the cheapest way to decode it). Because the handlers then take no ``data``
    parameter, the request body is added to the OpenAPI operation by ``PurchaseOperation``, from the same rules.

    ``quantity`` (a one-stock sale) or ``lines`` (a sale of SKUs), never both; ``quantity`` alone defaults to 1.
    """

    quantity: _WireQuantity | msgspec.UnsetType = msgspec.UNSET
    lines: Annotated[list[_LineWire], msgspec.Meta(min_length=1, max_length=MAX_LINES)] | msgspec.UnsetType = (
        msgspec.UNSET
    )


_decoder = msgspec.json.Decoder(_PurchaseWire)


def decode_purchase(raw: bytes, what: str = "purchase") -> PurchaseRequest:
    """The strict body decoder of a purchase and of a hold (same body; ``what`` names it in the 400's detail).
    The buyer is never in the body: it is the verified token's (api/auth.py)."""
    try:
        wire = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise p.Problem(p.INVALID_REQUEST, f"invalid {what} body: {exc}") from None
    quantity, lines = _units(wire, what)
    return PurchaseRequest(quantity, lines)


def _invalid(what: str, why: str) -> p.Problem:
    return p.Problem(p.INVALID_REQUEST, f"invalid {what} body: {why}")


def _units(wire: _PurchaseWire, what: str) -> tuple[int, tuple[tuple[str, int], ...]]:
    """What the body asks for: (units, lines). Lines have distinct SKUs (JSON Schema cannot say so: a repeated
    SKU is the one schema-valid body refused here) and MAX_LINE_QUANTITY units each, so at most MAX_QUANTITY in
    all; a single line of ``default`` is the one-stock request it names (a sale created with ``stock``)."""
    if isinstance(wire.lines, msgspec.UnsetType):
        quantity = 1.0 if isinstance(wire.quantity, msgspec.UnsetType) else wire.quantity
        if not quantity.is_integer():
            raise _invalid(what, "quantity must be a whole number - at `$.quantity`")
        return int(quantity), ()
    if not isinstance(wire.quantity, msgspec.UnsetType):
        raise _invalid(what, "send `quantity` (a one-stock sale) or `lines` (a sale of SKUs), not both")
    seen: set[str] = set()
    lines = []
    for i, line in enumerate(wire.lines):
        if not line.quantity.is_integer():
            raise _invalid(what, f"quantity must be a whole number - at `$.lines[{i}].quantity`")
        if line.sku in seen:
            raise _invalid(what, f"SKU {line.sku!r} is in two lines; one line per SKU - at `$.lines[{i}].sku`")
        seen.add(line.sku)
        lines.append((line.sku, int(line.quantity)))
    total = sum(q for _, q in lines)
    if len(lines) == 1 and lines[0][0] == DEFAULT_SKU:
        return total, ()
    return total, tuple(lines)


PURCHASE_REQUEST_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="PurchaseRequest",
    additional_properties=False,
    description=(
        "`quantity` units of a one-stock sale, or `lines` of a sale of SKUs (not both): every line is bought "
        "or none is. A one-stock sale's one SKU is `default`."
    ),
    schema_not=Schema(required=["quantity", "lines"]),
    properties={
        "quantity": Schema(
            type=OpenAPIType.INTEGER, minimum=1, maximum=MAX_QUANTITY, default=1, description="Units to buy"
        ),
        "lines": Schema(
            type=OpenAPIType.ARRAY,
            min_items=1,
            max_items=MAX_LINES,
            description=(
                f"Units of each SKU: 1 to {MAX_LINES} lines, each of a distinct SKU (a repeated SKU is a 400), "
                f"at most {MAX_LINE_QUANTITY} units a line"
            ),
            items=Schema(
                type=OpenAPIType.OBJECT,
                title="Line",
                required=["sku", "quantity"],
                additional_properties=False,
                properties={
                    "sku": Schema(type=OpenAPIType.STRING, pattern=SKU_PATTERN, min_length=1, max_length=32),
                    "quantity": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=MAX_LINE_QUANTITY),
                },
            ),
        ),
    },
)


@dataclass
class PurchaseOperation(p.DocumentedOperation):
    """The purchase (and hold) body is decoded by hand, so its schema is added to the operation here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            content={"application/json": OpenAPIMediaType(schema=PURCHASE_REQUEST_SCHEMA)},
        )
        super().__post_init__()


UNSAFE_REQUEST_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="UnsafePurchaseRequest",
    additional_properties=False,
    description="`quantity` units of a one-stock sale: the unsafe demo route has no lines.",
    properties={"quantity": PURCHASE_REQUEST_SCHEMA.properties["quantity"]},  # type: ignore[index]
)


@dataclass
class UnsafePurchaseOperation(p.DocumentedOperation):
    """The demo route's body: the purchase body without ``lines``, so the contract promises only what it sells."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            content={"application/json": OpenAPIMediaType(schema=UNSAFE_REQUEST_SCHEMA)},
        )
        super().__post_init__()


# -- answers ----------------------------------------------------------------------------------------------------


def lines_view(text: str) -> list[Line] | None:
    """An answer's ``lines`` member: None (left out) for a one-stock order, hold or cancellation."""
    return [Line(sku, quantity) for sku, quantity in decode_lines(text)] or None


def line_refused(problem: p.ProblemType, result: Any, instance: str, verb: str, held: bool = False) -> Response[Any]:
    """A refusal that names the first line (and, for sold out, the quota) that failed and what remains of it:
    extension members ``line`` (0-based index into ``lines``), ``sku``, ``quota`` and ``remaining`` (with
    ``held`` for a hold) or ``bought`` / ``limit``. ``result``: a PurchaseResult or a HoldResult; ``verb``: how
    the limit counts ("bought", "holds or has bought")."""
    where = f"line {result.line} ({result.sku})"
    outcome = result.outcome
    if outcome is Outcome.UNKNOWN_SKU:
        detail = f"{where}: the sale has no SKU {result.sku!r}"
        if result.sku == DEFAULT_SKU:
            detail = "this sale has SKUs: send `lines` naming them (GET the sale lists its items)"
        return p.problem_response(problem, detail, instance, line=result.line, sku=result.sku)
    if outcome is Outcome.LIMIT_REACHED:
        detail = f"{where}: this buyer has {verb} {result.bought} of at most {result.limit} of this SKU"
        extra = {"bought": result.bought, "limit": result.limit}
        return p.problem_response(problem, detail, instance, line=result.line, sku=result.sku, **extra)
    if result.quota:
        detail = f"{where}: quota {result.quota!r} has {result.remaining} left"
        extra = {"quota": result.quota, "remaining": result.remaining}
    else:
        detail = f"{where}: {result.remaining} left"
        extra = {"remaining": result.remaining}
    if held:
        extra["held"] = result.held
    return p.problem_response(problem, detail, instance, line=result.line, sku=result.sku, **extra)


def order_location(sale_id: str, order_id: str) -> str:
    """The order's URL, sent as ``Location`` by every 201 that made (or replays) an order."""
    return f"/sales/{sale_id}/orders/{order_id}"


# -- OpenAPI ----------------------------------------------------------------------------------------------------

REPLAYED_HEADER_DOC = p.replayed_header("`true` when this response replays the result of an earlier identical request.")
ORDER_LOCATION = p.location_header("order", "/sales/{sale_id}/orders/{order_id}")


def attempt_responses() -> dict[int, Any]:
    """The refusals a purchase or a hold can meet: both take the same body, key and limits, so the same list."""
    return p.responses(
        p.DOC_BAD_REQUEST,
        *p.DOC_BUYER_AUTH,
        (404, p.describe(p.UNKNOWN_SALE, p.UNKNOWN_SKU)),
        (
            403,
            p.describe(
                p.BUYER_NOT_ELIGIBLE,
                p.ADMISSION_REQUIRED,
                p.ADMISSION_INVALID,
                p.ADMISSION_EXPIRED,
                p.ADMISSION_NOT_YET_VALID,
            ),
        ),
        (
            409,
            p.describe(
                p.SOLD_OUT,
                p.LIMIT_REACHED,
                p.SALE_NOT_OPEN,
                p.SALE_CLOSED,
                p.ADMISSION_USED,
                p.ADMISSION_UNITS_EXCEEDED,
            ),
        ),
        p.DOC_TOO_LARGE,
        (422, p.describe(p.IDEMPOTENCY_KEY_REUSED)),
        p.DOC_RATE_LIMITED,
        (503, p.DOC_UNAVAILABLE[1] + f" Also `{p.IDENTITY_UNAVAILABLE.uri}`: {p.IDENTITY_UNAVAILABLE.title}."),
    )
