"""What a sale shows: the view of its snapshot that the public read answers with, and that the admin routes
answering with the sale (create, restock, close) send back too. One builder, so that a sale reads the same
whichever route answers."""

from __future__ import annotations

from typing import cast

import msgspec

from flashsale.api import problems as p
from flashsale.api.schemas import SaleStatus, Timestamp, from_ms
from flashsale.identity.claims import decode_rules
from flashsale.inventory import Inventory, SaleSnapshot
from flashsale.inventory.skus import available


class SkuView(msgspec.Struct):
    """One SKU of a sale: where its units are; ``available`` is what one purchase of it alone could still get
    (its remaining, capped by each quota it draws on)."""

    sku: str
    stock: int
    remaining: int
    held: int
    sold: int
    available: int
    per_buyer_limit: int
    quotas: list[str]


class QuotaView(msgspec.Struct):
    """A cap over some SKUs: their held plus sold units never exceed ``cap``."""

    name: str
    cap: int
    remaining: int
    held: int
    sold: int
    skus: list[str]


class SaleView(msgspec.Struct, omit_defaults=True):
    sale_id: str
    name: str
    status: SaleStatus
    stock: int
    remaining: int
    """What a new hold or purchase can still get."""
    held: int
    """Units in live holds: they come back on sale when a hold is released or expires."""
    sold: int
    per_buyer_limit: int
    """A sale with SKUs: units one buyer may hold plus buy across every SKU."""
    opens_at: Timestamp | None
    closes_at: Timestamp | None
    hold_ttl_s: int
    items: list[SkuView] | None = None
    """Each SKU (absent for a one-stock sale)."""
    quotas: list[QuotaView] | None = None
    """Each quota (absent for a one-stock sale)."""
    eligibility: EligibilityView | None = None
    """What a buyer's token must show (absent: every signed-in buyer may buy)."""


class EligibilityView(msgspec.Struct, omit_defaults=True):
    """A sale's eligibility rules, as ``Eligibility`` creates them (instants in the one answer format)."""

    email_verified: bool = False
    phone_number_verified: bool = False
    group: str | None = None
    account_created_before: Timestamp | None = None
    until: Timestamp | None = None


def sale_view(s: SaleSnapshot) -> SaleView:
    """The public view; a one-stock sale's has no ``items`` or ``quotas`` (its answer is as it always was)."""
    left = available(s.skus, s.quotas)
    return SaleView(
        sale_id=s.sale_id,
        name=s.name,
        status=cast("SaleStatus", s.status),
        stock=s.total,
        remaining=s.remaining,
        held=s.held,
        sold=s.sold,
        per_buyer_limit=s.limit,
        opens_at=from_ms(s.opens_ms),
        closes_at=from_ms(s.closes_ms),
        hold_ttl_s=s.hold_ttl_s,
        items=[
            SkuView(k.name, k.total, k.remaining, k.held, k.sold, left[k.name], k.limit, list(k.members))
            for k in s.skus
        ]
        or None,
        quotas=[QuotaView(q.name, q.total, q.remaining, q.held, q.sold, list(q.members)) for q in s.quotas] or None,
        eligibility=eligibility_view(s.eligibility),
    )


def eligibility_view(stored: str) -> EligibilityView | None:
    rules = decode_rules(stored)
    if rules is None:
        return None
    email, phone, group, before_ms, until_ms = rules
    return EligibilityView(email, phone, group, from_ms(before_ms), from_ms(until_ms))


async def read_snapshot(inventory: Inventory, sale_id: str, audit: bool = False) -> SaleSnapshot:
    """The sale's snapshot read from Redis (with the audit's counts when asked): 404 for an unknown sale."""
    snapshot = await inventory.read(sale_id, audit)
    if snapshot is None:
        raise p.Problem(p.UNKNOWN_SALE, f"no sale {sale_id!r}")
    return snapshot
