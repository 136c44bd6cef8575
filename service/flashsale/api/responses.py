"""OpenAPI documentation of every non-2xx status a route can answer."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIHeader, OpenAPIResponse, OpenAPIType, Operation, Schema

from flashsale.api.problems import MEDIA_TYPE, ProblemType
from flashsale.api.schemas import ProblemBody


def problems(*entries: tuple[int, str]) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(data_container=ProblemBody, description=text, media_type=MEDIA_TYPE,
                             generate_examples=False)
        for status, text in entries
    }


def describe(*types: ProblemType) -> str:
    return "; ".join(f"`{t.uri}`: {t.title}" for t in types)


BAD_REQUEST = (400, "Invalid path, header or body (type `urn:flashsale:problem:invalid-request`).")
TOO_LARGE = (413, "Request body larger than FLASHSALE_MAX_BODY_BYTES.")
RATE_LIMITED = (429, "Rate limit exceeded; see the Retry-After header.")
UNAVAILABLE = (
    503,
    "Redis did not answer within the deadline: the outcome is unknown. Retry after the Retry-After header "
    "with the same Idempotency-Key; it cannot buy twice.",
)


RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=0), required=True,
    description="Seconds to wait before retrying (for a 503: with the same Idempotency-Key).",
)


@dataclass
class DocumentedOperation(Operation):
    """Adds the ``Retry-After`` header to every documented 429 and 503 response.

    Litestar's ``ResponseSpec`` cannot declare response headers, and clients (and schemathesis) should see
    that these two statuses always carry one.
    """

    def __post_init__(self) -> None:
        for status, response in (self.responses or {}).items():
            if status in {"429", "503"} and isinstance(response, OpenAPIResponse):
                response.headers = {**(response.headers or {}), "Retry-After": RETRY_AFTER}
