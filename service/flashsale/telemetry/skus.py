"""Per-SKU and per-quota stock gauges of sales created with items, read from Redis at scrape time.

``flashsale_sku_stock_{remaining,held,sold,added}{sale,sku}``, ``flashsale_sku_sold_out_seconds{sale,sku}`` (how
long after the sale's start the SKU sold out: present only while it is sold out) and
``flashsale_quota_remaining{sale,quota}``. Label values come only from a sale's own SKU and quota lists, never
from a request, so the series are bounded by the sales' SKU counts (at most skus.MAX_SKUS and MAX_QUOTAS per
sale); a one-stock sale has none. A deleted sale's series go with it (``forget_sale``). Attempt counters keep
their labels: a SKU is not an attempt label, so a flood of requests naming made-up SKUs adds no series.
"""

from __future__ import annotations

import contextlib

from prometheus_client import Gauge

from flashsale.inventory import SaleSnapshot


def _gauge(name: str, text: str, label: str = "sku") -> Gauge:
    return Gauge(name, text, ["sale", label], multiprocess_mode="mostrecent")


SKU_REMAINING = _gauge("flashsale_sku_stock_remaining", "Units of the SKU left, read from Redis at scrape time.")
SKU_HELD = _gauge("flashsale_sku_stock_held", "Units of the SKU in live holds, read from Redis at scrape time.")
SKU_SOLD = _gauge("flashsale_sku_stock_sold", "Units of the SKU sold, read from Redis at scrape time.")
SKU_ADDED = _gauge("flashsale_sku_stock_added", "Units of the SKU ever added, read from Redis at scrape time.")
SKU_SOLD_OUT = _gauge(
    "flashsale_sku_sold_out_seconds",
    "Seconds from the sale's start (its opens_at, else its creation) to the moment the SKU sold out; present "
    "only while it is sold out.",
)
QUOTA_REMAINING = _gauge(
    "flashsale_quota_remaining", "Units a quota still allows across its SKUs, read from Redis at scrape time.", "quota"
)

_SKU_GAUGES = (SKU_REMAINING, SKU_HELD, SKU_SOLD, SKU_ADDED)
_labelled: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
"""Sale -> (its SKUs, its quotas) with series, so a deleted sale's series can be removed."""


def sale_state(snapshot: SaleSnapshot) -> None:
    if not snapshot.skus:
        return
    sale = snapshot.sale_id
    start = snapshot.opens_ms if snapshot.opens_ms is not None else snapshot.created_ms
    for k in snapshot.skus:
        SKU_REMAINING.labels(sale, k.name).set(k.remaining)
        SKU_HELD.labels(sale, k.name).set(k.held)
        SKU_SOLD.labels(sale, k.name).set(k.sold)
        SKU_ADDED.labels(sale, k.name).set(k.total)
        if k.sold_out_ms is not None and start is not None:
            SKU_SOLD_OUT.labels(sale, k.name).set(max(0, k.sold_out_ms - start) / 1000)
        else:
            with contextlib.suppress(KeyError):
                SKU_SOLD_OUT.remove(sale, k.name)
    for q in snapshot.quotas:
        QUOTA_REMAINING.labels(sale, q.name).set(q.remaining)
    _labelled[sale] = (frozenset(k.name for k in snapshot.skus), frozenset(q.name for q in snapshot.quotas))


def forget_sale(sale: str) -> None:
    skus, quotas = _labelled.pop(sale, (frozenset(), frozenset()))
    for sku in skus:
        for gauge in (*_SKU_GAUGES, SKU_SOLD_OUT):
            with contextlib.suppress(KeyError):
                gauge.remove(sale, sku)
    for quota in quotas:
        with contextlib.suppress(KeyError):
            QUOTA_REMAINING.remove(sale, quota)
