"""``flashsale attack``: many buyers press "buy" at the same instant; count what each path sold.

Every buyer gets its own connection (no client cap below the buyer count) and waits on one shared gate, so
the requests leave together, as in a real drop.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections import Counter
from typing import Any

import httpx

PATHS = ("safe", "unsafe")
PURCHASE_ROUTE = {"safe": "/sales/{sale}/purchases", "unsafe": "/demo/sales/{sale}/purchases"}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def run_path(url: str, path: str, buyers: int, stock: int, admin_token: str) -> dict[str, Any]:
    sale = f"attack-{path}-{uuid.uuid4().hex[:10]}"
    auth = {"Authorization": f"Bearer {admin_token}"}
    limits = httpx.Limits(max_connections=buyers + 8, max_keepalive_connections=buyers + 8)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        created = await client.post("/admin/sales", json={"sale_id": sale, "name": f"attack {path}",
                                                           "stock": stock}, headers=auth)
        created.raise_for_status()
        gate = asyncio.Event()
        route = PURCHASE_ROUTE[path].format(sale=sale)

        async def buyer(i: int) -> tuple[int, float]:
            body = {"buyer_id": f"buyer-{i}", "quantity": 1}
            headers = {"Idempotency-Key": str(uuid.uuid4())}
            await gate.wait()
            start = time.perf_counter()
            try:
                response = await client.post(route, json=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            return status, time.perf_counter() - start

        tasks = [asyncio.create_task(buyer(i)) for i in range(buyers)]
        await asyncio.sleep(0)
        began = time.perf_counter()
        gate.set()
        results = await asyncio.gather(*tasks)
        wall = time.perf_counter() - began
        view = (await client.get(f"/sales/{sale}")).json()
        audit = (await client.get(f"/admin/sales/{sale}/audit", headers=auth)).json()
    latencies = [seconds * 1000 for _, seconds in results]
    statuses = Counter(str(status) for status, _ in results)
    return {
        "sale_id": sale,
        "buyers": buyers,
        "stock": stock,
        "sold": view["sold"],
        "remaining": view["remaining"],
        "oversold": audit["oversold"],
        "orders": audit["orders"],
        "invariants_ok": audit["ok"],
        "statuses": dict(sorted(statuses.items())),
        "wall_s": round(wall, 3),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
    }


async def run(url: str, paths: list[str], buyers: int, stock: int, admin_token: str) -> dict[str, Any]:
    return {path: await run_path(url, path, buyers, stock, admin_token) for path in paths}


def table(results: dict[str, Any]) -> str:
    rows = [
        ("sold", "sold"), ("remaining", "remaining"), ("oversold units", "oversold"),
        ("invariants hold", "invariants_ok"), ("wall time (s)", "wall_s"), ("p50 (ms)", "p50_ms"),
        ("p99 (ms)", "p99_ms"),
    ]
    paths = list(results)
    codes = sorted({code for r in results.values() for code in r["statuses"]})
    lines = ["| | " + " | ".join(paths) + " |", "|---" * (len(paths) + 1) + "|"]
    lines.append("| buyers / stock | " + " | ".join(
        f"{results[p]['buyers']} / {results[p]['stock']}" for p in paths) + " |")
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(str(results[p][key]) for p in paths) + " |")
    for code in codes:
        lines.append(f"| HTTP {code} | " + " | ".join(str(results[p]["statuses"].get(code, 0)) for p in paths)
                     + " |")
    return "\n".join(lines)
