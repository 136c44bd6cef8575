"""The headline: 500 simultaneous buyers, 50 units. The atomic path sells exactly 50; the unsafe one oversells.

A truly simultaneous burst is the worst case for the Redis deadline: on a busy machine one worker parses the
whole burst before it resumes the first attempt, and some attempts pass their deadline waiting for the event
loop (a 503, outcome unknown). The buyers here do what the API asks of a client then: retry with the same
Idempotency-Key. Whatever the first answers were, the settled ones must be exactly 50 orders and 450 sold-outs,
and no first answer may be anything but 201, 409 or 503.
"""

from __future__ import annotations

import asyncio

import pytest

from flashsale.attack import run_path
from flashsale.local import LocalServer


def test_500_buyers_50_units_sells_exactly_50(api: LocalServer) -> None:
    result = asyncio.run(
        run_path(api.url, "safe", buyers=500, stock=50, admin_token=api.admin_token, mint=api.token, retries=5)
    )
    assert result["sold"] == 50
    assert result["remaining"] == 0
    assert result["orders"] == 50
    assert result["oversold"] == 0
    assert result["invariants_ok"] is True
    assert result["statuses"] == {"201": 50, "409": 450}
    assert set(result["first_statuses"]) <= {"201", "409", "503"}


def test_unsafe_path_oversells_on_the_same_setup(api: LocalServer) -> None:
    result = asyncio.run(run_path(api.url, "unsafe", buyers=500, stock=50, admin_token=api.admin_token, mint=api.token))
    assert result["sold"] > 50
    assert result["oversold"] == result["sold"] - 50
    assert result["invariants_ok"] is False


@pytest.mark.cluster
def test_500_buyers_50_units_on_redis_cluster(cluster_api: LocalServer) -> None:
    result = asyncio.run(
        run_path(
            cluster_api.url,
            "safe",
            buyers=500,
            stock=50,
            admin_token=cluster_api.admin_token,
            mint=cluster_api.token,
            retries=5,
        )
    )
    assert result["sold"] == 50
    assert result["remaining"] == 0
    assert result["orders"] == 50
    assert result["invariants_ok"] is True
    assert result["statuses"] == {"201": 50, "409": 450}
    assert set(result["first_statuses"]) <= {"201", "409", "503"}
