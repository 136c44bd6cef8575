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
* the purchase route and the bare reference route (the framework ceiling) at each connection count (50, 200
  and 1,000 by default), with uvicorn 1 worker (the headline configuration), uvicorn 2 workers and granian
  1 worker, with the answers that took 2 s or more counted and the purchases served per second apart from
  the early refusals (issue 25);
* an open-loop run of the purchase route (openloop.py) at 50, 70 and 90 % of the closed-loop maximum: the
  p99 at 70 % is the latency headline; the closed-loop p99 at 50 connections is only a ratio to its p50;
* the cost of a refusal by the in-flight budget: a server whose budget is 1, interleaved with the headline;
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
from flashsale.settings import Settings
from load.bench.common import (
    CORES,
    HOLD_TTL_S,
    HUGE_STOCK,
    REPORTS,
    SOLDOUT_STOCK,
    cpu_model,
    machine_busy_s,
    median,
    own_cpu_s,
    tree_cpu_s,
)
from load.bench.measuring import ROUTE_PATHS, Bench, Config, Stack, api_stack, request_factory, run_wrk
from load.bench.openloop import run_open_loop
from load.bench.profiling import profile
from load.bench.redis_stats import client, monitor_sample, redis_ceiling, redis_command
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
    "refusal": Config(
        "refusal",
        "uvicorn, 1 worker (telemetry on), in-flight budget 1 held by a purchase Redis keeps waiting",
        traced=True,
        env=(("FLASHSALE_MAX_IN_FLIGHT", "1"), ("FLASHSALE_REDIS_TIMEOUT_MS", "60000")),
    ),
}
REFUSAL_CONNECTIONS = 2000
"""Connections of the refusal-cost run: each is refused, then not read for Retry-After (1 s), so about this many
refusals a second."""
"""Telemetry on means as compose runs it: metrics, the per-attempt log line and traces to a collector."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m load.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measured run (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per figure (default 1)")
    p.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    p.add_argument(
        "--connections", default="50,200,1000", help="comma-separated connection counts (default 50,200,1000)"
    )
    p.add_argument(
        "--open-loop",
        default="0.5,0.7,0.9",
        help="open-loop arrival rates as fractions of the measured maximum (default 0.5,0.7,0.9; empty: none)",
    )
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
    if 50 not in args.connections or not all(1 <= c <= 5000 for c in args.connections):
        p.error("--connections must include 50 (the headline), each 1..5000")
    args.open_loop = [float(f) for f in args.open_loop.split(",") if f.strip()]
    if not all(0.05 <= f <= 1.0 for f in args.open_loop):
        p.error("--open-loop fractions: 0.05..1.0")
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
                [
                    (traced, "purchase"),
                    (traced, "bare"),
                    (untraced, "purchase"),
                    (off, "purchase"),
                    (traced, "hold"),
                ],
                [50],
            )
            bench.measure_interleaved([(traced, "purchase"), (traced, "bare")], [c for c in conns if c != 50])
            if args.open_loop:
                closed = [f for c in conns if (f := bench.find("uvicorn-1", "purchase", c))]
                bench.extra["open_loop"] = open_loop_runs(bench, traced, max(f["served_rps"] for f in closed))
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
            bench.measure_config(stack, ["purchase", "bare"], conns)
        with api_stack(redis, CONFIGS["memo-off"], reports) as stack:
            stack.create_sale("soldout", SOLDOUT_STOCK)
            bench.measure_config(stack, ["soldout"], [50])
        with EmbeddedRedis() as own, api_stack(own, CONFIGS["refusal"], reports) as stack:
            bench.extra["refusal"] = refusal_cost(bench, stack)
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
            "max_in_flight": Settings.from_env({}).max_in_flight,
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
            **answered_figures(bench, conns, purchase),
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


def open_loop_runs(bench: Bench, stack: Stack, max_rps: float) -> dict[str, Any]:
    """The purchase route at constant arrival rates (fractions of the closed-loop maximum), interleaved and
    repeated like the closed-loop figures; each fraction's median p99 (openloop.py says why it is open)."""
    a = bench.args
    runs: dict[float, list[dict[str, Any]]] = {f: [] for f in a.open_loop}
    sale = stack.sales["purchase"]
    bench.wait_quiet_machine()
    for round_ in range(a.repeats):
        for fraction in a.open_loop:
            rate = round(max_rps * fraction)
            busy0, own0, t0 = machine_busy_s(), own_cpu_s(), time.monotonic()
            server0 = tree_cpu_s(stack.server.process.pid)
            run = run_open_loop(
                stack.server.url,
                request_factory("purchase", sale, f"ol{round_}{fraction}", stack.tokens),
                rate,
                a.duration,
            )
            elapsed = time.monotonic() - t0
            server_cpu = tree_cpu_s(stack.server.process.pid) - server0
            own = own_cpu_s() - own0
            run["generator_cpu_cores"] = round(own / elapsed, 2)
            run["background_cpu_cores"] = round(max(0.0, machine_busy_s() - busy0 - server_cpu - own) / elapsed, 2)
            runs[fraction].append(run)
            bench.say(
                f"open loop {fraction:.0%} of {max_rps:,.0f} = {rate:,} req/s: p50 {run['p50_ms']:.2f}  p99 "
                f"{run['p99_ms']:.2f}  p99.9 {run['p999_ms']:.2f} ms, {run['unanswered']} unanswered after 2 s, "
                f"generator late p99 {run['send_lag_p99_ms']:.2f} ms, bg {run['background_cpu_cores']:.2f} cores"
            )
    summary = []
    for fraction, done in runs.items():
        summary.append(
            {
                "fraction": fraction,
                "rate": round(max_rps * fraction),
                **{k: median([r[k] for r in done]) for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")},
                "achieved_rps": median([r["achieved_rps"] for r in done]),
                "unanswered": sum(r["unanswered"] for r in done),
                "statuses": {
                    c: sum(r["statuses"].get(c, 0) for r in done) for c in {c for r in done for c in r["statuses"]}
                },
                "send_lag_p99_ms": max(r["send_lag_p99_ms"] for r in done),
                "generator_cpu_cores": median([r["generator_cpu_cores"] for r in done]),
                "background_cpu_cores": median([r["background_cpu_cores"] for r in done]),
                "p99_ms_runs": [r["p99_ms"] for r in done],
            }
        )
    return {"max_rps": max_rps, "duration_s": a.duration, "runs": summary}


def blocked_clients(port: int) -> int:
    with client(port) as r:
        return int(r.info("clients")["blocked_clients"])


def refusal_cost(bench: Bench, stack: Stack) -> dict[str, Any]:
    """API CPU per request refused by the in-flight budget.

    The server's budget is 1 and one purchase holds it: its Redis (the server's own) pauses writes, and the
    server's Redis deadline is 60 s. Every other request is then refused, and a refused connection is read again
    only after Retry-After (1 s), so wrk with C connections makes about C refusals a second. Each repeat runs
    wrk with REFUSAL_CONNECTIONS and with a quarter of them: the cost of a refusal is the difference in server
    CPU over the difference in refusals, so what the server spends anyway (its background tasks, the span
    exporter process, open connections) cancels out."""
    import threading

    import httpx

    a = bench.args
    sale = stack.create_sale("refused", HUGE_STOCK)
    path = ROUTE_PATHS["purchase"].format(sale=sale)
    pause_ms = int((a.duration * 2 + 2) * (a.repeats + 1) * 1000) + 10_000
    redis_command(stack.redis_port, "CLIENT", "PAUSE", str(pause_ms), "WRITE")
    holder = threading.Thread(
        target=lambda: httpx.post(
            stack.server.url + path,
            json={"quantity": 1},
            headers={"Idempotency-Key": "refusal-holder-0001", "Authorization": f"Bearer {stack.tokens[0]}"},
            timeout=pause_ms / 1000 + 30,
        ),
        daemon=True,
    )
    holder.start()
    deadline = time.monotonic() + 10
    while blocked_clients(stack.redis_port) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = stack.server.process.pid

    def load(connections: int) -> tuple[float, int]:
        cpu0 = tree_cpu_s(pid)
        wrk = run_wrk(stack.server.url, path, connections, a.duration)
        return tree_cpu_s(pid) - cpu0, int(wrk["statuses"].get("503", 0))

    runs = []
    try:
        load(REFUSAL_CONNECTIONS)  # warm-up
        for _ in range(a.repeats):
            low_cpu, low = load(REFUSAL_CONNECTIONS // 4)
            high_cpu, high = load(REFUSAL_CONNECTIONS)
            cost = (high_cpu - low_cpu) / max(1, high - low) * 1e6
            runs.append(
                {
                    "refusals_low": low,
                    "refusals_high": high,
                    "cpu_s_low": round(low_cpu, 4),
                    "cpu_s_high": round(high_cpu, 4),
                    "cpu_us_per_refusal": round(cost, 1),
                }
            )
            bench.say(
                f"refusal cost: {high} refusals with {REFUSAL_CONNECTIONS} connections ({high_cpu:.2f} s of API "
                f"CPU), {low} with {REFUSAL_CONNECTIONS // 4} ({low_cpu:.2f} s): {cost:.1f} µs per refusal"
            )
    finally:
        redis_command(stack.redis_port, "CLIENT", "UNPAUSE")
        holder.join(timeout=30)
    return {
        "connections": REFUSAL_CONNECTIONS,
        "cpu_us_per_refusal": median([r["cpu_us_per_refusal"] for r in runs]),
        "runs": runs,
    }


def answered_figures(bench: Bench, conns: list[int], purchase: dict[str, Any]) -> dict[str, Any]:
    """Issue 25's figures: answers after 2 s, p99/p50, served rate under many connections, refusal cost."""
    f = bench.find
    out: dict[str, Any] = {}
    for c in conns:
        rows = [x for x in (f("uvicorn-1", "purchase", c), f("uvicorn-1", "bare", c)) if x]
        out[f"unanswered_2s_{c}"] = sum(x["unanswered_2s"] for x in rows) if rows else None
    p200 = f("uvicorn-1", "purchase", 200)
    p1000 = f("uvicorn-1", "purchase", 1000)
    out["p99_vs_p50_50"] = ratio(purchase["p99_ms"], purchase["p50_ms"])
    out["p99_vs_p50_200"] = ratio(p200["p99_ms"], p200["p50_ms"]) if p200 else None
    out["served_1000_vs_50"] = ratio(p1000["served_rps"], purchase["served_rps"]) if p1000 else None
    out["served_rps_1000"] = p1000["served_rps"] if p1000 else None
    out["refused_share_1000"] = (
        round(sum(r["answered_503"] for r in p1000["runs"]) / max(1, sum(r["requests"] for r in p1000["runs"])), 3)
        if p1000
        else None
    )
    refusal = bench.extra.get("refusal") or {}
    out["cpu_us_per_refusal"] = refusal.get("cpu_us_per_refusal")
    out["refusal_vs_purchase_cpu"] = ratio(out["cpu_us_per_refusal"], purchase["api_cpu_us_per_request"])
    ol = bench.extra.get("open_loop")
    if ol:
        by = {r["fraction"]: r for r in ol["runs"]}
        out["open_loop_p99_ms_70"] = by[0.7]["p99_ms"] if 0.7 in by else None
    return out


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
