"""Path and header parameters shared by controllers, with their validation and OpenAPI text."""

from __future__ import annotations

from typing import Annotated

from litestar.params import HeaderParameter, Parameter

from flashsale.api.schemas import IDEMPOTENCY_KEY_PATTERN
from flashsale.inventory import SALE_ID_PATTERN

SaleIdParam = Annotated[
    str,
    Parameter(pattern=SALE_ID_PATTERN, min_length=1, max_length=64, description="The sale's id (URL-safe slug)."),
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
