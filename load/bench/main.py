"""``python -m load.bench``: where the purchase path stands against its ceilings, in one run.

It starts its own Redis (EmbeddedRedis) and API servers (LocalServer, FLASHSALE_BENCH_ROUTES=true), drives
them with wrk (one thread, load/wrk/purchase.lua: a fresh buyer id and Idempotency-Key per request) and
writes load/reports/bench.json, bench.md and bench.png. Every figure is the median of ``--repeats`` runs of
``--duration`` seconds after a ``--warmup`` run; the figures compared with each other are measured
interleaved (server A purchase, A bare, B purchase, C purchase, A purchase, ...) with all their servers up,
so that background load on the machine hits them alike.

Measured, side by side:
* "telemetry on" as compose runs it (the headline): Prometheus metrics, the per-attempt JSON log line at
  INFO, and traces exported over OTLP/HTTP to a real receiver on loopback (``receiver.py``) that decodes
  every export and counts the spans; against the same server without traces and with all telemetry off;
* the hold route (``POST /sales/{id}/holds``, a new buyer and Idempotency-Key per request, on a sale whose holds
  outlive the run) interleaved with the purchase route on the headline server, and Redis commands per hold;
* the purchase route and the bare reference route (the framework ceiling) at each connection count, with
  uvicorn 1 worker (the headline configuration), uvicorn 2 workers and granian 1 worker;
* the Redis ceiling: redis-benchmark running the purchase script by EVALSHA;
* the sold-out phase (the purchase route once the stock is gone), with and without the sold-out memo;
* Redis commands per purchase from INFO commandstats deltas, and a MONITOR sample that tells the commands
  the API sent from those the script ran inside Redis;
* CPU microseconds per request of the API processes (server, workers and span exporter processes), of Redis
  and the share of the machine used by other processes during the run (the noise);
* with ``--profile`` (default on): py-spy on the traced worker and its exporter process during a purchase run.
Timing targets are reported (met / missed), never asserted; the exit code is 1 only when a sale was oversold
or an audit failed. Waiting for a quiet machine is bounded (10 s a time, 60 s in all); what other processes
used during each run is reported instead.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from flashsale import timefmt
from load.bench.common import CORES, HOLD_TTL_S, HUGE_STOCK, REPORTS, SOLDOUT_STOCK, cpu_model
from load.bench.measuring import ROUTE_PATHS, Bench, Config, api_stack, run_wrk
from load.bench.profiling import profile
from load.bench.redis_stats import monitor_sample, redis_ceiling
from load.bench.reporting import diagnose, fmt, markdown, plot, ratio, target_rows, versions

CONFIGS = {
    "uvicorn-1": Config("uvicorn-1", "uvicorn, 1 worker (telemetry on)", traced=True),
    "untraced": Config("untraced", "uvicorn, 1 worker, no traces"),
    "telemetry-off": Config(
        "telemetry-off", "uvicorn, 1 worker, telemetry off", env=(("FLASHSALE_TELEMETRY", "false"),)
    ),
    "uvicorn-2": Config("uvicorn-2", "uvicorn, 2 workers (telemetry on)", workers=2, traced=True),
    "granian-1": Config("granian-1", "granian, 1 worker (telemetry on)", server="granian", traced=True),
    "memo-off": Config(
        "memo-off", "uvicorn, 1 worker, sold-out memo off", traced=True, env=(("FLASHSALE_SOLDOUT_CACHE_MS", "0"),)
    ),
}
"""Telemetry on means as compose runs it: metrics, the per-attempt log line and traces to a collector."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m load.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measured run (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per figure (default 1)")
    p.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    p.add_argument("--connections", default="50,200", help="comma-separated connection counts (default 50,200)")
    p.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="py-spy the worker during a purchase run (default on)",
    )
    p.add_argument("--profile-seconds", type=float, default=5.0)
    p.add_argument("--reports", type=Path, default=REPORTS)
    args = p.parse_args(argv)
    args.connections = sorted({int(c) for c in args.connections.split(",")})
    if 50 not in args.connections:
        p.error("--connections must include 50 (the headline)")
    if not (1 <= args.repeats <= 9 and 1 <= args.duration <= 60 and 1 <= args.warmup <= 30):
        p.error("bounds: 1..9 repeats, 1..60 s per run, 1..30 s warm-up")
    for tool in ("wrk", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            p.error(f"{tool} not found (Debian: apt-get install wrk redis-tools; `make system-deps`)")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    from flashsale.embedded import EmbeddedRedis

    bench = Bench(args)
    reports: Path = args.reports
    reports.mkdir(parents=True, exist_ok=True)
    conns = args.connections
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    bench.say(f"{CORES} cores, load average {loadavg}; {args.repeats} x {args.duration:g} s per figure")
    result: dict[str, Any] = {}
    with EmbeddedRedis() as redis:
        with (
            api_stack(redis, CONFIGS["uvicorn-1"], reports) as traced,
            api_stack(redis, CONFIGS["untraced"], reports, flush=False) as untraced,
            api_stack(redis, CONFIGS["telemetry-off"], reports, flush=False) as off,
        ):
            traced.create_sale("purchase", HUGE_STOCK)
            traced.create_sale("bare", HUGE_STOCK)
            traced.create_sale("soldout", SOLDOUT_STOCK)
            traced.create_sale("hold", HUGE_STOCK, hold_ttl_s=HOLD_TTL_S)
            untraced.create_sale("purchase", HUGE_STOCK)
            off.create_sale("purchase", HUGE_STOCK)
            bench.measure_interleaved(
                [(traced, "purchase"), (traced, "bare"), (untraced, "purchase"), (off, "purchase"), (traced, "hold")],
                [50],
            )
            bench.measure_interleaved([(traced, "purchase"), (traced, "bare")], [c for c in conns if c != 50])
            bench.measure_config(traced, ["soldout"], [50])
            sample: dict[str, Any] = monitor_sample(
                traced.redis_port,
                traced.sales["purchase"],
                lambda: run_wrk(
                    traced.server.url, ROUTE_PATHS["purchase"].format(sale=traced.sales["purchase"]), 10, 1.0
                ),
            )
            bench.extra["monitor_sample"] = sample
            bench.say(f"MONITOR sample: {sample['client_commands']} for {sample['orders']} purchases")
            hold_sample: dict[str, Any] = monitor_sample(
                traced.redis_port,
                traced.sales["hold"],
                lambda: run_wrk(traced.server.url, ROUTE_PATHS["hold"].format(sale=traced.sales["hold"]), 10, 1.0),
                "holds",
            )
            bench.extra["monitor_sample_hold"] = hold_sample
            bench.say(f"MONITOR sample: {hold_sample['client_commands']} for {hold_sample['holds']} holds")
            if args.profile:
                bench.extra["profile"] = profile(traced, args.profile_seconds, reports)
                bench.say("profile: " + bench.extra["profile"].get("error", "done"))
        with api_stack(redis, CONFIGS["uvicorn-2"], reports) as stack:
            stack.create_sale("purchase", HUGE_STOCK)
            stack.create_sale("bare", HUGE_STOCK)
            bench.measure_config(stack, ["purchase", "bare"], conns)
        with api_stack(redis, CONFIGS["granian-1"], reports) as stack:
            stack.create_sale("purchase", HUGE_STOCK)
            stack.create_sale("bare", HUGE_STOCK)
            bench.measure_config(stack, ["purchase", "bare"], [50])
        with api_stack(redis, CONFIGS["memo-off"], reports) as stack:
            stack.create_sale("soldout", SOLDOUT_STOCK)
            bench.measure_config(stack, ["soldout"], [50])
        rb = redis_ceiling(redis, args.repeats, args.duration)
        bench.say(f"redis-benchmark EVALSHA purchase.lua: {rb['rps']:,.0f} req/s")

    f = bench.find
    purchase, bare = f("uvicorn-1", "purchase", 50), f("uvicorn-1", "bare", 50)
    purchase200, bare200 = f("uvicorn-1", "purchase", 200), f("uvicorn-1", "bare", 200)
    soldout, soldout_nomemo = f("uvicorn-1", "soldout", 50), f("memo-off", "soldout", 50)
    no_traces, tel_off = f("untraced", "purchase", 50), f("telemetry-off", "purchase", 50)
    hold = f("uvicorn-1", "hold", 50)
    assert purchase and bare and soldout and tel_off and no_traces and hold
    traced_figures = [x for x in bench.figures if x.get("traced") and x["route"] != "bare"]
    oversold = max(x["oversold"] for x in bench.figures)
    audits_ok = all(x["audit_ok"] for x in bench.figures)
    soldout_sold_ok = all(
        r["audit"]["sold"] == SOLDOUT_STOCK for x in bench.figures if x["route"] == "soldout" for r in x["runs"]
    )
    result.update(
        {
            "generated_at": timefmt.now(),
            "duration_total_s": 0.0,
            "machine": {
                "cores": CORES,
                "cpu_model": cpu_model(),
                "loadavg_start": loadavg,
                "platform": platform.platform(),
            },
            "versions": versions(),
            "method": {
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "repeats": args.repeats,
                "connections": conns,
                "wrk_threads": 1,
                "statistic": "median of the runs",
            },
            "headline": "uvicorn, 1 worker, telemetry on (metrics, per-attempt log line at INFO, traces over OTLP/HTTP "
            "to a loopback receiver), 50 connections, purchase route (bare: same server, bare route)",
            "purchase_rps": purchase["rps"],
            "bare_rps": bare["rps"],
            "purchase_vs_bare": ratio(purchase["rps"], bare["rps"]),
            "purchase_vs_bare_by_cpu": ratio(bare["api_cpu_us_per_request"], purchase["api_cpu_us_per_request"]),
            "soldout_rps": soldout["rps"],
            "soldout_vs_bare": ratio(soldout["rps"], bare["rps"]),
            "soldout_rps_without_memo": soldout_nomemo["rps"] if soldout_nomemo else None,
            "redis_ceiling_rps": rb["rps"],
            "redis_commands_per_purchase": sample["request_commands_per_purchase"],
            "redis_commands_per_purchase_commandstats": purchase["client_commands_per_purchase"],
            "commands": {
                k: purchase[k]
                for k in ("evalsha_per_purchase", "commands_per_purchase_all", "client_commands_per_purchase")
            },
            "p99_ms": purchase["p99_ms"],
            "p50_ms": purchase["p50_ms"],
            "p95_ms": purchase["p95_ms"],
            "p99_ms_200": purchase200["p99_ms"] if purchase200 else None,
            "bare_p99_ms_200": bare200["p99_ms"] if bare200 else None,
            "p99_200_vs_bare": ratio(purchase200["p99_ms"], bare200["p99_ms"]) if purchase200 and bare200 else None,
            "cpu_us_per_purchase": purchase["api_cpu_us_per_request"],
            "cpu_us_per_bare": bare["api_cpu_us_per_request"],
            "traced_rps": purchase["rps"],
            "untraced_rps": no_traces["rps"],
            "traced_vs_untraced": ratio(purchase["rps"], no_traces["rps"]),
            "traced_vs_untraced_by_cpu": ratio(no_traces["api_cpu_us_per_request"], purchase["api_cpu_us_per_request"]),
            "traced_p99_ms": purchase["p99_ms"],
            "untraced_p99_ms": no_traces["p99_ms"],
            "cpu_us_per_purchase_untraced": no_traces["api_cpu_us_per_request"],
            "spans_per_attempt": purchase.get("spans_per_attempt"),
            "spans_received": sum(x.get("spans_received", 0) for x in traced_figures),
            "spans_dropped": sum(x.get("spans_dropped", 0) for x in traced_figures),
            "exporter_cpu_us_per_span": purchase.get("exporter_cpu_us_per_span"),
            "exporter_cpu_cores": purchase.get("exporter_cpu_cores"),
            "purchase_rps_telemetry_off": tel_off["rps"],
            "telemetry_off_p99_ms": tel_off["p99_ms"],
            "cpu_us_per_purchase_telemetry_off": tel_off["api_cpu_us_per_request"],
            "telemetry_overhead_ratio": ratio(purchase["rps"], tel_off["rps"]),
            "telemetry_overhead_ratio_by_cpu": ratio(
                tel_off["api_cpu_us_per_request"], purchase["api_cpu_us_per_request"]
            ),
            "untraced_vs_off": ratio(no_traces["rps"], tel_off["rps"]),
            "soldout_vs_bare_by_cpu": ratio(bare["api_cpu_us_per_request"], soldout["api_cpu_us_per_request"]),
            "hold_ttl_s": HOLD_TTL_S,
            "hold_rps": hold["rps"],
            "hold_vs_purchase": ratio(hold["rps"], purchase["rps"]),
            "hold_vs_purchase_by_cpu": ratio(purchase["api_cpu_us_per_request"], hold["api_cpu_us_per_request"]),
            "hold_p99_ms": hold["p99_ms"],
            "hold_p50_ms": hold["p50_ms"],
            "cpu_us_per_hold": hold["api_cpu_us_per_request"],
            "redis_cpu_us_per_hold": hold["redis_cpu_us_per_request"],
            "redis_cpu_us_per_purchase": purchase["redis_cpu_us_per_request"],
            "redis_commands_per_hold": hold_sample["request_commands_per_hold"],
            "redis_commands_per_hold_commandstats": hold["client_commands_per_purchase"],
            "hold_spans_per_attempt": hold.get("spans_per_attempt"),
            "oversold": oversold,
            "audits_ok": audits_ok and soldout_sold_ok,
            "noisy_figures": [
                f"{x['label']} {x['route']} c={x['connections']}"
                for x in bench.figures
                if x["background_cpu_cores"] > 0.2
            ],
            "quiet_waited_s": round(bench.quiet_waited_s, 1),
            "quiet_gave_up": bench.quiet_gave_up,
            "noise_retries_used": 4 - bench.retries_left,
            "redis_benchmark": rb,
            "figures": bench.figures,
            **bench.extra,
        }
    )
    result["targets"] = target_rows(result)
    result["diagnosis"] = diagnose(result)
    result["duration_total_s"] = round(time.monotonic() - bench.started, 1)
    result["_find"] = bench.find
    (reports / "bench.md").write_text(markdown(result))
    plot(result, reports / "bench.png")
    del result["_find"]
    (reports / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    bench.say(f"wrote {reports / 'bench.json'}, bench.md, bench.png")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    for t in result["targets"]:
        status = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
        print(f"  {status:6} {t['label']}: {fmt(t['value'], 3)} ({t['by']})")
    print(
        f"bench: total {result['duration_total_s']:.0f} s; purchase {result['purchase_rps']:,.0f} req/s, "
        f"bare {result['bare_rps']:,.0f} req/s, p99 {result['p99_ms']:.2f} ms, oversold {result['oversold']}"
    )
    return 0 if result["oversold"] == 0 and result["audits_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
