"""Strict decoding of the purchase body, and its OpenAPI description.

Litestar converts bodies with msgspec in lax mode, which turns ``"quantity": "1"`` into 1 and ``1.0`` into 1.
A purchase must refuse a wrong type outright, so the purchase routes decode the raw body themselves with
one strict ``msgspec`` decoder made at import (also the cheapest way to decode it). Because the handler then
takes no ``data`` parameter, the request body is added to the OpenAPI operation here, from the same Struct.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)

from flashsale.api import problems as p
from flashsale.api.schemas import BUYER_ID_PATTERN, MAX_QUANTITY, PurchaseRequest

_decoder = msgspec.json.Decoder(PurchaseRequest)


def decode_purchase(raw: bytes) -> PurchaseRequest:
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise p.Problem(p.INVALID, f"invalid purchase body: {exc}") from None


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

PURCHASE_COMPONENTS: dict[str, Any] = {"PurchaseRequest": PURCHASE_REQUEST_SCHEMA}


@dataclass
class PurchaseOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            content={"application/json": OpenAPIMediaType(schema=Reference("#/components/schemas/PurchaseRequest"))},
        )


def with_purchase_schema(components: Components) -> Components:
    components.schemas = {**(components.schemas or {}), **PURCHASE_COMPONENTS}
    return components
