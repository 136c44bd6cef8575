"""The hold routes: a buyer holds units, pays, then confirms (an order) or releases them.

    POST   /sales/{sale_id}/holds                      hold (Idempotency-Key)        -> 201 Hold
    POST   /sales/{sale_id}/holds/{hold_id}/confirm    confirm (empty or payment_ref) -> 201 Order
    DELETE /sales/{sale_id}/holds/{hold_id}            release                        -> 204
    GET    /sales/{sale_id}/holds/{hold_id}            read                           -> 200 HoldView

Each step is one engine call (one Lua script, one round trip), run and recorded like a purchase attempt by
``attempts.run_attempt``: operation ``hold`` with the step as its kind, so the same outcome name is in the metric
(``flashsale_hold_attempts_total{sale,step,outcome}``), the span and the log line.

One file past 400 lines: the four routes are one checkout (hold, then confirm or release), and their bodies, the
problem each refusal maps to and the documented confirm body are read together with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, RequestBody, Schema

from flashsale.api import problems as p
from flashsale.api.attempts import (
    NO_STORE,
    ORDER_LOCATION,
    REPLAYED_HEADER_DOC,
    REPLAYED_HEADERS,
    STEPS,
    PurchaseOperation,
    admission_refused,
    attempt_buyer,
    attempt_responses,
    check_admission_token,
    decode_purchase,
    line_refused,
    lines_view,
    order_location,
    over_rate,
    run_attempt,
)
from flashsale.api.auth import buyer_of, refusal
from flashsale.api.errors import ATTEMPT_ROUTE
from flashsale.api.schemas import HoldIdParam, IdempotencyKey, Line, Order, SaleIdParam, Timestamp, from_ms
from flashsale.digest import key_digest
from flashsale.identity import Buyer
from flashsale.inventory import HoldResult, Inventory, Outcome, Step
from flashsale.timefmt import format_ms

HOLD, CONFIRM, RELEASE = STEPS[Step.HOLD], STEPS[Step.CONFIRM], STEPS[Step.RELEASE]

PAYMENT_REF_PATTERN = r"^[A-Za-z0-9._:@/+=~-]{1,128}$"


class Hold(msgspec.Struct, omit_defaults=True):
    """A hold as made (201) or replayed: the units are the buyer's until ``expires_at``, never later."""

    hold_id: str
    sale_id: str
    buyer_id: str
    quantity: int
    expires_at: Timestamp
    lines: list[Line] | None = None


HoldStateName = Literal["held", "confirmed", "released", "expired"]


class HoldView(msgspec.Struct):
    """A hold read back: ``state`` judged by the Redis server's clock; ``order_id`` once confirmed; ``lines`` on
    a sale with SKUs."""

    hold_id: str
    sale_id: str
    buyer_id: str
    quantity: int
    state: HoldStateName
    expires_at: Timestamp
    order_id: str | None = None
    lines: list[Line] | msgspec.UnsetType = msgspec.UNSET


PaymentRef = Annotated[
    str,
    msgspec.Meta(
        pattern=PAYMENT_REF_PATTERN,
        min_length=1,
        max_length=128,
        description="The payment's reference, copied into the ledger entry",
    ),
]


class ConfirmRequest(msgspec.Struct, forbid_unknown_fields=True):
    payment_ref: PaymentRef | msgspec.UnsetType = msgspec.UNSET
    """Absent or a string: ``null`` is refused, as the published schema (a string) says (schemathesis ST201)."""


_confirm_decoder = msgspec.json.Decoder(ConfirmRequest)


def decode_confirm(raw: bytes) -> str:
    """The confirm body: empty, or ``{"payment_ref": "..."}`` (strict: unknown fields are refused)."""
    if not raw.strip():
        return ""
    try:
        return _confirm_decoder.decode(raw).payment_ref or ""
    except msgspec.DecodeError as exc:
        raise p.Problem(p.INVALID_REQUEST, f"invalid confirm body: {exc}") from None


@dataclass
class ConfirmOperation(p.DocumentedOperation):
    """The confirm body is decoded by hand (it may be empty), so its schema is added to the operation here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=False,
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        title="ConfirmRequest",
                        additional_properties=False,
                        properties={
                            "payment_ref": Schema(
                                type=OpenAPIType.STRING,
                                pattern=PAYMENT_REF_PATTERN,
                                min_length=1,
                                max_length=128,
                                description="The payment's reference",
                            )
                        },
                    )
                )
            },
        )
        super().__post_init__()


# -- answers ------------------------------------------------------------------------------------------------


def _problem(result: HoldResult, sale_id: str, instance: str) -> Response[Any]:
    outcome = result.outcome
    problem = p.BY_OUTCOME[outcome]
    if result.line >= 0:
        return line_refused(problem, result, instance, "holds or has bought", held=True)
    if outcome is Outcome.SOLD_OUT:
        return p.problem_response(
            problem,
            f"{result.remaining} left, {result.held} held",
            instance,
            remaining=result.remaining,
            held=result.held,
        )
    if outcome is Outcome.LIMIT_REACHED:
        detail = f"this buyer holds or has bought {result.bought} of at most {result.limit}"
        return p.problem_response(problem, detail, instance, bought=result.bought, limit=result.limit)
    if outcome is Outcome.ADMISSION_UNITS_EXCEEDED:
        detail = f"one admission holds at most {result.limit} unit(s)"
        return p.problem_response(problem, detail, instance, limit=result.limit)
    if outcome is Outcome.NOT_OPEN:
        opens_at = from_ms(result.opens_ms)
        return p.problem_response(problem, f"opens at {opens_at}", instance, opens_at=opens_at)
    if outcome is Outcome.IDEMPOTENCY_CONFLICT:
        return p.problem_response(problem, "this Idempotency-Key made another hold; use a new key", instance)
    if outcome is Outcome.UNKNOWN_SALE:
        return p.problem_response(problem, f"no sale {sale_id!r}", instance)
    if outcome is Outcome.HOLD_EXPIRED:
        expired_at = format_ms(result.expires_ms)
        return p.problem_response(
            problem, f"the hold expired at {expired_at}; nothing was sold", instance, expires_at=expired_at
        )
    if outcome is Outcome.HOLD_CONFIRMED:
        return p.problem_response(
            problem, f"the hold became order {result.order_id}", instance, order_id=result.order_id
        )
    if outcome is Outcome.UNKNOWN_HOLD:
        return p.problem_response(problem, f"no hold {result.hold_id!r} in sale {sale_id!r}", instance)
    if outcome is Outcome.BUYER_NOT_ELIGIBLE:
        return p.problem_response(problem, f"the sale requires {result.rule}", instance, rule=result.rule)
    return p.problem_response(problem, outcome.value, instance)


HOLD_LOCATION = p.location_header("hold", "/sales/{sale_id}/holds/{hold_id}")


def hold_location(sale_id: str, hold_id: str) -> str:
    """The hold's URL (``GET`` reads it, ``DELETE`` releases it), sent as ``Location`` by the 201."""
    return f"/sales/{sale_id}/holds/{hold_id}"


def _hold_answer(sale_id: str, instance: str) -> Callable[[HoldResult], Response[Any]]:
    def answer(result: HoldResult) -> Response[Any]:
        if result.outcome is Outcome.HELD or result.outcome is Outcome.REPLAYED:
            hold = Hold(
                result.hold_id,
                sale_id,
                result.buyer_id,
                result.quantity,
                format_ms(result.expires_ms),
                lines_view(result.lines),
            )
            headers = {"Location": hold_location(sale_id, result.hold_id)}
            if result.outcome is Outcome.REPLAYED:
                headers.update(REPLAYED_HEADERS)
            return Response(hold, status_code=201, headers=headers)
        return _problem(result, sale_id, instance)

    return answer


def _confirm_answer(sale_id: str, instance: str) -> Callable[[HoldResult], Response[Any]]:
    def answer(result: HoldResult) -> Response[Any]:
        if result.outcome is Outcome.CONFIRMED or result.outcome is Outcome.REPLAYED:
            order = Order(
                result.order_id,
                sale_id,
                result.buyer_id,
                result.quantity,
                format_ms(result.created_ms),
                lines_view(result.lines),
            )
            headers = {"Location": order_location(sale_id, result.order_id)}
            if result.outcome is Outcome.REPLAYED:
                headers.update(REPLAYED_HEADERS)
            return Response(order, status_code=201, headers=headers)
        return _problem(result, sale_id, instance)

    return answer


def _release_answer(sale_id: str, instance: str) -> Callable[[HoldResult], Response[Any]]:
    def answer(result: HoldResult) -> Response[Any]:
        if result.outcome in (Outcome.RELEASED, Outcome.HOLD_RELEASED, Outcome.HOLD_EXPIRED):
            return Response(None, status_code=204)
        return _problem(result, sale_id, instance)

    return answer


# -- the routes ----------------------------------------------------------------------------------------------


class HoldController(Controller):
    path = "/sales/{sale_id:str}/holds"
    tags = ["holds"]

    @post(
        "/",
        status_code=201,
        operation_id="createHold",
        security=[{"buyer": []}],
        operation_class=PurchaseOperation,
        opt={ATTEMPT_ROUTE: HOLD},
        summary="Hold units while the buyer pays",
        description=(
            "Reserves units for the buyer until `expires_at` (the sale's `hold_ttl_s` after the hold, by the "
            "Redis server's clock; it is never extended). The per-buyer limit counts held and bought units. "
            "On a sale of SKUs, `lines` are held all or none, as a purchase's; confirm, release, expiry and a "
            "cancellation move every line's units (and their quotas') together. "
            "Send the same Idempotency-Key on every retry: a repeat returns the same hold with "
            "`Idempotent-Replayed: true`."
        ),
        cache_control=NO_STORE,
        response_headers=[REPLAYED_HEADER_DOC, HOLD_LOCATION],
        responses=attempt_responses(),
    )
    async def hold(
        self, sale_id: SaleIdParam, request: Request[Any, Any, Any], idempotency_key: IdempotencyKey
    ) -> Response[Hold]:
        instance = f"/sales/{sale_id}/holds"
        buyer = await attempt_buyer(request, HOLD, sale_id, instance)
        if not isinstance(buyer, Buyer):
            return buyer
        data = decode_purchase(await request.body(), "hold")
        limited = over_rate(request, HOLD, sale_id, buyer.id, instance)
        if limited is not None:
            return limited
        digest = key_digest(idempotency_key)
        spent_as, refused = check_admission_token(request, sale_id, buyer.id)
        if refused is not None:
            return admission_refused(
                request, HOLD, sale_id, data.quantity, refused, instance, buyer_id=buyer.id, key_digest=digest
            )
        inventory: Inventory = request.app.state.inventory
        return await run_attempt(
            request.app.state.recorder,
            HOLD,
            sale_id,
            data.quantity,
            lambda: inventory.hold(
                sale_id, buyer.id, data.quantity, idempotency_key, spent_as, buyer.facts, data.lines
            ),
            _hold_answer(sale_id, instance),
            instance,
            request.scope,
            buyer_id=buyer.id,
            key_digest=digest,
        )

    @post(
        "/{hold_id:str}/confirm",
        status_code=201,
        operation_id="confirmHold",
        security=[{"buyer": []}],
        operation_class=ConfirmOperation,
        opt={ATTEMPT_ROUTE: CONFIRM},
        summary="Confirm a hold: it becomes an order",
        description=(
            'Body: empty, or `{"payment_ref": "..."}` (copied into the ledger entry). Before `expires_at` the '
            "hold becomes an order, a ledger entry like a purchase's; confirming again returns the same order with "
            "`Idempotent-Replayed: true`. At or after `expires_at` (Redis clock) it is a 410 and sells nothing."
        ),
        cache_control=NO_STORE,
        response_headers=[REPLAYED_HEADER_DOC, ORDER_LOCATION],
        responses=p.responses(
            p.DOC_BAD_REQUEST,
            *p.DOC_BUYER_AUTH,
            (404, p.describe(p.UNKNOWN_SALE, p.UNKNOWN_HOLD)),
            (409, p.describe(p.HOLD_RELEASED)),
            (410, p.describe(p.HOLD_EXPIRED)),
            p.DOC_TOO_LARGE,
            p.DOC_UNAVAILABLE,
        ),
    )
    async def confirm(
        self, sale_id: SaleIdParam, hold_id: HoldIdParam, request: Request[Any, Any, Any]
    ) -> Response[Order]:
        instance = f"/sales/{sale_id}/holds/{hold_id}/confirm"
        buyer = await attempt_buyer(request, CONFIRM, sale_id, instance)
        if not isinstance(buyer, Buyer):
            return buyer
        payment_ref = decode_confirm(await request.body())
        inventory: Inventory = request.app.state.inventory
        return await run_attempt(
            request.app.state.recorder,
            CONFIRM,
            sale_id,
            0,
            lambda: inventory.confirm(sale_id, hold_id, buyer.id, payment_ref, buyer.tag),
            _confirm_answer(sale_id, instance),
            instance,
            request.scope,
            hold_digest=key_digest(hold_id),
        )

    @delete(
        "/{hold_id:str}",
        status_code=204,
        operation_id="releaseHold",
        security=[{"buyer": []}],
        operation_class=p.DocumentedOperation,
        opt={ATTEMPT_ROUTE: RELEASE},
        summary="Release a hold: its units go back on sale",
        description="204 also when the hold was already released or has expired; 409 once it is confirmed.",
        responses=p.responses(
            p.DOC_BAD_REQUEST,
            *p.DOC_BUYER_AUTH,
            (404, p.describe(p.UNKNOWN_SALE, p.UNKNOWN_HOLD)),
            (409, p.describe(p.HOLD_CONFIRMED)),
            p.DOC_UNAVAILABLE,
        ),
    )
    async def release(
        self, sale_id: SaleIdParam, hold_id: HoldIdParam, request: Request[Any, Any, Any]
    ) -> Response[None]:
        instance = f"/sales/{sale_id}/holds/{hold_id}"
        buyer = await attempt_buyer(request, RELEASE, sale_id, instance)
        if not isinstance(buyer, Buyer):
            return buyer
        inventory: Inventory = request.app.state.inventory
        return await run_attempt(
            request.app.state.recorder,
            RELEASE,
            sale_id,
            0,
            lambda: inventory.release(sale_id, hold_id, buyer.id),
            _release_answer(sale_id, instance),
            instance,
            request.scope,
            hold_digest=key_digest(hold_id),
        )

    @get(
        "/{hold_id:str}",
        operation_id="getHold",
        security=[{"buyer": []}],
        operation_class=p.DocumentedOperation,
        summary="A hold's state and expiry",
        description="`state` is held, confirmed, released or expired, judged by the Redis server's clock.",
        cache_control=NO_STORE,
        responses=p.responses(
            p.DOC_BAD_REQUEST, *p.DOC_BUYER_AUTH, (404, p.describe(p.UNKNOWN_SALE, p.UNKNOWN_HOLD)), p.DOC_UNAVAILABLE
        ),
    )
    async def read(
        self, sale_id: SaleIdParam, hold_id: HoldIdParam, request: Request[Any, Any, Any]
    ) -> Response[HoldView]:
        inventory: Inventory = request.app.state.inventory
        instance = f"/sales/{sale_id}/holds/{hold_id}"
        buyer = await buyer_of(request)
        if not isinstance(buyer, Buyer):
            return refusal(buyer[0], buyer[1], instance)
        result = await inventory.read_hold(sale_id, hold_id, buyer.id)
        if result.outcome is not Outcome.FOUND or result.state is None:
            problem = p.BY_OUTCOME[result.outcome]
            missing: Response[Any] = p.problem_response(problem, f"no hold {hold_id!r} in sale {sale_id!r}", instance)
            return missing
        lines = lines_view(result.lines)
        return Response(
            HoldView(
                hold_id,
                sale_id,
                result.buyer_id,
                result.quantity,
                result.state.value,
                format_ms(result.expires_ms),
                result.order_id or None,
                msgspec.UNSET if lines is None else lines,
            )
        )
