"""The waiting-room gauges as FlashSaleQueueStalled reads them (observability/prometheus/rules/alerts.yml).

The alert takes ``flashsale_queue_open == 1`` to mean "this room should be admitting": a room before its open
time is in state ``open`` in Redis but admits nobody by design, so its gauge must say 0 or a long lobby pages.
"""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client import REGISTRY

from flashsale.inventory.replies import QueueSnapshot
from flashsale.telemetry.metrics import observe_queue

BASE = QueueSnapshot(
    now_ms=1_000,
    state="open",
    mode="fifo",
    opened=True,
    pre_count=0,
    joined=50,
    serving=20,
    paused=False,
    rate=10.0,
    max_active=100,
    token_ttl_ms=60_000,
    opens_ms=0,
    commitment="",
    seed="",
    active=5,
    no_shows=1,
    admitted_now=0,
    steps=(),
)


@pytest.mark.parametrize(
    ("changes", "expected_open"),
    [
        ({}, 1.0),
        ({"opened": False}, 0.0),
        ({"state": "sold_out"}, 0.0),
        ({"state": "closed"}, 0.0),
    ],
)
def test_open_gauge_is_1_only_for_a_room_that_admits(changes: dict[str, object], expected_open: float) -> None:
    sale = f"gauge-{'-'.join(f'{k}{v}' for k, v in changes.items()) or 'open'}"
    observe_queue(sale, dataclasses.replace(BASE, **changes), 2.0)  # type: ignore[arg-type]
    assert REGISTRY.get_sample_value("flashsale_queue_open", {"sale": sale}) == expected_open
    assert REGISTRY.get_sample_value("flashsale_queue_waiting", {"sale": sale}) == 30.0
    assert REGISTRY.get_sample_value("flashsale_queue_admitted", {"sale": sale}) == 20.0
    assert REGISTRY.get_sample_value("flashsale_queue_wait_seconds", {"sale": sale}) == 15.0
