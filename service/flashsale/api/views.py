"""Turning engine snapshots into response bodies."""

from __future__ import annotations

from typing import cast

from flashsale.api.schemas import Audit, SaleStatus, SaleView, from_ms
from flashsale.inventory import SaleSnapshot


def sale_view(s: SaleSnapshot) -> SaleView:
    return SaleView(
        sale_id=s.sale_id, name=s.name, status=cast("SaleStatus", s.status), stock=s.total,
        remaining=s.remaining, sold=s.sold, per_buyer_limit=s.limit,
        opens_at=from_ms(s.opens_ms), closes_at=from_ms(s.closes_ms),
    )


def audit_view(s: SaleSnapshot) -> Audit:
    return Audit(
        sale_id=s.sale_id, stock_added=s.total, remaining=s.remaining, sold=s.sold, orders=s.orders,
        ledger_length=s.ledger_length, oversold=s.oversold, stock_balanced=s.stock_balanced,
        ledger_matches=s.ledger_matches, ok=s.stock_balanced and s.ledger_matches and s.oversold == 0,
    )
