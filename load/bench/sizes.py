"""A sale of many SKUs (issue 26), measured in one run on one server: ``python -m load.bench.sizes``.

Against one API server (telemetry and INFO logs on, as compose runs it; no trace export) on its own Redis, a sale
of 12 sizes under an all-sizes quota (stock that never runs out), interleaved rounds of wrk (one thread, 50
connections) on: the bare reference route, a one-stock purchase, purchases of 1, 3 and 10 lines, and the
availability read; every request is a signed-in buyer's (tokens minted before the load, sent in turn by wrk).
Ratios: 3-line / 1-line purchase (target >= 0.85), availability / bare (>= 2). Then, per line count (1, 3, 10):
the Redis commands clients send per purchase (MONITOR, target exactly 1) and Redis's own time per purchase script
call (INFO commandstats: usec of EVALSHA over its calls during a wrk run). Writes load/reports/sizes-bench.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx

from flashsale.embedded import EmbeddedRedis
from flashsale.local import LocalServer
from load.bench.common import WRK_SCRIPT, wait_for_quiet_machine
from load.bench.measuring import BENCH_BUYERS, parse_wrk
from load.bench.redis_stats import client, monitor_sample
from load.buyers import WRK_BUYERS_ENV, mint_file

ROUNDS = 3
SECONDS = 4
CONNECTIONS = 50
SIZES = [f"us-{n}" for n in range(4, 16)]
LINE_COUNTS = (1, 3, 10)
REPORT = Path("load/reports/sizes-bench.json")
TARGETS = {"three_vs_one_line": 0.85, "availability_vs_bare": 2.0, "client_commands_per_purchase": 1.0}


def lines_arg(n: int) -> str:
    return "lines=" + ",".join(f"{s}:1" for s in SIZES[:n])


def wrk(url: str, buyers: Path, path: str, extra: str = "") -> dict[str, Any]:
    """One wrk run on ``path``; its requests carry the tokens of the file ``buyers`` in turn."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--timeout", "5s", "-s", str(WRK_SCRIPT), url]
    command += ["--", path, uuid.uuid4().hex[:10], *([extra] if extra else [])]
    env = {**os.environ, WRK_BUYERS_ENV: str(buyers)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS + 60, check=True, env=env)
    result = parse_wrk(done.stdout)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def evalsha_usec(port: int) -> tuple[int, int]:
    """(calls, usec) of EVALSHA so far."""
    with client(port) as r:
        stats = r.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def main() -> int:
    with EmbeddedRedis() as redis, tempfile.TemporaryDirectory() as tmp:
        server = LocalServer(redis.url, env={"FLASHSALE_BENCH_ROUTES": "true", "FLASHSALE_LOG_LEVEL": "INFO"})
        server.start(log_path=str(Path(tmp) / "server.log"))
        try:
            http = httpx.Client(
                base_url=server.url, timeout=30.0, headers={"Authorization": f"Bearer {server.admin_token}"}
            )
            huge = 50_000_000  # the all-sizes cap (12 x huge) stays within the API bound of 10**9 units
            sizes = {
                "sale_id": "sizes",
                "name": "sizes",
                "items": [{"sku": s, "stock": huge} for s in SIZES],
                "quotas": [{"name": "all-sizes", "cap": huge * len(SIZES), "skus": SIZES}],
            }
            for body in (sizes, {"sale_id": "plain", "name": "plain", "stock": huge * 10}):
                r = http.post("/admin/sales", json=body)
                assert r.status_code == 201, r.text
            # Buyers sign in before the load (a signature costs ~1 ms, more than a request); the sales have no
            # per-buyer limit, so each buyer buys again and again.
            buyers = Path(tmp) / "buyers.tsv"
            mint_file(buyers, server.env["FLASHSALE_DEMO_ISSUER_KEY"], BENCH_BUYERS, "sizes")
            routes: dict[str, tuple[str, str]] = {
                "bare": ("/bench/bare/plain", ""),
                "purchase_one_stock": ("/sales/plain/purchases", ""),
                **{f"purchase_{n}_lines": ("/sales/sizes/purchases", lines_arg(n)) for n in LINE_COUNTS},
                "availability": ("/sales/sizes/availability", "get"),
            }
            runs: dict[str, list[float]] = {k: [] for k in routes}
            p99: dict[str, list[float]] = {k: [] for k in routes}
            for round_ in range(ROUNDS):
                for name, (path, extra) in routes.items():
                    wait_for_quiet_machine(max_wait_s=5)
                    result = wrk(server.url, buyers, path, extra)
                    bad = {k: v for k, v in result["statuses"].items() if k not in ("200", "201")}
                    assert not bad, (name, result["statuses"])
                    runs[name].append(result["rps"])
                    p99[name].append(result["latency_us"]["p99"] / 1000)
                print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in runs.items()), flush=True)
            per_lines: dict[str, Any] = {}
            for n in LINE_COUNTS:
                sample = monitor_sample(
                    redis.port, "sizes", lambda n=n: wrk(server.url, buyers, "/sales/sizes/purchases", lines_arg(n))
                )
                before = evalsha_usec(redis.port)
                timed = wrk(server.url, buyers, "/sales/sizes/purchases", lines_arg(n))
                after = evalsha_usec(redis.port)
                calls = after[0] - before[0]
                per_lines[str(n)] = {
                    "client_commands_per_purchase": sample["client_commands_per_purchase"],
                    "request_commands_per_purchase": sample["request_commands_per_purchase"],
                    "client_commands": sample["client_commands"],
                    "script_commands_per_purchase": sample["script_commands_per_purchase"],
                    "orders_in_sample": sample["orders"],
                    "redis_usec_per_script_call": round((after[1] - before[1]) / max(1, calls), 2),
                    "script_calls_timed": calls,
                    "purchases_timed": timed["requests"],
                }
            audit = http.get("/admin/sales/sizes/audit").json()
            median = {k: statistics.median(v) for k, v in runs.items()}
            result = {
                "rounds": ROUNDS,
                "seconds_per_run": SECONDS,
                "connections": CONNECTIONS,
                "sizes": len(SIZES),
                "rps_median": {k: round(v, 1) for k, v in median.items()},
                "p99_ms_median": {k: round(statistics.median(v), 2) for k, v in p99.items()},
                "three_vs_one_line": round(median["purchase_3_lines"] / median["purchase_1_lines"], 3),
                "ten_vs_one_line": round(median["purchase_10_lines"] / median["purchase_1_lines"], 3),
                "one_line_vs_one_stock": round(median["purchase_1_lines"] / median["purchase_one_stock"], 3),
                "availability_vs_bare": round(median["availability"] / median["bare"], 3),
                "by_lines": per_lines,
                "audit_ok": audit["ok"],
                "oversold": audit["oversold"],
                "targets": TARGETS,
            }
            result["met"] = {
                "three_vs_one_line": result["three_vs_one_line"] >= TARGETS["three_vs_one_line"],
                "availability_vs_bare": result["availability_vs_bare"] >= TARGETS["availability_vs_bare"],
                "one_command_per_purchase": all(v["request_commands_per_purchase"] == 1.0 for v in per_lines.values()),
            }
            REPORT.parent.mkdir(parents=True, exist_ok=True)
            REPORT.write_text(json.dumps(result, indent=2) + "\n")
            print(json.dumps(result, indent=2))
            http.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
