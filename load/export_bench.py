"""Export benchmark (issue 13): ``python -m load.export_bench`` (run by ``make bench`` after the main bench).

Everything real and on loopback: a redis-server, a PostgreSQL 15 (Debian's, started like the tests do), the API
with 2 uvicorn workers (telemetry on, as compose runs it) and ``flashsale export`` processes. Two phases:

1. Rush: 10,000 units sold through the 2 workers by wrk while an exporter runs; once 4,000 are sold that
   exporter is SIGKILLed and another started at once (it claims the dead one's pending entries after
   ``FLASHSALE_EXPORT_CLAIM_IDLE_MS``, 2 s here). Reported: the purchase rate (first to last order), the export
   lag sampled every 100 ms (entries and seconds), the time from the last sale until the lag is 0, and the
   exactly-once check: PostgreSQL holds exactly the orders of the Redis ledger, no duplicates.
2. Throughput: a backlog of 20,000 orders sold while no exporter runs, then one exporter started: orders/s
   into PostgreSQL from its start until the lag is 0, compared with the purchase rate of phase 1.

Bounded: wrk runs at most ``RUSH_S`` seconds per phase, every wait has a deadline. Writes
load/reports/export.json and prints a summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from tests.export_tools import ExporterProcess, new_database
from tests.postgres import PostgresProcess

from flashsale.embedded import EmbeddedRedis
from flashsale.inventory.keys import EXPORT_GROUP, sale_keys
from flashsale.local import LocalServer
from load.bench.measuring import parse_wrk, wrk_command
from load.buyers import WRK_BUYERS_ENV, mint_file

RUSH_UNITS = 10_000
BACKLOG_UNITS = 20_000
KILL_AT = 4_000
RUSH_S = 12
CONNECTIONS = 64
BUYERS = 500
"""Buyer accounts wrk signs in as, in turn (minted before the first phase; the sales have no per-buyer limit)."""
CLAIM_IDLE_MS = 2000
REPORT = Path(__file__).resolve().parent / "reports" / "export.json"


def wait(condition: Any, timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise RuntimeError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def lag(exporter: ExporterProcess, sale: str) -> tuple[float, float]:
    m = exporter.metrics() or {}
    return (
        m.get(f'flashsale_export_lag_entries{{sale="{sale}"}}', -1.0),
        m.get(f'flashsale_export_lag_seconds{{sale="{sale}"}}', -1.0),
    )


def backlog(r: redis.Redis, sale: str) -> int:
    for g in r.xinfo_groups(sale_keys(sale).orders):
        if g["name"] == EXPORT_GROUP:
            return int(g["pending"]) + int(g["lag"] or 0)
    return -1


def db_ids(url: str, sale: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT order_id FROM orders WHERE sale_id = %s", (sale,))]


def ledger_ids(r: redis.Redis, sale: str) -> list[str]:
    return [fields.get("order_id") or entry_id for entry_id, fields in r.xrange(sale_keys(sale).orders)]


def sell(api: LocalServer, sale: str, tag: str) -> tuple[subprocess.Popen[str], float]:
    """wrk buying on ``sale``, as the buyers whose tokens FLASHSALE_WRK_BUYERS lists (set by ``main``)."""
    cmd = wrk_command(api.url, f"/sales/{sale}/purchases", CONNECTIONS, RUSH_S, tag)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), time.monotonic()


def sold(r: redis.Redis, sale: str) -> int:
    return int(r.hget(sale_keys(sale).sale, "sold") or 0)


def order_span_s(r: redis.Redis, sale: str) -> tuple[float, int]:
    """Seconds from the first to the last order (Redis clock, the ledger's created_ms), and the last one's ms."""
    first = r.xrange(sale_keys(sale).orders, count=1)
    last = r.xrevrange(sale_keys(sale).orders, count=1)
    a, b = int(first[0][1]["created_ms"]), int(last[0][1]["created_ms"])
    return max((b - a) / 1000, 1e-3), b


def redis_now_ms(r: redis.Redis) -> int:
    seconds, micros = r.time()
    return int(seconds) * 1000 + int(micros) // 1000


def rush(api: LocalServer, r: redis.Redis, db: str, redis_url: str) -> dict[str, Any]:
    sale = f"export-rush-{uuid.uuid4().hex[:6]}"
    create(api, sale, RUSH_UNITS)
    env = {"FLASHSALE_EXPORT_CLAIM_IDLE_MS": str(CLAIM_IDLE_MS), "FLASHSALE_LOG_LEVEL": "WARNING"}
    first = ExporterProcess(redis_url, db, **env).start()
    second: ExporterProcess | None = None
    samples: list[tuple[float, float, float]] = []
    killed_at = 0
    pending_at_kill = 0
    wrk_out = ""
    try:
        started = time.monotonic()
        current = first
        while sold(r, sale) < RUSH_UNITS and time.monotonic() - started < 5 * RUSH_S:
            wrk, _ = sell(api, sale, "rush-" + uuid.uuid4().hex[:6])
            while wrk.poll() is None:
                n = sold(r, sale)
                if second is None and n >= KILL_AT:
                    pending_at_kill = int(r.xpending(sale_keys(sale).orders, EXPORT_GROUP)["pending"])
                    first.kill(signal.SIGKILL)
                    killed_at = n
                    second = ExporterProcess(redis_url, db, **env).start()
                    current = second
                entries, seconds = lag(current, sale)
                samples.append((time.monotonic() - started, entries, seconds))
                if n >= RUSH_UNITS:
                    wrk.send_signal(signal.SIGINT)  # sold out: the rest would be 409s
                time.sleep(0.1)
            wrk_out, _ = wrk.communicate(timeout=30)
        assert second is not None, "the sale sold fewer than KILL_AT units"
        span_s, last_ms = order_span_s(r, sale)
        wait(lambda: backlog(r, sale) == 0, 120, "rush exported")
        drained_ms = redis_now_ms(r)
        wait(lambda: lag(second, sale) == (0.0, 0.0), 30, "lag gauges at 0")
        in_db, in_redis = db_ids(db, sale), ledger_ids(r, sale)
    finally:
        first.kill()
        if second is not None:
            second.stop()
    with contextlib.suppress(RuntimeError):
        parse_wrk(wrk_out)
    return {
        "sale": sale,
        "sold": sold(r, sale),
        "purchase_rate_per_s": round(RUSH_UNITS / span_s),
        "exporter_killed_at_sold": killed_at,
        "pending_at_kill": pending_at_kill,
        "lag_entries_max": max(s[1] for s in samples),
        "lag_seconds_max": max(s[2] for s in samples),
        "lag_zero_after_last_sale_s": round(max(0, drained_ms - last_ms) / 1000, 2),
        "in_postgres": len(in_db),
        "distinct_in_postgres": len(set(in_db)),
        "in_redis_ledger": len(in_redis),
        "duplicates": len(in_db) - len(set(in_db)),
        "lost": len(set(in_redis) - set(in_db)),
        "extra": len(set(in_db) - set(in_redis)),
        "exact": sorted(in_db) == sorted(in_redis),
        "lag_samples": [[round(t, 2), e, round(s, 2)] for t, e, s in samples],
    }


def throughput(api: LocalServer, r: redis.Redis, db: str, redis_url: str) -> dict[str, Any]:
    sale = f"export-backlog-{uuid.uuid4().hex[:6]}"
    create(api, sale, BACKLOG_UNITS)  # the API has FLASHSALE_DATABASE_URL: the export group exists already
    deadline = time.monotonic() + 3 * RUSH_S
    while sold(r, sale) < BACKLOG_UNITS and time.monotonic() < deadline:
        wrk, _ = sell(api, sale, "backlog-" + uuid.uuid4().hex[:6])
        while wrk.poll() is None:
            if sold(r, sale) >= BACKLOG_UNITS:
                wrk.send_signal(signal.SIGINT)
            time.sleep(0.1)
        wrk.communicate(timeout=30)
    units = sold(r, sale)
    exporter = ExporterProcess(redis_url, db, FLASHSALE_LOG_LEVEL="WARNING")
    launched = time.monotonic()
    exporter.start()  # returns once /metrics answers: imports done, migrations applied
    start = time.monotonic()
    try:
        wait(lambda: backlog(r, sale) == 0, 300, "backlog exported")
        elapsed = time.monotonic() - start
        cpu = _cpu_s(exporter)
    finally:
        exporter.stop()
    in_db = db_ids(db, sale)
    return {
        "sale": sale,
        "backlog": units,
        "seconds": round(elapsed, 2),
        "start_up_s": round(start - launched, 2),
        "orders_per_s": round(units / elapsed),
        "orders_per_s_including_start_up": round(units / (elapsed + start - launched)),
        "exporter_cpu_s": cpu,
        "in_postgres": len(in_db),
        "duplicates": len(in_db) - len(set(in_db)),
    }


def _cpu_s(exporter: ExporterProcess) -> float | None:
    if exporter.process is None:
        return None
    try:
        with open(f"/proc/{exporter.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, IndexError, ValueError):
        return None


def create(api: LocalServer, sale: str, stock: int) -> None:
    r = httpx.post(
        api.url + "/admin/sales",
        json={"sale_id": sale, "name": "export bench", "stock": stock},
        headers={"Authorization": f"Bearer {api.admin_token}"},
        timeout=10,
    )
    r.raise_for_status()


def main() -> int:
    postgres = PostgresProcess().start()
    try:
        db = new_database(postgres.url)
        subprocess.run(
            [sys.executable, "-m", "flashsale", "db", "upgrade"],
            check=True,
            capture_output=True,
            env={**os.environ, "FLASHSALE_DATABASE_URL": db},
        )
        with EmbeddedRedis() as embedded, tempfile.TemporaryDirectory(prefix="flashsale-export-bench-") as private:
            r = redis.Redis.from_url(embedded.url, decode_responses=True)
            # Demo mode: buyers are the demo issuer's, whose key file this process mints their tokens with.
            api = LocalServer(embedded.url, workers=2, env={"FLASHSALE_DATABASE_URL": db, "FLASHSALE_DEMO": "true"})
            api.start()
            try:
                buyers = Path(private) / "buyers.tsv"
                mint_file(buyers, api.env["FLASHSALE_DEMO_ISSUER_KEY"], BUYERS, f"export-{uuid.uuid4().hex[:6]}")
                os.environ[WRK_BUYERS_ENV] = str(buyers)  # the wrk processes inherit it
                phase1 = rush(api, r, db, embedded.url)
                phase2 = throughput(api, r, db, embedded.url)
            finally:
                api.stop()
                r.close()
    finally:
        postgres.cleanup()
    result = {
        "rush": phase1,
        "throughput": phase2,
        "export_vs_purchase_rate": round(phase2["orders_per_s"] / phase1["purchase_rate_per_s"], 2),
        "targets": {
            "export_throughput_at_least_purchase_rate": phase2["orders_per_s"] >= phase1["purchase_rate_per_s"],
            "exactly_once_with_exporter_sigkill": phase1["exact"] and phase1["duplicates"] == 0,
        },
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(result, indent=2) + "\n")
    p1 = phase1
    print(
        f"rush: {p1['sold']} sold through 2 workers at {p1['purchase_rate_per_s']} orders/s; exporter SIGKILLed "
        f"at {p1['exporter_killed_at_sold']} sold ({p1['pending_at_kill']} entries pending on it) and replaced; "
        f"lag max {p1['lag_entries_max']:.0f} entries / "
        f"{p1['lag_seconds_max']:.2f} s; lag 0 {p1['lag_zero_after_last_sale_s']} s after the last sale"
    )
    print(
        f"rush: PostgreSQL {p1['in_postgres']} rows for {p1['in_redis_ledger']} ledger orders: duplicates "
        f"{p1['duplicates']}, lost {p1['lost']}, extra {p1['extra']}, exact={p1['exact']}"
    )
    print(
        f"throughput: {phase2['backlog']} orders exported in {phase2['seconds']} s = {phase2['orders_per_s']} "
        f"orders/s ({result['export_vs_purchase_rate']}x the 2-worker purchase rate; "
        f"{phase2['orders_per_s_including_start_up']}/s counting the {phase2['start_up_s']} s start-up); "
        f"exporter CPU {phase2['exporter_cpu_s']} s"
    )
    print(f"wrote {REPORT}")
    return 0 if all(result["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
