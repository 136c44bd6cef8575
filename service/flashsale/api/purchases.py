"""The purchase routes end to end: decode the body, one engine call, the answer, the attempt recorded.

Both purchase paths live here: the atomic one (``/sales/{id}/purchases``, the hot path of a drop) and the
deliberately unsafe demo one (``/demo/sales/{id}/purchases``, mounted only with FLASHSALE_DEMO=true). Expected
outcomes (sold out, limit reached...) are answered with a problem response built directly, never raised: the
sold-out phase is the hottest path of a drop.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import HTTPException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, RequestBody, Schema

from flashsale.api import problems as p
from flashsale.api.auth import buyer_of, refusal
from flashsale.api.limits import BuyerRateLimiter
from flashsale.api.queue import admission
from flashsale.api.schemas import (
    MAX_LINE_QUANTITY,
    MAX_QUANTITY,
    IdempotencyKey,
    Line,
    Order,
    PurchaseRequest,
    SaleIdParam,
    Sku,
    from_ms,
)
from flashsale.errors import is_disconnect
from flashsale.identity import Buyer
from flashsale.inventory import Inventory, Outcome, PurchaseResult, Unavailable
from flashsale.inventory.skus import DEFAULT_SKU, MAX_LINES, SKU_PATTERN, decode_lines
from flashsale.telemetry import PURCHASE, Recorder
from flashsale.telemetry.logs import key_digest
from flashsale.timefmt import format_ms

NO_STORE = CacheControlHeader(no_store=True)
REPLAYED_HEADERS = {"Idempotent-Replayed": "true"}

PURCHASE_PATH = "flashsale_purchase_path"
"""Route ``opt`` key marking the purchase handlers, so attempts refused before the handler still count."""

UNSAFE_DESCRIPTION = (
    "**UNSAFE: demo only.** Reads the stock, awaits, then writes it back (read-modify-write). Concurrent "
    "buyers all read the same stock and all succeed, so this route OVERSELLS. It ignores per-buyer limits "
    "and idempotency. It exists to show why the atomic route is needed, and is mounted only when "
    "FLASHSALE_DEMO=true."
)


# -- the body ------------------------------------------------------------------------------------------------


_WireQuantity = Annotated[float, msgspec.Meta(ge=1, le=MAX_QUANTITY)]


class _LineWire(msgspec.Struct, forbid_unknown_fields=True):
    sku: Sku
    quantity: Annotated[float, msgspec.Meta(ge=1, le=MAX_LINE_QUANTITY)]


class _PurchaseWire(msgspec.Struct, forbid_unknown_fields=True):
    """The body as JSON Schema defines it: an integer may be written 2 or 2.0 (but never "2" or true).

    Litestar converts bodies with msgspec in lax mode, which turns ``"quantity": "1"`` into 1. A purchase must
    refuse a wrong type outright, so the purchase routes decode the raw body themselves with one strict decoder
    made at import (also the cheapest way to decode it). Because the handlers then take no ``data`` parameter,
    the request body is added to the OpenAPI operation by ``PurchaseOperation``, from the same rules.

    ``quantity`` (a one-stock sale) or ``lines`` (a sale of SKUs), never both; ``quantity`` alone defaults to 1.
    """

    quantity: _WireQuantity | msgspec.UnsetType = msgspec.UNSET
    lines: Annotated[list[_LineWire], msgspec.Meta(min_length=1, max_length=MAX_LINES)] | msgspec.UnsetType = (
        msgspec.UNSET
    )


_decoder = msgspec.json.Decoder(_PurchaseWire)


def decode_purchase(raw: bytes, what: str = "purchase") -> PurchaseRequest:
    """The strict body decoder, shared by the hold route (same body; ``what`` names it in the 400's detail):
    the quantity. The buyer is never in the body: it is the verified token's (api/auth.py)."""
    try:
        wire = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise p.Problem(p.INVALID, f"invalid {what} body: {exc}") from None
    quantity, lines = _units(wire, what)
    return PurchaseRequest(quantity, lines)


def _invalid(what: str, why: str) -> p.Problem:
    return p.Problem(p.INVALID, f"invalid {what} body: {why}")


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


def lines_view(text: str) -> list[Line] | None:
    """An answer's ``lines`` member: None (left out) for a one-stock order, hold or cancellation."""
    return [Line(sku, quantity) for sku, quantity in decode_lines(text)] or None


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
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            content={"application/json": OpenAPIMediaType(schema=PURCHASE_REQUEST_SCHEMA)},
        )
        super().__post_init__()


# -- one attempt: engine call, span, metrics, log, HTTP answer -------------------------------------------------


async def run_attempt(
    recorder: Recorder,
    path: str,
    sale_id: str,
    quantity: int,
    call: Callable[[], Awaitable[PurchaseResult]],
    scope: Any,
    **log_fields: Any,
) -> Response[Any]:
    """The engine call, timed (the span's Redis script time), then the attempt recorded and answered."""
    attempt = recorder.begin(PURCHASE, sale_id, path, quantity, scope, **log_fields)
    started = time.perf_counter()
    try:
        result = await call()
    except Unavailable as exc:
        attempt.redis_s = time.perf_counter() - started
        recorder.redis_error(exc.kind)
        recorder.record(attempt, Outcome.UNAVAILABLE, error=exc.kind)
        return p.problem_response(
            p.UNAVAILABLE,
            f"{p.UNAVAILABLE_DETAIL} ({exc.kind})",
            f"/sales/{sale_id}/purchases",
            headers=p.unavailable_headers(),
        )
    attempt.redis_s = time.perf_counter() - started
    recorder.record(attempt, result.outcome, result.quantity if result.outcome is Outcome.SOLD else 0)
    return answer(sale_id, path, result)


def answer(sale_id: str, path: str, result: PurchaseResult) -> Response[Any]:
    """The HTTP answer for each engine outcome, the same for the safe and the unsafe path."""
    outcome = result.outcome
    if outcome is Outcome.SOLD or outcome is Outcome.REPLAYED:
        created_at = format_ms(result.created_ms)
        order = Order(result.order_id, sale_id, result.buyer_id, result.quantity, created_at, lines_view(result.lines))
        headers = {"Location": order_location(sale_id, result.order_id)}
        if outcome is Outcome.REPLAYED:
            headers.update(REPLAYED_HEADERS)
        return Response(order, status_code=201, headers=headers)
    problem = p.BY_OUTCOME[outcome]
    instance = f"/demo/sales/{sale_id}/purchases" if path == "unsafe" else f"/sales/{sale_id}/purchases"
    if result.line >= 0:
        return line_refused(problem, result, instance, "bought")
    if outcome is Outcome.SOLD_OUT:
        return p.problem_response(problem, f"{result.remaining} left", instance, remaining=result.remaining)
    if outcome is Outcome.LIMIT_REACHED:
        detail = f"this buyer has bought {result.bought} of at most {result.limit}"
        return p.problem_response(problem, detail, instance, bought=result.bought, limit=result.limit)
    if outcome is Outcome.ADMISSION_UNITS_EXCEEDED:
        detail = f"one admission buys at most {result.limit} unit(s)"
        return p.problem_response(problem, detail, instance, limit=result.limit)
    if outcome is Outcome.NOT_OPEN:
        opens_at = from_ms(result.opens_ms)
        return p.problem_response(problem, f"opens at {opens_at}", instance, opens_at=opens_at)
    if outcome is Outcome.IDEMPOTENCY_CONFLICT:
        return p.problem_response(problem, "this Idempotency-Key bought something else; use a new key", instance)
    if outcome is Outcome.UNKNOWN_SALE:
        return p.problem_response(problem, f"no sale {sale_id!r}", instance)
    if outcome is Outcome.BUYER_NOT_ELIGIBLE:
        return p.problem_response(problem, f"the sale requires {result.rule}", instance, rule=result.rule)
    return p.problem_response(problem, outcome.value, instance)


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


async def refused_now(outcome: Outcome) -> PurchaseResult:
    """An admission token refused before Redis (queue/tokens.py): an attempt answered without a Redis call."""
    return PurchaseResult(outcome)


def rate_limited(
    recorder: Recorder, limiter: BuyerRateLimiter, sale_id: str, buyer_id: str, scope: Any
) -> Response[Any]:
    recorder.attempt(sale_id, "safe", Outcome.RATE_LIMITED, scope=scope, buyer_id=buyer_id)
    return p.rate_limited_response(
        limiter, "too many purchase requests for this buyer; retry after Retry-After", f"/sales/{sale_id}/purchases"
    )


async def count_refused_attempt(exc: Exception, scope: Any) -> None:
    """``after_exception`` hook: a purchase refused before its handler ran (bad path, header or body, body too
    large, rate limited) is still an attempt, counted with outcome ``invalid`` or ``rate_limited``."""
    handler = scope.get("route_handler")
    path = getattr(handler, "opt", {}).get(PURCHASE_PATH) if handler is not None else None
    if path is None or not isinstance(exc, HTTPException):
        return
    recorder: Recorder = scope["litestar_app"].state.recorder
    outcome = Outcome.RATE_LIMITED if exc.status_code == 429 else Outcome.INVALID
    # A client that hung up (or was cut off by the body deadline, server.py) before its body came is not a
    # server error: logged with nginx's 499 "client closed request", not the 500 Litestar raised for it.
    status = 499 if is_disconnect(exc) else exc.status_code
    recorder.attempt("", path, outcome, scope=scope, status=status)


REPLAYED_HEADER_DOC = p.replayed_header("`true` when this response replays the result of an earlier identical request.")
ORDER_LOCATION = p.location_header("order", "/sales/{sale_id}/orders/{order_id}")


def order_location(sale_id: str, order_id: str) -> str:
    """The order's URL, sent as ``Location`` by every 201 that made (or replays) an order."""
    return f"/sales/{sale_id}/orders/{order_id}"


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
            p.describe(p.SOLD_OUT, p.LIMIT_REACHED, p.NOT_OPEN, p.CLOSED, p.ADMISSION_USED, p.ADMISSION_UNITS_EXCEEDED),
        ),
        p.DOC_TOO_LARGE,
        (422, p.describe(p.IDEMPOTENCY_CONFLICT)),
        p.DOC_RATE_LIMITED,
        (503, p.DOC_UNAVAILABLE[1] + f" Also `{p.IDENTITY_UNAVAILABLE.uri}`: {p.IDENTITY_UNAVAILABLE.title}."),
    )


# -- the routes ----------------------------------------------------------------------------------------------


class PurchaseController(Controller):
    path = "/sales/{sale_id:str}/purchases"
    tags = ["purchases"]

    @post(
        "/",
        status_code=201,
        operation_id="createPurchase",
        security=[{"buyer": []}],
        operation_class=PurchaseOperation,
        opt={PURCHASE_PATH: "safe"},
        summary="Buy units of a sale",
        description=(
            "Atomically checks that the sale is open, the buyer's limit and the stock, then records the order. "
            "On a sale of SKUs, send `lines`: one step checks every line, every quota and the buyer's limit "
            "across SKUs, then buys them all, or buys nothing and answers naming the first line (`line`, `sku`) "
            "or quota (`quota`) that failed and what remains of it. "
            "Send the same Idempotency-Key on every retry: a repeat returns the first order with "
            "`Idempotent-Replayed: true` and never buys twice."
        ),
        cache_control=NO_STORE,
        response_headers=[REPLAYED_HEADER_DOC, ORDER_LOCATION],
        responses=attempt_responses(),
    )
    async def purchase(
        self,
        sale_id: SaleIdParam,
        request: Request[Any, Any, Any],
        idempotency_key: IdempotencyKey,
    ) -> Response[Order]:
        # The engine and recorder come from app state, not from dependency injection: with two or more
        # dependencies Litestar resolves them in an anyio task group, which cost ~16 % of a purchase's CPU.
        buyer = await buyer_of(request)
        if not isinstance(buyer, Buyer):
            request.app.state.recorder.attempt(sale_id, "safe", buyer[0], scope=request.scope)
            return refusal(buyer[0], buyer[1], f"/sales/{sale_id}/purchases")
        return await purchase_as(buyer, sale_id, request, idempotency_key)


async def purchase_as(
    buyer: Buyer, sale_id: str, request: Request[Any, Any, Any], idempotency_key: str
) -> Response[Order]:
    """The purchase once the buyer is known: shared with the benchmark's unverified twin (api/ops.py)."""
    inventory: Inventory = request.app.state.inventory
    recorder: Recorder = request.app.state.recorder
    data = decode_purchase(await request.body())
    limiter = recorder.buyer_limiter
    if limiter is not None and not limiter.allow(buyer.id):
        return rate_limited(recorder, limiter, sale_id, buyer.id, request.scope)
    jti, refused = admission(request, sale_id, buyer.id)
    return await run_attempt(
        recorder,
        "safe",
        sale_id,
        data.quantity,
        (lambda: refused_now(refused))
        if refused is not None
        else lambda: inventory.purchase(
            sale_id, buyer.id, data.quantity, idempotency_key, jti, buyer.facts, buyer.tag, data.lines
        ),
        request.scope,
        buyer_id=buyer.id,
        key_digest=key_digest(idempotency_key),
    )


class DemoController(Controller):
    """The deliberately unsafe purchase route. Mounted only when FLASHSALE_DEMO=true."""

    path = "/demo/sales/{sale_id:str}/purchases"
    tags = ["demo (unsafe)"]

    @post(
        "/",
        status_code=201,
        operation_class=PurchaseOperation,
        operation_id="createUnsafePurchase",
        security=[{"buyer": []}],
        opt={PURCHASE_PATH: "unsafe"},
        summary="UNSAFE read-modify-write purchase (oversells; demo mode only)",
        description=UNSAFE_DESCRIPTION,
        response_headers=[ORDER_LOCATION],
        responses=p.responses(
            p.DOC_BAD_REQUEST,
            *p.DOC_BUYER_AUTH,
            (404, p.describe(p.UNKNOWN_SALE)),
            (409, p.describe(p.SOLD_OUT)),
            p.DOC_TOO_LARGE,
            p.DOC_UNAVAILABLE,
        ),
    )
    async def purchase_unsafe(self, sale_id: SaleIdParam, request: Request[Any, Any, Any]) -> Response[Order]:
        inventory: Inventory = request.app.state.inventory
        recorder: Recorder = request.app.state.recorder
        buyer = await buyer_of(request)
        if not isinstance(buyer, Buyer):
            recorder.attempt(sale_id, "unsafe", buyer[0], scope=request.scope)
            return refusal(buyer[0], buyer[1], f"/demo/sales/{sale_id}/purchases")
        data = decode_purchase(await request.body())
        if data.lines:
            raise p.Problem(p.INVALID, "invalid purchase body: the unsafe demo route sells one-stock sales only")
        return await run_attempt(
            recorder,
            "unsafe",
            sale_id,
            data.quantity,
            lambda: inventory.purchase_unsafe(sale_id, buyer.id, data.quantity),
            request.scope,
            buyer_id=buyer.id,
        )
