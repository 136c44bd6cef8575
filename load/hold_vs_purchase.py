"""``python -m load.hold_vs_purchase [RUNS]``: the hold route's throughput next to the purchase route's.

One local stack (embedded Redis, ``flashsale serve`` with one uvicorn worker, logs at INFO as deployed), wrk
with 1 thread and 50 connections for 5 s per run, interleaved: purchases (load/wrk/purchase.lua), holds only and
hold + confirm (load/wrk/hold.lua) on fresh sales of 10 M units. Per route it prints the median requests/s, the
median p99 and the Redis time per script call (``INFO commandstats``: ``evalsha`` µs per call), and checks each
sale's audit. A quick comparison, not the benchmark: ``make bench`` measures the hold route interleaved with the
purchase route on its traced headline server and waits for a quiet machine (bench.json ``hold_vs_purchase``);
this one does not wait, runs untraced, and also measures hold + confirm.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis

from flashsale.embedded import EmbeddedRedis
from flashsale.local import LocalServer
from load.buyers import WRK_BUYERS_ENV, mint_file

WRK = Path(__file__).resolve().parent / "wrk"
SECONDS, CONNECTIONS = 5, 50
BUYERS = 500
"""Buyer accounts the wrk drivers sign in as, in turn (minted before the first run; the sales have no limit)."""


def wrk(url: str, script: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{SECONDS}s",
            "--timeout",
            "5s",
            "-s",
            str(WRK / script),
            url,
            "--",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=os.environ,
    ).stdout
    data: dict[str, Any] = json.loads(next(line for line in out.splitlines() if line.startswith("WRK_JSON "))[9:])
    data["rps"] = round(data["requests"] / (data["duration_us"] / 1e6))
    return data


def evalsha(client: redis.Redis) -> tuple[int, int]:
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def main(runs: int) -> dict[str, Any]:
    with EmbeddedRedis() as embedded, tempfile.TemporaryDirectory() as private:
        # Demo mode: buyers are the demo issuer's, whose key file this process mints their tokens with.
        server = LocalServer(embedded.url, env={"FLASHSALE_LOG_LEVEL": "INFO", "FLASHSALE_DEMO": "true"}, workers=1)
        server.start()
        client = redis.Redis.from_url(embedded.url)
        http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.admin_token}"})
        results: dict[str, list[dict[str, Any]]] = {"purchase": [], "hold": [], "checkout": []}
        try:
            buyers = Path(private) / "buyers.tsv"
            mint_file(buyers, server.env["FLASHSALE_DEMO_ISSUER_KEY"], BUYERS, f"wrk-{uuid.uuid4().hex[:6]}")
            os.environ[WRK_BUYERS_ENV] = str(buyers)  # wrk inherits it
            for _ in range(runs):
                for kind, runs_of_kind in results.items():
                    sale = f"wrk-{kind}-{uuid.uuid4().hex[:6]}"
                    created = http.post("/admin/sales", json={"sale_id": sale, "name": "wrk", "stock": 10_000_000})
                    created.raise_for_status()
                    tag = uuid.uuid4().hex[:8]
                    calls, usec = evalsha(client)
                    if kind == "purchase":
                        result = wrk(server.url, "purchase.lua", f"/sales/{sale}/purchases", tag)
                    else:
                        result = wrk(server.url, "hold.lua", sale, tag, kind)
                    calls_after, usec_after = evalsha(client)
                    result["redis_us_per_call"] = round((usec_after - usec) / max(1, calls_after - calls), 2)
                    audit = http.get(f"/admin/sales/{sale}/audit").json()
                    if not audit["ok"] or audit["oversold"]:
                        raise SystemExit(f"audit failed: {audit}")
                    runs_of_kind.append(result)
        finally:
            http.close()
            server.stop()
    summary: dict[str, Any] = {
        kind: {
            "rps_median": statistics.median(r["rps"] for r in rs),
            "rps_runs": [r["rps"] for r in rs],
            "p99_ms_median": statistics.median(r["latency_us"]["p99"] for r in rs) / 1000,
            "redis_us_per_call_median": statistics.median(r["redis_us_per_call"] for r in rs),
        }
        for kind, rs in results.items()
    }
    summary["hold_vs_purchase_rps"] = round(summary["hold"]["rps_median"] / summary["purchase"]["rps_median"], 3)
    return summary


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3), indent=2))
