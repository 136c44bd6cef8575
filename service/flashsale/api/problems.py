"""The one map from what went wrong to an HTTP status and an RFC 9457 problem ``type``.

Every error the API returns is built here, so a problem type is named once and documented once
(docs/problems.md lists the same slugs), together with the OpenAPI description of each route's error answers.

One file past 400 lines: the catalogue of types is one list a reader scans, and each type's status, its answer body
and the text that documents it sit side by side, so a new type is added in one place and the published ``type``
enum (tests/test_openapi_contract.py) is this module's set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response
from litestar.datastructures import ResponseHeader
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import ClientException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Example,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.params import KwargDefinition
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from redis.exceptions import RedisClusterException, RedisError

from flashsale.api import examples
from flashsale.api.limits import PER_ADDRESS, PER_BUYER, BuyerRateLimiter
from flashsale.inventory import Outcome, Unavailable
from flashsale.inventory.engine import classify

PROBLEM_BASE = "urn:flashsale:problem:"
MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_S = 1


@dataclass(frozen=True, slots=True)
class ProblemType:
    slug: str
    status: int
    title: str

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.slug


SOLD_OUT = ProblemType("sold-out", 409, "Not enough stock left")
LIMIT_REACHED = ProblemType("limit-reached", 409, "Per-buyer limit reached")
SALE_NOT_OPEN = ProblemType("sale-not-open", 409, "The sale has not opened yet")
SALE_CLOSED = ProblemType("sale-closed", 409, "The sale is closed")
UNKNOWN_SALE = ProblemType("unknown-sale", 404, "No such sale")
UNKNOWN_SKU = ProblemType("unknown-sku", 404, "No such SKU in this sale")
IDEMPOTENCY_KEY_REUSED = ProblemType(
    "idempotency-key-reused", 422, "Idempotency-Key already used with another request body"
)
INVALID_REQUEST = ProblemType("invalid-request", 400, "The request is not valid")
UNAVAILABLE = ProblemType("unavailable", 503, "Storage unavailable: outcome unknown")
OVERLOADED = ProblemType("overloaded", 503, "Too many requests in flight on this server: nothing was done")
"""Written by the in-flight budget (api/overload.py) before any route runs."""
RATE_LIMITED = ProblemType("rate-limited", 429, "Too many requests")
UNAUTHORIZED = ProblemType("unauthorized", 401, "Missing or wrong admin token")
ADMIN_DISABLED = ProblemType("admin-disabled", 403, "Admin routes are disabled")
NOT_FOUND = ProblemType("not-found", 404, "Not found")
BODY_TOO_LARGE = ProblemType("body-too-large", 413, "Request body too large")
REQUEST_TIMEOUT = ProblemType("request-timeout", 408, "Request not received in time")
"""Written by the server protocol (server.py), not by a route: headers or body arrived too slowly."""
SALE_EXISTS = ProblemType("sale-exists", 409, "A sale with this id exists already")
HTTP_ERROR = ProblemType("http-error", 400, "HTTP error")
UNKNOWN_HOLD = ProblemType("unknown-hold", 404, "No such hold")
HOLD_EXPIRED = ProblemType("hold-expired", 410, "The hold expired; its units went back on sale")
HOLD_RELEASED = ProblemType("hold-released", 409, "The hold was released")
HOLD_CONFIRMED = ProblemType("hold-confirmed", 409, "The hold was confirmed: cancel its order instead")
UNKNOWN_ORDER = ProblemType("unknown-order", 404, "No such order")
EXPORT_PENDING = ProblemType("export-pending", 409, "Orders of this sale are not yet exported")
DATABASE_NOT_CONFIGURED = ProblemType("database-not-configured", 503, "No orders database configured")
DATABASE_UNAVAILABLE = ProblemType("database-unavailable", 503, "The orders database did not answer")
ADMISSION_REQUIRED = ProblemType("admission-required", 403, "This sale has a waiting room: join it first")
ADMISSION_INVALID = ProblemType("admission-invalid", 403, "The admission token is not valid for this buyer and sale")
ADMISSION_EXPIRED = ProblemType("admission-expired", 403, "The admission token expired")
ADMISSION_NOT_YET_VALID = ProblemType("admission-not-yet-valid", 403, "The admission token is not valid yet")
ADMISSION_USED = ProblemType("admission-used", 409, "The admission token was used already")
ADMISSION_UNITS_EXCEEDED = ProblemType(
    "admission-units-exceeded", 409, "One admission admits fewer units than this request asks for"
)
UNKNOWN_TICKET = ProblemType("unknown-ticket", 404, "No such place in this sale's waiting room")
NO_QUEUE = ProblemType("no-queue", 404, "This sale has no waiting room")
QUEUE_ENDED = ProblemType("queue-ended", 409, "The waiting room no longer gives places: sold out or closed")
BUYER_UNAUTHENTICATED = ProblemType(
    "buyer-unauthenticated", 401, "A valid buyer token from the shop's identity provider is required"
)
BUYER_NOT_ELIGIBLE = ProblemType("buyer-not-eligible", 403, "This buyer does not meet the sale's eligibility rules")
IDENTITY_UNAVAILABLE = ProblemType(
    "identity-unavailable", 503, "The identity provider's signing keys could not be fetched"
)
QUEUE_FULL = ProblemType("queue-full", 409, "The waiting room gave every place it may")
NO_DRAW = ProblemType("no-draw", 409, "No sealed draw covers this place: not a random open's pre-queue, or not yet")

PROBLEM_TYPES: tuple[ProblemType, ...] = tuple(v for v in list(globals().values()) if isinstance(v, ProblemType))
"""Every problem type above, collected rather than listed again: the OpenAPI ``type`` enum is made from it."""
PROBLEM_URIS: tuple[str, ...] = tuple(t.uri for t in PROBLEM_TYPES)

Unset = msgspec.UnsetType


class ProblemBody(msgspec.Struct):
    """RFC 9457 problem details, as every error response carries (documentation only: bodies are built by
    ``problem_response`` and ProblemDetailsPlugin).

    ``type`` is one of ``PROBLEM_URIS``, so a generated client can switch on it. The optional members are the
    extensions some problems add (RFC 9457 section 3.2); each is absent, never null, where it does not apply.
    """

    type: Annotated[str, KwargDefinition(schema_extra={"enum": list(PROBLEM_URIS)})]
    title: str
    status: int
    detail: str
    instance: str | Unset = msgspec.UNSET
    remaining: Annotated[int, msgspec.Meta(description="sold-out: units left to buy")] | Unset = msgspec.UNSET
    held: Annotated[int, msgspec.Meta(description="sold-out (holds): units in live holds")] | Unset = msgspec.UNSET
    bought: Annotated[int, msgspec.Meta(description="limit-reached: units this buyer holds or bought")] | Unset = (
        msgspec.UNSET
    )
    limit: (
        Annotated[
            int,
            msgspec.Meta(
                description="limit-reached: the sale's per-buyer limit; admission-units-exceeded: the units one "
                "admission admits"
            ),
        ]
        | Unset
    ) = msgspec.UNSET
    opens_at: Annotated[str, msgspec.Meta(description="sale-not-open: when the sale opens (RFC 3339)")] | Unset = (
        msgspec.UNSET
    )
    expires_at: Annotated[str, msgspec.Meta(description="hold-expired: when the hold expired (RFC 3339)")] | Unset = (
        msgspec.UNSET
    )
    order_id: Annotated[str, msgspec.Meta(description="hold-confirmed: the order the hold became")] | Unset = (
        msgspec.UNSET
    )
    pending: Annotated[int, msgspec.Meta(description="export-pending: ledger entries not yet exported")] | Unset = (
        msgspec.UNSET
    )
    rate_limit: (
        Annotated[Literal["per-buyer", "per-address"], msgspec.Meta(description="rate-limited: which limit refused")]
        | Unset
    ) = msgspec.UNSET
    state: Annotated[str, msgspec.Meta(description="queue-ended: why admission ended (sold_out, closed)")] | Unset = (
        msgspec.UNSET
    )
    rule: (
        Annotated[
            Literal["email_verified", "phone_number_verified", "group", "account_created_before"],
            msgspec.Meta(description="buyer-not-eligible: the sale's rule the buyer's token failed"),
        ]
        | Unset
    ) = msgspec.UNSET
    max_places: Annotated[int, msgspec.Meta(description="queue-full: places the room gives at most")] | Unset = (
        msgspec.UNSET
    )
    errors: (
        Annotated[list[dict[str, Any]], msgspec.Meta(description="invalid-request: what failed validation, where")]
        | Unset
    ) = msgspec.UNSET
    line: (
        Annotated[
            int, msgspec.Meta(description="sold-out, limit-reached, unknown-sku: 0-based index of the line that failed")
        ]
        | Unset
    ) = msgspec.UNSET
    sku: Annotated[str, msgspec.Meta(description="the SKU of that line")] | Unset = msgspec.UNSET
    quota: (
        Annotated[str, msgspec.Meta(description="sold-out: the quota that had too few units left for that line")]
        | Unset
    ) = msgspec.UNSET


PROBLEM_EXTENSIONS: frozenset[str] = frozenset(ProblemBody.__struct_fields__) - {
    "type",
    "title",
    "status",
    "detail",
    "instance",
}


BY_OUTCOME: dict[Outcome, ProblemType] = {
    Outcome.SOLD_OUT: SOLD_OUT,
    Outcome.LIMIT_REACHED: LIMIT_REACHED,
    Outcome.NOT_OPEN: SALE_NOT_OPEN,
    Outcome.CLOSED: SALE_CLOSED,
    Outcome.UNKNOWN_SALE: UNKNOWN_SALE,
    Outcome.UNKNOWN_SKU: UNKNOWN_SKU,
    Outcome.IDEMPOTENCY_CONFLICT: IDEMPOTENCY_KEY_REUSED,
    Outcome.INVALID: INVALID_REQUEST,
    Outcome.UNAVAILABLE: UNAVAILABLE,
    Outcome.RATE_LIMITED: RATE_LIMITED,
    Outcome.UNKNOWN_HOLD: UNKNOWN_HOLD,
    Outcome.HOLD_EXPIRED: HOLD_EXPIRED,
    Outcome.HOLD_RELEASED: HOLD_RELEASED,
    Outcome.HOLD_CONFIRMED: HOLD_CONFIRMED,
    Outcome.UNKNOWN_ORDER: UNKNOWN_ORDER,
    Outcome.ADMISSION_REQUIRED: ADMISSION_REQUIRED,
    Outcome.ADMISSION_INVALID: ADMISSION_INVALID,
    Outcome.ADMISSION_EXPIRED: ADMISSION_EXPIRED,
    Outcome.ADMISSION_NOT_YET_VALID: ADMISSION_NOT_YET_VALID,
    Outcome.ADMISSION_USED: ADMISSION_USED,
    Outcome.BUYER_UNAUTHENTICATED: BUYER_UNAUTHENTICATED,
    Outcome.BUYER_NOT_ELIGIBLE: BUYER_NOT_ELIGIBLE,
    Outcome.IDENTITY_UNAVAILABLE: IDENTITY_UNAVAILABLE,
    Outcome.ADMISSION_UNITS_EXCEEDED: ADMISSION_UNITS_EXCEEDED,
}
"""The one map from an engine outcome (a metric label value and log ``outcome``) to the problem a client is
answered with. Both spellings are published, so where they differ (``not_open`` -> ``sale-not-open``, ``closed``
-> ``sale-closed``, ``idempotency_conflict`` -> ``idempotency-key-reused``, ``invalid`` -> ``invalid-request``)
each keeps its own: docs/glossary.md, "Names that differ on purpose". A ``ProblemType`` constant is named after
its slug."""

UNAVAILABLE_DETAIL = (
    "The outcome of this request is unknown. Retrying with the same Idempotency-Key is safe: it can never buy twice."
)


def problem_response(
    problem: ProblemType,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """A problem-details response built without raising: the purchase path answers 409s at full speed."""
    body: dict[str, Any] = {"type": problem.uri, "title": problem.title, "status": problem.status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return Response(body, status_code=problem.status, media_type=MEDIA_TYPE, headers=headers)


def rate_limited_response(limiter: BuyerRateLimiter, detail: str, instance: str) -> Response[dict[str, Any]]:
    """The per-buyer limit's 429: its own RateLimit-* headers and ``rate_limit: per-buyer`` in the body."""
    return problem_response(RATE_LIMITED, detail, instance, headers=limiter.refusal_headers(), rate_limit=PER_BUYER)


def unavailable_headers() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_S)}


class Problem(ProblemDetailsException):
    """A problem raised from a handler or guard; rendered by Litestar's ProblemDetailsPlugin."""

    def __init__(self, problem: ProblemType, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(
            detail=detail,
            status_code=problem.status,
            headers=headers,
            extra=extra or None,
            type_=problem.uri,
            title=problem.title,
        )


def problem_of(exc: HTTPException) -> ProblemDetailsException:
    """The problem an ``HTTPException`` raised outside the routes' own answers (Litestar's validation, routing,
    body size, the per-address limiter) is answered with: the one exception -> problem table."""
    known: dict[type[HTTPException], ProblemType] = {
        ValidationException: INVALID_REQUEST,
        NotAuthorizedException: UNAUTHORIZED,
        PermissionDeniedException: ADMIN_DISABLED,
        NotFoundException: NOT_FOUND,
        TooManyRequestsException: RATE_LIMITED,
    }
    problem = known.get(type(exc))
    if problem is None and exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        problem = BODY_TOO_LARGE
    if problem is None:
        problem = ProblemType(HTTP_ERROR.slug, exc.status_code, HTTP_ERROR.title)
    headers = dict(exc.headers or {})
    extra = exc.extra if isinstance(exc, ClientException | ValidationException) else None
    if problem is RATE_LIMITED:
        # Only the per-address middleware raises a 429 (the per-buyer limit answers with rate_limited_response):
        # wait until its window resets, and say which limit it was.
        reset = headers.get("RateLimit-Reset", "")
        headers.setdefault("Retry-After", str(max(RETRY_AFTER_S, int(reset))) if reset.isdigit() else "1")
        extra = {"rate_limit": PER_ADDRESS}
    return ProblemDetailsException(
        detail=exc.detail,
        status_code=exc.status_code,
        headers=headers or None,
        extra={"errors": extra} if isinstance(extra, list) else extra,
        type_=problem.uri,
        title=problem.title,
    )


def _from_storage(exc: Exception) -> ProblemDetailsException:
    unavailable = classify(exc)
    return ProblemDetailsException(
        detail=f"{UNAVAILABLE_DETAIL} ({unavailable.kind})",
        status_code=UNAVAILABLE.status,
        headers=unavailable_headers(),
        type_=UNAVAILABLE.uri,
        title=UNAVAILABLE.title,
    )


def problem_details_config() -> ProblemDetailsConfig:
    """Every HTTP error and every storage failure becomes a problem-details body with a stable type."""
    return ProblemDetailsConfig(
        enable_for_all_http_exceptions=True,
        exception_to_problem_detail_map={
            HTTPException: problem_of,
            Unavailable: _from_storage,
            RedisError: _from_storage,
            RedisClusterException: _from_storage,
        },
    )


# -- OpenAPI: the error answers each route documents -------------------------------------------------------


def responses(*entries: tuple[int, str]) -> dict[int, ResponseSpec]:
    """Each documented error status with the problem body, and an example of each problem type its text names."""
    return {
        status: ResponseSpec(
            data_container=ProblemBody,
            description=text,
            media_type=MEDIA_TYPE,
            generate_examples=False,
            examples=problem_examples(text, status) or None,
        )
        for status, text in entries
    }


def problem_examples(text: str, status: int) -> list[Example]:
    """An example body for every problem type a response's description names (``describe`` writes them)."""
    return [
        Example(
            id=t.slug,
            summary=t.title,
            value={
                "type": t.uri,
                "title": t.title,
                "status": status,
                "detail": t.title,
                **examples.PROBLEM_EXTRAS.get(t.slug, {}),
            },
        )
        for t in PROBLEM_TYPES
        if f"`{t.uri}`" in text
    ]


def describe(*types: ProblemType) -> str:
    return "; ".join(f"`{t.uri}`: {t.title}" for t in types)


DOC_ADMIN_AUTH = (
    (401, "Missing or wrong bearer token."),
    (403, "No admin token configured: admin routes refuse every call."),
)
"""The auth failures every admin route documents (its guard: api/admin.py ``admin_guard``)."""
DOC_BAD_REQUEST = (400, f"Invalid path, header or body (type `{INVALID_REQUEST.uri}`).")
DOC_TOO_LARGE = (413, "Request body larger than FLASHSALE_MAX_BODY_BYTES.")
DOC_RATE_LIMITED = (
    429,
    "Rate limit exceeded; see the Retry-After header. `rate_limit` in the body names the limit that refused "
    "(`per-buyer` or `per-address`); the RateLimit-Limit/-Remaining/-Reset/-Policy headers are that limit's.",
)
DOC_BUYER_AUTH = (
    (
        401,
        f"No bearer token, or one that does not prove a buyer (type `{BUYER_UNAUTHENTICATED.uri}`); the "
        "WWW-Authenticate header says why (RFC 6750).",
    ),
)
"""The refusal every buyer route documents (api/auth.py)."""
DOC_UNAVAILABLE = (
    503,
    "Redis did not answer within the deadline: the outcome is unknown. Retry after the Retry-After header "
    "with the same Idempotency-Key; it cannot buy twice.",
)
DOC_ON_A_SALE = (DOC_BAD_REQUEST, (404, describe(UNKNOWN_SALE)), DOC_UNAVAILABLE)
"""The errors of an admin route addressing one sale (besides the auth failures)."""


def location_header(what: str, template: str) -> ResponseHeader:
    """The ``Location`` header every 201 sends (RFC 9110 section 15.3.2): the created resource's URL.

    Documentation only (each handler sets the value, which depends on the new id); ``value`` is an example
    path, from whose type Litestar derives the header's ``string`` schema.
    """
    return ResponseHeader(
        name="Location",
        documentation_only=True,
        value=template,
        required=True,
        description=f"The path of the created {what}: `{template}`.",
    )


def replayed_header(description: str) -> ResponseHeader:
    """``Idempotent-Replayed: true`` on an answer replayed from an earlier identical request (absent otherwise)."""
    return ResponseHeader(
        name="Idempotent-Replayed", documentation_only=True, value="true", required=False, description=description
    )


RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=0),
    required=True,
    description="Seconds to wait before retrying (for a 503: with the same Idempotency-Key).",
)


@dataclass
class DocumentedOperation(Operation):
    """Adds the ``Retry-After`` header to every documented 429 and 503 response, and a 413 to every operation
    with a request body.

    Litestar's ``ResponseSpec`` cannot declare response headers, and clients (and schemathesis) should see
    that these two statuses always carry one.
    """

    def __post_init__(self) -> None:
        responses = self.responses or {}
        for status, response in responses.items():
            if status in {"429", "503"} and isinstance(response, OpenAPIResponse):
                response.headers = {**(response.headers or {}), "Retry-After": RETRY_AFTER}
        # Every route that takes a body can answer 413 (FLASHSALE_MAX_BODY_BYTES), the admin routes included:
        # documented once, here, with the problem body of its 400.
        bad_request = responses.get("400")
        if self.request_body is not None and "413" not in responses and isinstance(bad_request, OpenAPIResponse):
            too_large: dict[str, Example | Reference] = {
                str(e.id): e for e in problem_examples(f"`{BODY_TOO_LARGE.uri}`", BODY_TOO_LARGE.status)
            }
            content = {
                media_type: OpenAPIMediaType(schema=media.schema, examples=too_large)
                for media_type, media in (bad_request.content or {}).items()
            }
            responses["413"] = OpenAPIResponse(description=DOC_TOO_LARGE[1], content=content)
        # A 204 has no content (RFC 9110 section 15.3.5); Litestar documents a ``null`` JSON body for it.
        no_content = responses.get("204")
        if isinstance(no_content, OpenAPIResponse):
            no_content.content = None
        self._add_examples(responses)

    def _add_examples(self, responses: dict[str, Any]) -> None:
        """The operation's request and success examples (api/examples.py), on each JSON media type."""
        operation_id = self.operation_id if isinstance(self.operation_id, str) else ""
        request = examples.REQUESTS.get(operation_id)
        if request and isinstance(self.request_body, RequestBody):
            for media in self.request_body.content.values():
                media.examples = dict(request)
        success = examples.RESPONSES.get(operation_id)
        for status, response in responses.items():
            # Litestar keys a ResponseSpec's examples by their ``id`` and then also writes ``id`` into each
            # Example Object, which has no such field (openapi-spec-validator: "'id' was unexpected").
            for media in (response.content or {}).values() if isinstance(response, OpenAPIResponse) else ():
                for example in (media.examples or {}).values():
                    if isinstance(example, Example):
                        example.id = None
            if success and status.startswith("2") and isinstance(response, OpenAPIResponse) and response.content:
                for media in response.content.values():
                    media.examples = dict(success)
