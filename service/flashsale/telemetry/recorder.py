"""``Recorder``: each attempt recorded once, with one outcome name, in its span, the metrics and the log.

The mechanism is generic over operations (``purchase``, ``hold``, ...)::

    attempt = recorder.begin("purchase", sale, "safe", quantity, request.scope, buyer_id=...)
    started = time.perf_counter(); result = await call(); attempt.redis_s = time.perf_counter() - started
    recorder.record(attempt, result.outcome, units=sold)

``record`` appends the span (``spans.SpanPipe``), writes the log line (``logs.AttemptLog``) and counts the
attempt with the operation's metrics: purchases with the counters below, other operations with the function
they register through ``count_with``.

prometheus-client's ``labels()`` hashes and locks on every call; the hot path instead keeps the labelled
children it has already made in a dict, so counting an attempt costs a dict lookup and two increments.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from flashsale.inventory import Outcome, SaleSnapshot
from flashsale.inventory.outcomes import PURCHASE_OUTCOMES
from flashsale.telemetry.logs import AttemptLog
from flashsale.telemetry.metrics import (
    ATTEMPTS,
    DURATION,
    NO_SALE,
    NO_SALE_OUTCOMES,
    OVERSOLD,
    PATHS,
    REDIS_ERROR_KINDS,
    REDIS_ERRORS,
    STOCK_ADDED,
    STOCK_REMAINING,
    STOCK_SOLD,
    UNITS_SOLD,
)
from flashsale.telemetry.spans import SpanPipe, new_span_id, new_trace_id, parse_traceparent, traceparent_of

PURCHASE = "purchase"
HOLD = "hold"
"""The operation of every checkout step (hold, confirm, release, the admin's cancel): span ``hold attempt``, log
event ``hold_attempt``, counted by ``telemetry.holds.count``."""
KIND_FIELD = {PURCHASE: "path", HOLD: "step"}
"""The name of an attempt's kind in logs and metrics, by operation: a purchase's path (safe or unsafe), a hold's
checkout step."""

_perf_counter = time.perf_counter
_time_ns = time.time_ns

Counting = Callable[[str, str, str, float, int], None]
"""(sale, kind, outcome, seconds, units) -> None: how an operation counts its attempts in metrics."""


SALE_SEEN = frozenset(
    {
        "sold",
        "replayed",
        "sold_out",
        "limit_reached",
        "unknown_sku",
        "not_open",
        "closed",
        "idempotency_conflict",
        "held",
        "confirmed",
        "released",
        "hold_expired",
        "hold_released",
        "hold_confirmed",
    }
)
"""Outcomes only a script that found the sale can give: the attempt's sale label is then a real sale. Any
other outcome keeps its sale label only for sales this worker already knows (created here, seen at a scrape or
in such an outcome), so labels stay bounded by real sales whatever ids clients send."""


class Attempt:
    """One attempt in flight, from ``Recorder.begin`` to ``Recorder.record``."""

    __slots__ = (
        "fields",
        "kind",
        "operation",
        "parent_id",
        "quantity",
        "redis_s",
        "sale",
        "span_id",
        "start_ns",
        "started",
        "trace_high",
        "trace_low",
    )

    def __init__(self, operation: str, sale: str, kind: str, quantity: int, fields: dict[str, Any]) -> None:
        self.operation = operation
        self.sale = sale
        self.kind = kind
        """What sort of ``operation`` this is: a purchase's path (safe or unsafe), a hold's checkout step."""
        self.quantity = quantity
        self.fields = fields
        self.started = _perf_counter()
        self.redis_s = 0.0
        """Time spent waiting for the Redis script, set by the caller: a span attribute."""
        self.start_ns = self.trace_high = self.trace_low = self.span_id = self.parent_id = 0


class Recorder:
    """Records each attempt once, with the same outcome name, in metrics, the log and the trace."""

    def __init__(
        self,
        spans: SpanPipe | None = None,
        log: AttemptLog | None = None,
        metrics: bool = True,
    ) -> None:
        self.spans = spans
        """None when no trace exporter is configured: then no span is made at all."""
        self.log = log
        """None when telemetry is off; its level decides whether attempt lines are written."""
        self.metrics = metrics
        self._attempts: dict[tuple[str, str, str], Any] = {}
        self._durations: dict[tuple[str, str], Any] = {}
        self._units: dict[tuple[str, str], Any] = {}
        self._prepared: set[str] = set()
        self._counting: dict[str, Counting] = {PURCHASE: self._count_purchase}
        if metrics:
            for path in PATHS:
                for outcome in PURCHASE_OUTCOMES:
                    self._durations[(path, outcome)] = DURATION.labels(path, outcome)
            for kind in REDIS_ERROR_KINDS:
                REDIS_ERRORS.labels(kind)
            self.prepare_sale(NO_SALE)

    def count_with(self, operation: str, counting: Counting) -> None:
        """Register how attempts of ``operation`` (other than purchases) are counted in metrics."""
        self._counting[operation] = counting

    # -- the attempt ------------------------------------------------------------------------------------------

    def begin(self, operation: str, sale: str, kind: str, quantity: int, scope: Any = None, **fields: Any) -> Attempt:
        """Start an attempt; with tracing on, give it a span id in the trace of the request's W3C
        ``traceparent`` header (``scope``: the ASGI scope) or in a new one, so the log line can carry both."""
        attempt = Attempt(operation, sale, kind, quantity, fields)
        if self.spans is not None:
            attempt.start_ns = _time_ns()
            parent = parse_traceparent(traceparent_of(scope)) if scope is not None else None
            if parent is None:
                attempt.trace_high, attempt.trace_low = new_trace_id()
            else:
                attempt.trace_high, attempt.trace_low, attempt.parent_id = parent
            attempt.span_id = new_span_id()
        return attempt

    def record(self, attempt: Attempt, outcome: str, units: int = 0, error: str = "", **fields: Any) -> None:
        """End the attempt: its span, its log line and its metrics, with one outcome name."""
        seconds = _perf_counter() - attempt.started
        sale = attempt.sale
        if outcome is Outcome.UNKNOWN_SALE or outcome is Outcome.INVALID:
            sale = NO_SALE
        elif sale not in self._prepared:
            if outcome in SALE_SEEN:
                self.prepare_sale(sale)  # Redis answered about this very sale: it exists
            else:  # rate limited, unavailable...: unchecked, and a made-up id must not become a series
                sale = NO_SALE
        spans = self.spans
        if spans is not None:
            spans.add(
                (
                    attempt.operation,
                    attempt.trace_high,
                    attempt.trace_low,
                    attempt.span_id,
                    attempt.parent_id,
                    attempt.start_ns,
                    attempt.start_ns + int(seconds * 1e9),
                    sale,
                    attempt.kind,
                    outcome,
                    attempt.quantity,
                    int(attempt.redis_s * 1e9),
                    error,
                    None,
                )
            )
        log = self.log
        if log is not None and log.enabled:
            line = {
                "event": f"{attempt.operation}_attempt",
                "sale": sale,
                KIND_FIELD.get(attempt.operation, "step"): attempt.kind,
                "outcome": outcome,
                "duration_ms": round(seconds * 1000, 3),
                "units": units,
                **attempt.fields,
                **fields,
            }
            if error:
                line["redis_error"] = error
            if spans is not None:
                line["trace_id"] = f"{attempt.trace_high:016x}{attempt.trace_low:016x}"
                line["span_id"] = f"{attempt.span_id:016x}"
            log.write(line)
        if self.metrics:
            self._counting[attempt.operation](sale, attempt.kind, outcome, seconds, units)

    def _count_purchase(self, sale: str, path: str, outcome: str, seconds: float, units: int) -> None:
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

    # -- the rest -----------------------------------------------------------------------------------------------

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

    def redis_error(self, kind: str) -> None:
        if self.metrics:
            REDIS_ERRORS.labels(kind).inc()

    def flush(self) -> None:
        """Periodic (every 200 ms, and at shutdown): hand buffered spans to the exporter process."""
        if self.spans is not None:
            self.spans.flush()

    @staticmethod
    def sale_state(snapshot: SaleSnapshot) -> None:
        STOCK_REMAINING.labels(snapshot.sale_id).set(snapshot.remaining)
        STOCK_ADDED.labels(snapshot.sale_id).set(snapshot.total)
        STOCK_SOLD.labels(snapshot.sale_id).set(snapshot.sold)
        OVERSOLD.labels(snapshot.sale_id).set(snapshot.oversold)

    def forget_sale(self, sale_id: str) -> None:
        for gauge in (STOCK_REMAINING, STOCK_ADDED, STOCK_SOLD, OVERSOLD):
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
