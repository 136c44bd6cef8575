"""Strict decoding of the purchase body, and its OpenAPI description.

Litestar converts bodies with msgspec in lax mode, which turns ``"quantity": "1"`` into 1. A purchase must
refuse a wrong type outright (a string or a boolean for a number), while accepting what JSON Schema calls an
integer (``2`` and ``2.0``), so the purchase routes decode the raw body themselves with
one strict ``msgspec`` decoder made at import (also the cheapest way to decode it). Because the handler then
takes no ``data`` parameter, the request body is added to the OpenAPI operation here, from the same Struct.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIType,
    RequestBody,
    Schema,
)

from flashsale.api import problems as p
from flashsale.api.responses import DocumentedOperation
from flashsale.api.schemas import BUYER_ID_PATTERN, MAX_QUANTITY, BuyerId, PurchaseRequest


class _PurchaseWire(msgspec.Struct, forbid_unknown_fields=True):
    """The body as JSON Schema defines it: an integer may be written 2 or 2.0 (but never "2" or true)."""

    buyer_id: BuyerId
    quantity: Annotated[float, msgspec.Meta(ge=1, le=MAX_QUANTITY)] = 1.0


_decoder = msgspec.json.Decoder(_PurchaseWire)


def decode_purchase(raw: bytes) -> PurchaseRequest:
    try:
        wire = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise p.Problem(p.INVALID, f"invalid purchase body: {exc}") from None
    if not wire.quantity.is_integer():
        raise p.Problem(p.INVALID, "invalid purchase body: quantity must be a whole number - at `$.quantity`")
    return PurchaseRequest(wire.buyer_id, int(wire.quantity))


PURCHASE_REQUEST_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="PurchaseRequest",
    required=["buyer_id"],
    additional_properties=False,
    properties={
        "buyer_id": Schema(type=OpenAPIType.STRING, pattern=BUYER_ID_PATTERN, min_length=1, max_length=64,
                           description="Opaque buyer id: letters, digits and . _ : @ -"),
        "quantity": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=MAX_QUANTITY, default=1,
                           description="Units to buy"),
    },
)

@dataclass
class PurchaseOperation(DocumentedOperation):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.request_body = RequestBody(
            required=True,
            content={"application/json": OpenAPIMediaType(schema=PURCHASE_REQUEST_SCHEMA)},
        )
