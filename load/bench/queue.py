"""The waiting room's ratios (issue 17), measured in one run on one server: ``python -m load.bench.queue``.

Against one API server (telemetry and INFO logs on, as compose runs it; no trace export) on its own Redis,
interleaved rounds of wrk (one thread, 50 connections) on five routes: purchase on a plain sale, purchase with an
admission token on a sale with a waiting room, the bare reference route, a status poll, and a join. Ratios:
purchase with token / purchase without (target >= 0.9), poll / bare (>= 2), join / purchase (>= 0.9), and Redis
commands per purchase with a token (MONITOR, target 1). Each ratio three ways: of the median rates, the median of
the ratios within a round (the two runs of a pair are seconds apart), and of the API's CPU per request (a rate
ratio if the API had the cores to itself: the figure other programs on a shared machine move least). Tokens are
minted with the server's key (its FLASHSALE_ADMISSION_KEY) for places nobody else uses, so each purchase spends a
fresh place: the same Lua work as a buyer admitted by the controller. Writes load/reports/queue-bench.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from flashsale.embedded import EmbeddedRedis
from flashsale.local import LocalServer
from flashsale.queue import Signer
from load.bench.common import WRK_SCRIPT, tree_cpu_s
from load.bench.measuring import parse_wrk
from load.bench.redis_stats import monitor_sample
from load.buyers import WRK_BUYERS_ENV, mint_file

ROUNDS = 5
SECONDS = 4
CONNECTIONS = 50
TOKENS = 60_000
JOIN_BUYERS = 3_000
"""Buyers joining in turn: the first join of each makes a place, later ones replay it (both are joins)."""
REPORT = Path("load/reports/queue-bench.json")


def buyers_env(path: Path) -> None:
    """The buyers whose tokens wrk sends in turn (load/wrk/purchase.lua reads FLASHSALE_WRK_BUYERS)."""
    os.environ[WRK_BUYERS_ENV] = str(path)


def wrk(url: str, path: str, extra: str = "") -> dict[str, Any]:
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--timeout", "5s", "-s", str(WRK_SCRIPT), url]
    command += ["--", path, uuid.uuid4().hex[:10], *([extra] if extra else [])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS + 60, check=True)
    result = parse_wrk(done.stdout)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def main() -> int:
    with EmbeddedRedis() as redis, tempfile.TemporaryDirectory() as tmp:
        # wrk's 50 connections are one address: the join route is measured without the per-address join limit.
        env = {"FLASHSALE_BENCH_ROUTES": "true", "FLASHSALE_LOG_LEVEL": "INFO", "FLASHSALE_JOIN_RATE_PER_ADDRESS": "0"}
        server = LocalServer(redis.url, env=env)
        server.start(log_path=str(Path(tmp) / "server.log"))
        try:
            http = httpx.Client(
                base_url=server.url, timeout=30.0, headers={"Authorization": f"Bearer {server.admin_token}"}
            )
            huge = 1_000_000_000
            queue = {
                "mode": "fifo",
                "admit_rate": 100_000,
                "max_active": 1_000_000,
                "token_ttl_s": 3600,
                "units_per_admission": 1,
            }
            for sale, extra in (("plain", {}), ("queued", {"queue": queue})):
                r = http.post("/admin/sales", json={"sale_id": sale, "name": sale, "stock": huge, **extra})
                assert r.status_code == 201, r.text
            key = server.env["FLASHSALE_DEMO_ISSUER_KEY"]
            poller = Path(tmp) / "poller.tsv"
            mint_file(poller, key, 1, "poller")
            poller_auth = {"Authorization": f"Bearer {poller.read_text().split(chr(9))[1].strip()}"}
            many = Path(tmp) / "buyers.tsv"  # purchases on the plain sale and joins: these buyers in turn
            mint_file(many, key, JOIN_BUYERS, "b")
            joined = http.post("/sales/queued/queue", headers={"Idempotency-Key": "poller-key-0001", **poller_auth})
            ticket_path = joined.headers["Location"]
            deadline = time.monotonic() + 20
            while http.get(ticket_path, headers=poller_auth).json().get("state") != "admitted":  # first steps
                assert time.monotonic() < deadline, "the poller was never admitted"
                time.sleep(0.1)
            signer = Signer(server.admission_key.encode())
            room = http.get("/sales/queued/queue").json()["room"]
            now = int(time.time() * 1000)
            # One buyer holds every synthetic admission (the API checks the admission's buyer against the token's,
            # the Lua step spends (room, place)): each purchase spends an unspent place with a cached buyer token,
            # as the plain purchases' buyers are cached after their first request.
            admitted = Path(tmp) / "admitted.tsv"
            mint_file(admitted, key, 1, "admitted")
            admitted_token = admitted.read_text().split("\t")[1].strip()
            files = []
            for r_ in range(ROUNDS + 1):  # a fresh token file per run: every purchase spends an unspent jti
                path = Path(tmp) / f"tokens-{r_}.tsv"
                with path.open("w") as out:
                    for i in range(TOKENS):
                        place = 10_000_000 + r_ * TOKENS + i
                        token, _ = signer.issue("queued", room, "admitted-1", place, now - 1000, now + 3_600_000)
                        out.write(f"{admitted_token}\t{token}\n")
                files.append(path)
            names = ("purchase", "purchase_token", "bare", "poll", "join")
            runs: dict[str, list[float]] = {k: [] for k in names}
            cpu_us: dict[str, list[float]] = {k: [] for k in names}
            server_pid = server.process.pid if server.process is not None else 0

            def measured(name: str, path: str, extra: str = "") -> None:
                """One wrk run: its rate, and the API's CPU per request (all its processes), which another
                program loading the machine slows down far less than the rate."""
                before = tree_cpu_s(server_pid)
                out = wrk(server.url, path, extra)
                runs[name].append(out["rps"])
                cpu_us[name].append((tree_cpu_s(server_pid) - before) * 1e6 / max(1, out["requests"]))

            for round_ in range(ROUNDS):
                buyers_env(many)
                measured("purchase", "/sales/plain/purchases")
                measured("purchase_token", "/sales/queued/purchases", f"tokens={files[round_]}")
                measured("bare", "/bench/bare/plain")
                buyers_env(poller)  # a place is polled by its own buyer
                measured("poll", ticket_path, "get")
                buyers_env(many)
                measured("join", "/sales/queued/queue")
                print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in runs.items()), flush=True)
            sample = monitor_sample(
                redis.port,
                "queued",
                lambda: wrk(server.url, "/sales/queued/purchases", f"tokens={files[ROUNDS]}"),
            )
            median = {k: statistics.median(v) for k, v in runs.items()}

            def paired(top: str, bottom: str) -> float:
                """Median over rounds of the ratio within each round: the two runs of a pair are seconds apart,
                so load from outside the bench (a shared machine) mostly cancels out."""
                return round(statistics.median(a / b for a, b in zip(runs[top], runs[bottom], strict=True)), 3)

            cpu = {k: statistics.median(v) for k, v in cpu_us.items()}
            result = {
                "rounds": ROUNDS,
                "seconds_per_run": SECONDS,
                "connections": CONNECTIONS,
                "rps_median": {k: round(v, 1) for k, v in median.items()},
                "purchase_token_vs_purchase": round(median["purchase_token"] / median["purchase"], 3),
                "poll_vs_bare": round(median["poll"] / median["bare"], 3),
                "join_vs_purchase": round(median["join"] / median["purchase"], 3),
                "paired_median": {
                    "purchase_token_vs_purchase": paired("purchase_token", "purchase"),
                    "poll_vs_bare": paired("poll", "bare"),
                    "join_vs_purchase": paired("join", "purchase"),
                },
                "api_cpu_us_per_request_median": {k: round(v, 1) for k, v in cpu.items()},
                "by_cpu": {
                    "purchase_token_vs_purchase": round(cpu["purchase"] / cpu["purchase_token"], 3),
                    "poll_vs_bare": round(cpu["bare"] / cpu["poll"], 3),
                    "join_vs_purchase": round(cpu["purchase"] / cpu["join"], 3),
                },
                "purchase_script_calls_per_token_purchase": sample["script_commands"],
                "client_commands_per_token_purchase": sample["client_commands_per_purchase"],
                "client_commands": sample["client_commands"],
                "orders_in_sample": sample["orders"],
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
