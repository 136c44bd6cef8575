"""Metric objects and the one call that records a purchase attempt.

prometheus-client's ``labels()`` hashes and locks on every call; the hot path instead keeps the labelled
children it has already made in a dict, so recording an attempt costs a dict lookup and two increments.
"""

from __future__ import annotations

import contextlib
from typing import Any

from opentelemetry.trace import Tracer
from prometheus_client import Counter, Gauge, Histogram

from flashsale.inventory import Outcome, Path, SaleSnapshot
from flashsale.inventory.outcomes import PURCHASE_OUTCOMES

DURATION_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)

ATTEMPTS = Counter(
    "flashsale_purchase_attempts", "Purchase attempts by sale, path and outcome.", ["sale", "path", "outcome"]
)
DURATION = Histogram(
    "flashsale_purchase_duration_seconds", "Time to decide a purchase attempt.", ["path", "outcome"],
    buckets=DURATION_BUCKETS,
)
UNITS_SOLD = Counter("flashsale_units_sold", "Units sold, by sale and path.", ["sale", "path"])
REDIS_ERRORS = Counter("flashsale_redis_errors", "Redis calls that gave no usable answer, by kind.", ["kind"])
STOCK_REMAINING = Gauge(
    "flashsale_stock_remaining", "Units left, read from Redis at scrape time.", ["sale"],
    multiprocess_mode="mostrecent",
)
STOCK_TOTAL = Gauge(
    "flashsale_stock_total", "Units ever added to the sale, read from Redis at scrape time.", ["sale"],
    multiprocess_mode="mostrecent",
)
STOCK_SOLD = Gauge(
    "flashsale_stock_sold", "Units sold, read from Redis at scrape time (survives API restarts, unlike the counter).",
    ["sale"], multiprocess_mode="mostrecent",
)
OVERSOLD = Gauge(
    "flashsale_oversold_units", "Units sold beyond the stock that existed, read from Redis at scrape time.",
    ["sale"], multiprocess_mode="mostrecent",
)

PATHS = tuple(p.value for p in Path)
REDIS_ERROR_KINDS = ("timeout", "connection", "script", "replication")

NO_SALE = ""
"""The sale label of attempts on a sale that does not exist: keeps the label set bounded by real sales."""
NO_SALE_OUTCOMES = (Outcome.INVALID, Outcome.UNKNOWN_SALE, Outcome.RATE_LIMITED)


class Recorder:
    """Records each purchase attempt once, with the same outcome name, in metrics, the log and the trace."""

    def __init__(self, tracer: Tracer | None = None, logger: Any = None, metrics: bool = True,
                 buyer_limiter: Any = None) -> None:
        self.buyer_limiter = buyer_limiter
        """A per-buyer rate limiter (api/limits.py), or None when that limit is off."""
        self.tracer = tracer
        """None when no trace exporter is configured: then no span is made at all."""
        self.log = logger
        self.metrics = metrics
        self._attempts: dict[tuple[str, str, str], Any] = {}
        self._durations: dict[tuple[str, str], Any] = {}
        self._units: dict[tuple[str, str], Any] = {}
        self._prepared: set[str] = set()
        if metrics:
            for path in PATHS:
                for outcome in PURCHASE_OUTCOMES:
                    self._durations[(path, outcome)] = DURATION.labels(path, outcome)
            for kind in REDIS_ERROR_KINDS:
                REDIS_ERRORS.labels(kind)
            self.prepare_sale(NO_SALE)

    def prepare_sale(self, sale: str) -> None:
        """Create a sale's counters at zero before its first attempt.

        Prometheus takes the first value it scrapes of a new series as its start, so counts made before
        that first scrape never show in ``rate()``: without this, a sale's opening rush (most of a flash
        sale) would read as zero units per second.
        """
        if not self.metrics or sale in self._prepared:
            return
        self._prepared.add(sale)
        outcomes = NO_SALE_OUTCOMES if sale == NO_SALE else PURCHASE_OUTCOMES
        for path in PATHS:
            for outcome in outcomes:
                key = (sale, path, outcome)
                if key not in self._attempts:
                    self._attempts[key] = ATTEMPTS.labels(sale, path, outcome)
            if sale != NO_SALE and (sale, path) not in self._units:
                self._units[(sale, path)] = UNITS_SOLD.labels(sale, path)

    def attempt(self, sale: str, path: str, outcome: Outcome, seconds: float, units: int = 0,
                **fields: Any) -> None:
        if outcome is Outcome.UNKNOWN_SALE or outcome is Outcome.INVALID:
            sale = NO_SALE
        if self.log is not None:
            self.log.info("purchase_attempt", sale=sale, path=path, outcome=outcome.value,
                          duration_ms=round(seconds * 1000, 3), units=units, **fields)
        if not self.metrics:
            return
        key = (sale, path, outcome)
        counter = self._attempts.get(key)
        if counter is None:
            counter = self._attempts[key] = ATTEMPTS.labels(sale, path, outcome)
        counter.inc()
        dkey = (path, outcome)
        hist = self._durations.get(dkey)
        if hist is None:
            hist = self._durations[dkey] = DURATION.labels(path, outcome)
        hist.observe(seconds)
        if units:
            ukey = (sale, path)
            sold = self._units.get(ukey)
            if sold is None:
                sold = self._units[ukey] = UNITS_SOLD.labels(sale, path)
            sold.inc(units)

    def redis_error(self, kind: str) -> None:
        if self.metrics:
            REDIS_ERRORS.labels(kind).inc()

    @staticmethod
    def sale_state(snapshot: SaleSnapshot) -> None:
        STOCK_REMAINING.labels(snapshot.sale_id).set(snapshot.remaining)
        STOCK_TOTAL.labels(snapshot.sale_id).set(snapshot.total)
        STOCK_SOLD.labels(snapshot.sale_id).set(snapshot.sold)
        OVERSOLD.labels(snapshot.sale_id).set(snapshot.oversold)

    def forget_sale(self, sale_id: str) -> None:
        for gauge in (STOCK_REMAINING, STOCK_TOTAL, STOCK_SOLD, OVERSOLD):
            with contextlib.suppress(KeyError):
                gauge.remove(sale_id)
        self._prepared.discard(sale_id)
        for path in PATHS:
            with contextlib.suppress(KeyError):
                UNITS_SOLD.remove(sale_id, path)
            self._units.pop((sale_id, path), None)
            for outcome in PURCHASE_OUTCOMES:
                with contextlib.suppress(KeyError):
                    ATTEMPTS.remove(sale_id, path, outcome)
                self._attempts.pop((sale_id, path, outcome), None)
