"""Hold metrics: attempts per checkout step, and held units and hold states read from Redis at scrape time.

Names are the contract in WORKFLOW.md / docs: ``flashsale_hold_attempts_total{sale,step,outcome}`` (step in
hold, confirm, release, cancel), ``flashsale_hold_duration_seconds{step,outcome}``, ``flashsale_stock_held{sale}``
and ``flashsale_holds{sale,state}`` (holds ever created, by the state they are in now). Labelled children are
cached in a dict, as the purchase counters are (telemetry.py), and made at zero when a sale is first seen so the
opening rush shows in ``rate()``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from flashsale.inventory import HoldState, Outcome, SaleSnapshot
from flashsale.inventory.outcomes import STEP_OUTCOMES
from flashsale.telemetry.metrics import DURATION_BUCKETS, NO_SALE

HOLD_ATTEMPTS = Counter(
    "flashsale_hold_attempts",
    "Checkout attempts by sale, step (hold, confirm, release, cancel) and outcome.",
    ["sale", "step", "outcome"],
)
HOLD_DURATION = Histogram(
    "flashsale_hold_duration_seconds",
    "Time to decide a checkout step.",
    ["step", "outcome"],
    buckets=DURATION_BUCKETS,
)
STOCK_HELD = Gauge(
    "flashsale_stock_held",
    "Units in live holds, read from Redis at scrape time.",
    ["sale"],
    multiprocess_mode="mostrecent",
)
HOLDS = Gauge(
    "flashsale_holds",
    "Holds ever created, by the state they are in now, read from Redis at scrape time.",
    ["sale", "state"],
    multiprocess_mode="mostrecent",
)

_attempts: dict[tuple[str, str, str], Any] = {}
_durations: dict[tuple[str, str], Any] = {}
_prepared: set[str] = set()


def prepare_sale(sale: str) -> None:
    if sale in _prepared:
        return
    _prepared.add(sale)
    for step, outcomes in STEP_OUTCOMES.items():
        for outcome in outcomes:
            if sale == NO_SALE and outcome not in (Outcome.INVALID, Outcome.UNKNOWN_SALE, Outcome.RATE_LIMITED):
                continue
            _attempts[(sale, step, outcome)] = HOLD_ATTEMPTS.labels(sale, step, outcome)


def count(sale: str, step: str, outcome: str, seconds: float, units: int = 0) -> None:
    """The ``Counting`` of the ``hold`` operation (``Recorder.count_with``)."""
    key = (sale, step, outcome)
    counter = _attempts.get(key)
    if counter is None:
        counter = _attempts[key] = HOLD_ATTEMPTS.labels(sale, step, outcome)
    counter.inc()
    dkey = (step, outcome)
    hist = _durations.get(dkey)
    if hist is None:
        hist = _durations[dkey] = HOLD_DURATION.labels(step, outcome)
    hist.observe(seconds)


def sale_state(snapshot: SaleSnapshot) -> None:
    STOCK_HELD.labels(snapshot.sale_id).set(snapshot.held)
    for state, n in snapshot.hold_states.items():
        HOLDS.labels(snapshot.sale_id, state).set(n)


def forget_sale(sale: str) -> None:
    _prepared.discard(sale)
    with contextlib.suppress(KeyError):
        STOCK_HELD.remove(sale)
    for state in HoldState:
        with contextlib.suppress(KeyError):
            HOLDS.remove(sale, state)
    for step, outcomes in STEP_OUTCOMES.items():
        for outcome in outcomes:
            if _attempts.pop((sale, step, outcome), None) is not None:
                with contextlib.suppress(KeyError):
                    HOLD_ATTEMPTS.remove(sale, step, outcome)
