"""The process's metric objects: attempts, Redis errors, sale gauges and the span pipeline's counters.

Importing this module turns off prometheus-client's ``<counter>_created`` / ``<histogram>_created`` series
for the process (importing any module of ``flashsale.telemetry`` imports this one first): they would be a
fifth of the samples on ``/metrics``, no rule or panel reads them, and Prometheus keeps every one as a series of its
own. Multiprocess mode never writes them; this makes a one-worker server say the same.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from flashsale.inventory import Outcome, Path
from flashsale.inventory.replies import QueueSnapshot

disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated in prometheus-client

DURATION_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)

ATTEMPTS = Counter(
    "flashsale_purchase_attempts", "Purchase attempts by sale, path and outcome.", ["sale", "path", "outcome"]
)
DURATION = Histogram(
    "flashsale_purchase_duration_seconds",
    "Time to decide a purchase attempt.",
    ["path", "outcome"],
    buckets=DURATION_BUCKETS,
)
UNITS_SOLD = Counter("flashsale_units_sold", "Units sold, by sale and path.", ["sale", "path"])
REDIS_ERRORS = Counter("flashsale_redis_errors", "Redis calls that gave no usable answer, by kind.", ["kind"])
JWKS_FETCHES = Counter(
    "flashsale_jwks_fetches",
    "Fetches of the identity provider's key set by this process, by result (ok, error).",
    ["result"],
)
STOCK_REMAINING = Gauge(
    "flashsale_stock_remaining",
    "Units left, read from Redis at scrape time.",
    ["sale"],
    multiprocess_mode="mostrecent",
)
STOCK_ADDED = Gauge(
    "flashsale_stock_added",
    "Units ever added to the sale, read from Redis at scrape time.",
    ["sale"],
    multiprocess_mode="mostrecent",
)
STOCK_SOLD = Gauge(
    "flashsale_stock_sold",
    "Units sold, read from Redis at scrape time (survives API restarts, unlike the counter).",
    ["sale"],
    multiprocess_mode="mostrecent",
)
OVERSOLD = Gauge(
    "flashsale_oversold_units",
    "Units sold beyond the stock that existed, read from Redis at scrape time.",
    ["sale"],
    multiprocess_mode="mostrecent",
)

PATHS = tuple(p.value for p in Path)
REDIS_ERROR_KINDS = ("timeout", "connection", "script", "replication")

NO_SALE = ""
"""The sale label of attempts on a sale that does not exist, or was not checked against Redis (invalid,
rate limited or unavailable before this worker saw the sale): keeps the label set bounded by real sales."""
NO_SALE_OUTCOMES = (Outcome.INVALID, Outcome.UNKNOWN_SALE, Outcome.RATE_LIMITED, Outcome.UNAVAILABLE)

SPANS_EXPORTED = Counter(
    "flashsale_spans_exported", "Attempt spans the exporter process delivered to the trace backend."
)
SPANS_DROPPED = Counter(
    "flashsale_spans_dropped",
    "Attempt spans lost: the worker's pipe to its exporter process was full or gone, or the export failed.",
)


def _queue_gauge(name: str, text: str) -> Gauge:
    return Gauge(name, text, ["sale"], multiprocess_mode="mostrecent")


QUEUE_JOINED = _queue_gauge("flashsale_queue_joined", "Places given in the sale's waiting room.")
QUEUE_WAITING = _queue_gauge("flashsale_queue_waiting", "Places not yet admitted.")
QUEUE_ADMITTED = _queue_gauge("flashsale_queue_admitted", "Places admitted so far (the serving counter).")
QUEUE_ACTIVE = _queue_gauge("flashsale_queue_active", "Admitted buyers that neither bought nor let it expire.")
QUEUE_MAX_ACTIVE = _queue_gauge("flashsale_queue_max_active", "The most active admitted buyers allowed.")
QUEUE_NO_SHOWS = _queue_gauge("flashsale_queue_no_shows", "Admissions that expired without a purchase or hold.")
QUEUE_PAUSED = _queue_gauge("flashsale_queue_paused", "1 while an operator paused admission.")
QUEUE_OPEN = _queue_gauge(
    "flashsale_queue_open", "1 while the waiting room admits (0: before its open time, sold out or closed)."
)
QUEUE_REOFFERED = _queue_gauge(
    "flashsale_queue_waitlist_reoffered_units",
    "Units that came back after the sale sold out and were offered to the waitlist's next places.",
)
QUEUE_WAITLIST_BOUGHT = _queue_gauge(
    "flashsale_queue_waitlist_bought_units",
    "Units bought (or held for checkout) by buyers admitted from the waitlist.",
)
QUEUE_WAIT = _queue_gauge(
    "flashsale_queue_wait_seconds", "Expected wait of a buyer joining now: places waiting over the measured rate."
)


def observe_queue(sale_id: str, snapshot: QueueSnapshot, rate: float) -> None:
    """Set the waiting-room gauges from the controller's latest admission step (queue/controller.py)."""
    waiting = max(0, snapshot.joined - snapshot.serving)
    QUEUE_JOINED.labels(sale_id).set(snapshot.joined)
    QUEUE_WAITING.labels(sale_id).set(waiting)
    QUEUE_ADMITTED.labels(sale_id).set(snapshot.serving)
    QUEUE_ACTIVE.labels(sale_id).set(snapshot.active)
    QUEUE_MAX_ACTIVE.labels(sale_id).set(snapshot.max_active)
    QUEUE_NO_SHOWS.labels(sale_id).set(snapshot.no_shows)
    QUEUE_PAUSED.labels(sale_id).set(1 if snapshot.paused else 0)
    # Not yet opened counts as not open: a lobby admits nobody by design, and FlashSaleQueueStalled relies on it.
    QUEUE_OPEN.labels(sale_id).set(1 if snapshot.state == "open" and snapshot.opened else 0)
    QUEUE_WAIT.labels(sale_id).set(waiting / rate if rate > 0 else 0)
    QUEUE_REOFFERED.labels(sale_id).set(snapshot.reoffered)
    QUEUE_WAITLIST_BOUGHT.labels(sale_id).set(snapshot.waitlist_bought)
