"""Redis key names. Every key of one sale carries the sale id as its hash tag, so all of them live in one
cluster slot and one script can touch them together on a single Redis or on Redis Cluster."""

from __future__ import annotations

import re
from dataclasses import dataclass

SALE_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
"""URL-safe slug: lowercase letters, digits and inner dashes, 1 to 64 characters; never braces."""

_SALE_ID = re.compile(SALE_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class SaleKeys:
    sale: str
    buyers: str
    orders: str
    idem_prefix: str

    def idem(self, idempotency_key: str) -> str:
        return self.idem_prefix + idempotency_key

    @property
    def idem_pattern(self) -> str:
        """SCAN pattern of the sale's idempotency records (the key is glob-escaped)."""
        return re.sub(r"([\[\]*?\\])", r"\\\1", self.idem_prefix) + "*"


def sale_keys(sale_id: str) -> SaleKeys:
    if not _SALE_ID.match(sale_id):
        raise ValueError(f"not a sale id: {sale_id!r}")
    tag = f"fs:{{{sale_id}}}:"
    return SaleKeys(sale=tag + "sale", buyers=tag + "buyers", orders=tag + "orders", idem_prefix=tag + "idem:")
