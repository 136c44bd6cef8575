"""Chaos rows for a sale of SKUs (issue 26): Redis faults while buyers send all-or-nothing lines through the real
HTTP API. After each fault the audit is checked per SKU and per quota (nothing oversold, every counter balanced,
the SKUs adding up to the sale), the ledger's lines per SKU must equal what was sold, no Idempotency-Key may
hold two orders and, with ``appendfsync always``, no acknowledged order may be lost. Same fixtures and report as
tests/test_chaos.py (``load/reports/chaos.json``)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from flashsale.inventory.skus import decode_lines
from tests.chaos_tools import Rush, assert_well_behaved, lost_orders, seconds_until_ready, until
from tests.test_chaos import AOF_ALWAYS, Stack, books, check_books, make_stack, processes, report  # noqa: F401

pytestmark = pytest.mark.chaos

SIZES = [f"us-{n}" for n in range(7, 13)]
QUOTAS = [{"name": "all-sizes", "cap": 240, "skus": SIZES}, {"name": "big", "cap": 40, "skus": SIZES[-2:]}]


def sizes_sale(s: Stack) -> str:
    sale = f"k-{int(time.time() * 1000) % 10**9}"
    body = {"sale_id": sale, "name": "chaos sizes", "items": [{"sku": x, "stock": 50} for x in SIZES], "quotas": QUOTAS}
    r = s.admin.http.post("/admin/sales", json=body, headers=s.admin.auth)
    assert r.status_code == 201, r.text
    return sale


def one_or_two_sizes(seed: int) -> Callable[[str], dict[str, Any]]:
    rng = random.Random(seed)

    def order(_: str) -> dict[str, Any]:
        picked = rng.sample(SIZES, rng.choice((1, 1, 2)))
        return {"lines": [{"sku": x, "quantity": 1} for x in picked]}

    return order


def check_sizes(audit: dict[str, Any], entries: list[tuple[str, dict[str, str]]]) -> None:
    """Per SKU and per quota: balanced, nothing oversold; the ledger's lines per SKU == sold per SKU."""
    assert audit["ok"] is True, audit
    for entry in (*audit["items"], *audit["quotas"]):
        assert entry["balanced"] and entry["oversold"] == 0, entry
    in_ledger: Counter[str] = Counter()
    for _, fields in entries:
        in_ledger.update(dict(decode_lines(fields["lines"])))
    assert {x: in_ledger[x] for x in SIZES} == {i["name"]: i["sold"] for i in audit["items"]}


def test_redis_killed_and_restarted_during_a_rush_of_lines(
    make_stack: Callable[..., Stack],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s = make_stack(*AOF_ALWAYS)
    sale = sizes_sale(s)

    def sold_out() -> bool:
        return bool(s.admin.http.get(f"/sales/{sale}").json()["status"] == "sold_out")

    async def scenario() -> tuple[Rush, dict[str, float]]:
        t: dict[str, float] = {}
        async with Rush(s.api.url, sale, s.api.token, order=one_or_two_sizes(26)) as rush:
            await rush.wait_for(201, 40)
            rush.phase = "down"
            t["kill"] = time.monotonic()
            await asyncio.to_thread(s.redis.kill)
            await rush.wait_for(503, 20, "down")
            await asyncio.to_thread(s.redis.start)  # the AOF is replayed
            t["back"] = time.monotonic()
            rush.phase = "back"
            t["ready"] = await seconds_until_ready(s.api.url)
            await rush.wait_for(201, 1, "back")
            await until(sold_out, 60, "the sale sold out (every size or its quotas)", every_s=0.2)
        return rush, t

    rush, t = asyncio.run(scenario())
    audit, entries = books(s.admin, s.redis.port, sale)
    lost = lost_orders(rush, entries)
    report(
        "redis-kill-aof-always-lines",
        rush,
        tmp_path,
        capsys,
        lost=lost,
        audit=audit,
        outage_s=round(t["back"] - t["kill"], 3),
        recovery_s=round(t["ready"], 3),
        quota_sold={q["name"]: q["sold"] for q in audit["quotas"]},
    )
    assert_well_behaved(rush, {201, 409, 503})
    assert rush.count(0) == 0
    check_books(audit, entries, 300)
    check_sizes(audit, entries)
    assert lost == [], "appendfsync always: an acknowledged order survives a SIGKILL"
    assert audit["quotas"][0]["sold"] + audit["quotas"][0]["remaining"] == 240


def test_redis_paused_during_a_rush_of_lines(
    make_stack: Callable[..., Stack],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s = make_stack(*AOF_ALWAYS)
    sale = sizes_sale(s)
    control = redis.Redis(port=s.redis.port, socket_timeout=5)

    async def scenario() -> Rush:
        async with Rush(s.api.url, sale, s.api.token, order=one_or_two_sizes(7)) as rush:
            await rush.wait_for(201, 40)
            rush.phase = "paused"
            control.execute_command("CLIENT", "PAUSE", 5000, "WRITE")
            await rush.wait_for(503, 20, "paused")
            control.execute_command("CLIENT", "UNPAUSE")
            rush.phase = "after"
            await rush.wait_for(201, 1, "after")
            await until(
                lambda: s.admin.http.get(f"/sales/{sale}").json()["status"] == "sold_out", 60, "sold out", every_s=0.2
            )
        return rush

    try:
        rush = asyncio.run(scenario())
    finally:
        control.execute_command("CLIENT", "UNPAUSE")
        control.close()
    audit, entries = books(s.admin, s.redis.port, sale)
    lost = lost_orders(rush, entries)
    report("redis-client-pause-lines", rush, tmp_path, capsys, lost=lost, audit=audit)
    assert_well_behaved(rush, {201, 409, 503})
    check_books(audit, entries, 300)
    check_sizes(audit, entries)
    assert lost == []
