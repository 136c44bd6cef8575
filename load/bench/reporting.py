"""Reporting: targets, diagnosis computed from this run, bench.md and bench.png."""

from __future__ import annotations

import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from load.bench.common import NOISY_CORES, TARGETS

# -- versions and the report --------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name, dist in (
        ("litestar", "litestar"),
        ("redis-py", "redis"),
        ("hiredis", "hiredis"),
        ("uvicorn", "uvicorn"),
        ("granian", "granian"),
        ("uvloop", "uvloop"),
        ("httptools", "httptools"),
        ("msgspec", "msgspec"),
        ("prometheus-client", "prometheus-client"),
        ("opentelemetry-sdk", "opentelemetry-sdk"),
        ("opentelemetry-proto", "opentelemetry-proto"),
        ("locust", "locust"),
        ("flashsale", "flashsale"),
    ):
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    from flashsale.embedded import find_redis_server

    for name, command in (("redis-server", [find_redis_server(), "--version"]), ("wrk", ["wrk", "--version"])):
        try:
            text = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
            found = re.search(r"v=(\S+)|wrk (\S+)", text.stdout + text.stderr)
            out[name] = next(g for g in found.groups() if g) if found else "unknown"
        except OSError:
            out[name] = "not found"
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def target_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    def row(name: str, label: str, value: float | None, threshold: float, kind: str, unit: str = "") -> dict[str, Any]:
        if value is None:
            return {"target": name, "label": label, "value": None, "threshold": threshold, "met": None, "by": "n/a"}
        if kind == ">=":
            met, gap = value >= threshold, value - threshold
        elif kind == "<":
            met, gap = value < threshold, threshold - value
        elif kind == "<=":
            met, gap = value <= threshold, threshold - value
        else:
            met, gap = abs(value - threshold) < 1e-9, -abs(value - threshold)
        verb = "met" if met else "missed"
        by = f"{verb} by {abs(gap):.3g}{unit}" if gap else "exactly"
        if kind in (">=",) and not met and value:
            by += f" (needs {threshold / value - 1:+.0%})"
        return {
            "target": name,
            "label": label,
            "value": value,
            "threshold": threshold,
            "kind": kind,
            "met": met,
            "by": by,
        }

    def info(name: str, label: str, value: float | None) -> dict[str, Any]:
        return {"target": name, "label": label, "value": value, "threshold": None, "met": None, "by": "reported"}

    return [
        row(
            "purchase_vs_bare",
            "purchase path ≥ 0.8 x bare endpoint (req/s)",
            result["purchase_vs_bare"],
            TARGETS["purchase_vs_bare"],
            ">=",
        ),
        row(
            "soldout_vs_bare",
            "sold-out phase ≥ 1.0 x bare endpoint (req/s)",
            result["soldout_vs_bare"],
            TARGETS["soldout_vs_bare"],
            ">=",
        ),
        row(
            "redis_commands_per_purchase",
            "exactly 1 Redis command per purchase (MONITOR, background reaper apart)",
            result["redis_commands_per_purchase"],
            TARGETS["redis_commands_per_purchase"],
            "==",
        ),
        row(
            "redis_commands_per_hold",
            "exactly 1 Redis command per hold (MONITOR, background reaper apart)",
            result.get("redis_commands_per_hold"),
            TARGETS["redis_commands_per_hold"],
            "==",
        ),
        row(
            "open_loop_p99_ms_70",
            "open-loop p99 at 70 % of the measured maximum < 10 ms (the latency headline)",
            result.get("open_loop_p99_ms_70"),
            TARGETS["open_loop_p99_ms_70"],
            "<",
            " ms",
        ),
        *(
            row(
                f"unanswered_2s_{c}",
                f"answers after 2 s or more at {c} connections (purchase and bare) = 0",
                result.get(f"unanswered_2s_{c}"),
                TARGETS["unanswered_2s"],
                "==",
            )
            for c in (200, 1000)
        ),
        row(
            "p99_vs_p50_200",
            "p99 / p50 at 200 connections ≤ 3 (purchase)",
            result.get("p99_vs_p50_200"),
            TARGETS["p99_vs_p50_200"],
            "<=",
        ),
        row(
            "refusal_vs_purchase_cpu",
            "a refused-early 503 ≤ 0.2 x a purchase's API CPU",
            result.get("refusal_vs_purchase_cpu"),
            TARGETS["refusal_vs_purchase_cpu"],
            "<=",
        ),
        info(
            "p99_vs_p50_50",
            "closed-loop p99 / p50 at 50 connections (reported, no target: wrk waits for answers)",
            result.get("p99_vs_p50_50"),
        ),
        info(
            "served_1000_vs_50",
            "purchases served per second at 1,000 connections / at 50 (reported)",
            result.get("served_1000_vs_50"),
        ),
        row(
            "p99_200_vs_bare",
            "p99 at 200 connections ≤ 2 x bare's p99",
            result["p99_200_vs_bare"],
            TARGETS["p99_200_vs_bare"],
            "<=",
        ),
        row(
            "telemetry_overhead_ratio",
            "telemetry on / off ≥ 0.85 (req/s)",
            result["telemetry_overhead_ratio"],
            TARGETS["telemetry_overhead_ratio"],
            ">=",
        ),
        row(
            "traced_vs_untraced",
            "traced ≥ 0.8 x untraced (req/s)",
            result["traced_vs_untraced"],
            TARGETS["traced_vs_untraced"],
            ">=",
        ),
        row(
            "spans_per_attempt",
            "every attempt's span reaches the receiver (spans per attempt ≥ 1)",
            result["spans_per_attempt"],
            TARGETS["spans_per_attempt"],
            ">=",
        ),
        row("spans_dropped", "0 spans dropped", float(result["spans_dropped"]), 0.0, "=="),
        row("oversold", "zero oversell in every run", float(result["oversold"]), 0.0, "=="),
    ]


def diagnose(result: dict[str, Any]) -> list[str]:
    """Explain each missed target from the figures and the profile of this very run (no sentence is fixed
    text about the code: every claim is a number measured here)."""
    missed = {t["target"] for t in result["targets"] if t["met"] is False}
    prof = result.get("profile") or {}
    inclusive = prof.get("inclusive", {})

    def share(fragment: str) -> float:
        return float(next((v for k, v in inclusive.items() if fragment in k), 0.0))

    def steps(*fragments: str) -> str:
        return ", ".join(f"{k.strip()} {v} %" for k, v in inclusive.items() if any(f in k for f in fragments))

    notes: list[str] = []
    if "purchase_vs_bare" in missed or "soldout_vs_bare" in missed:
        extra = result["cpu_us_per_purchase"] - result["cpu_us_per_bare"]
        notes.append(
            f"* **purchase vs bare**: a purchase costs the API processes {result['cpu_us_per_purchase']:.0f} µs of "
            f"CPU, the bare route {result['cpu_us_per_bare']:.0f} µs ({extra:+.0f} µs); one worker is CPU-bound, so "
            "throughput follows CPU per request. Shares of the traced worker's samples spent in steps only the "
            "purchase route takes: "
            + (steps("parameters", "body decode", "recorded", "answer()") or "no profile")
            + "."
        )
    if "open_loop_p99_ms_70" in missed:
        ol = {r["fraction"]: r for r in (result.get("open_loop") or {}).get("runs", [])}
        r70 = ol.get(0.7) or {}
        notes.append(
            f"* **open-loop p99 at 70 %**: {fmt(r70.get('p99_ms'))} ms at {fmt(r70.get('rate'), 0)} req/s "
            f"(p50 {fmt(r70.get('p50_ms'))} ms, runs {r70.get('p99_ms_runs')}); the generator itself was at most "
            f"{fmt(r70.get('send_lag_p99_ms'))} ms late (p99) and used {fmt(r70.get('generator_cpu_cores'))} cores "
            f"of the two the worker shares; other processes used {fmt(r70.get('background_cpu_cores'))} cores. "
            "A tail at 70 % load comes from the worker's pauses (the span and log flushes every 200 ms, the "
            "garbage collector, the exporter process taking the other core) queueing the arrivals behind them."
        )
    for c in (200, 1000):
        if f"unanswered_2s_{c}" in missed:
            notes.append(
                f"* **answers after 2 s at {c} connections**: {result.get(f'unanswered_2s_{c}')} over all runs of "
                "the purchase and bare routes (wrk: answers of 2 s or more, plus its timeouts)."
            )
    if "p99_vs_p50_200" in missed:
        notes.append(
            f"* **p99 / p50 at 200 connections**: {fmt(result.get('p99_vs_p50_200'), 2)}; purchase p99 "
            f"{fmt(result.get('p99_ms_200'))} ms."
        )
    if "refusal_vs_purchase_cpu" in missed:
        notes.append(
            f"* **refusal cost**: {fmt(result.get('cpu_us_per_refusal'), 1)} µs of API CPU per refused request "
            f"against {fmt(result.get('cpu_us_per_purchase'), 0)} µs per purchase."
        )
    if "p99_200_vs_bare" in missed:
        notes.append(
            f"* **p99 at 200 connections**: purchase {fmt(result.get('p99_ms_200'))} ms against bare "
            f"{fmt(result.get('bare_p99_ms_200'))} ms; both routes run the same script on the same pool, so the "
            "difference is the purchase route's own CPU per request (above) queueing behind 200 requests in flight."
        )
    if "telemetry_overhead_ratio" in missed or "traced_vs_untraced" in missed:
        on, untraced, off = (
            result["cpu_us_per_purchase"],
            result.get("cpu_us_per_purchase_untraced"),
            result.get("cpu_us_per_purchase_telemetry_off"),
        )
        notes.append(
            f"* **telemetry**: CPU per purchase (API processes, exporter included) {on:.0f} µs with everything on, "
            f"{fmt(untraced, 0)} µs without traces, {fmt(off, 0)} µs with telemetry off. The span exporter process "
            f"used {fmt(result.get('exporter_cpu_us_per_span'), 1)} µs per span "
            f"({fmt(result.get('exporter_cpu_cores'))} cores at the traced rate) on cores the worker, wrk and Redis "
            "also need. In the traced worker's profile: "
            f"{steps('recorded', 'SpanPipe', 'AttemptLog', 'HTTP metrics')}."
        )
    if "spans_per_attempt" in missed or "spans_dropped" in missed:
        notes.append(
            f"* **spans**: {result.get('spans_received')} spans received, {result.get('spans_dropped')} counted as "
            f"dropped (flashsale_spans_dropped_total); spans per attempt {fmt(result.get('spans_per_attempt'), 4)}."
        )
    if "redis_commands_per_purchase" in missed or "redis_commands_per_hold" in missed:
        notes.append(
            f"* **Redis commands per request**: the requests sent {fmt(result.get('redis_commands_per_purchase'), 4)} "
            f"commands per purchase and {fmt(result.get('redis_commands_per_hold'), 4)} per hold (MONITOR samples, "
            f"background reaper apart): per purchase {(result.get('monitor_sample') or {}).get('client_commands')}, "
            f"per hold {(result.get('monitor_sample_hold') or {}).get('client_commands')}."
        )
    if "oversold" in missed:
        notes.append("* **OVERSOLD**: a sale sold more than its stock: a correctness bug, see the runs in bench.json.")
    if share("OpenTelemetry SDK") > 0:
        notes.append(f"* OpenTelemetry SDK frames in the worker: {share('OpenTelemetry SDK')} % of its samples.")
    return notes


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown(result: dict[str, Any]) -> str:
    m = result["method"]
    per_span = result.get("exporter_cpu_us_per_span")
    capacity = 1e6 / per_span if per_span else None
    lines = [
        "# flashsale benchmark",
        "",
        f"Generated {result['generated_at']} by `python -m load.bench` in {result['duration_total_s']:.0f} s. "
        f"Machine: {result['machine']['cores']} cores ({result['machine']['cpu_model']}), load average at start "
        f"{result['machine']['loadavg_start']}.",
        "",
        f"Method: wrk with 1 thread and `load/wrk/purchase.lua` (a new buyer id and Idempotency-Key per request, so "
        "every request runs the whole script and sells, or on the hold route holds, one unit); each figure is the "
        f"median of {m['repeats']} runs of {m['duration_s']:g} s after a {m['warmup_s']:g} s warm-up; figures "
        "compared with each other are measured "
        f"interleaved with all their servers up. Before each figure the bench waits for the machine to be quiet "
        f"(at most 10 s a time, 60 s in all: this run waited {result['quiet_waited_s']:g} s, and "
        f"{result['quiet_gave_up']} time(s) the machine was still busy when the wait ended), and a run during which "
        f"other processes used more than {NOISY_CORES:g} cores is measured once more (the quieter one counts; "
        f"{result['noise_retries_used']} of at most 4 such retries used). Latencies are wrk's (closed loop: mean "
        "latency = connections / throughput).",
        "",
        f"**Headline configuration** (`purchase_rps`, `p99_ms`, `bare_rps`): {result['headline']}.",
        "",
        "**This is a 2-core machine:** wrk, the API worker(s) and Redis share the same two cores (and so did "
        "whatever else ran on the machine: the `bg cores` column is the CPU other processes used during each run). "
        "Absolute figures are therefore lower than on a dedicated server; the ratios between routes measured "
        "interleaved on the same box are the robust part.",
        "",
        *(
            [
                f"**Noise warning:** other processes used more than {NOISY_CORES / 2:g} cores (median) during: "
                + "; ".join(result["noisy_figures"])
                + ". Their req/s ratios are less reliable than the CPU-based "
                "ones (`purchase_vs_bare_by_cpu` = bare µs / purchase µs).",
                "",
            ]
            if result.get("noisy_figures")
            else []
        ),
        "## Targets",
        "",
        "| target | measured | status |",
        "|---|---|---|",
    ]
    for t in result["targets"]:
        status = "n/a" if t["met"] is None else ("**met**" if t["met"] else "**missed**")
        lines.append(f"| {t['label']} | {fmt(t['value'], 3)} | {status}: {t['by']} |")
    lines += [
        "",
        "## Headline figures",
        "",
        "| key | value |",
        "|---|---|",
    ]
    for key in (
        "purchase_rps",
        "bare_rps",
        "purchase_vs_bare",
        "purchase_vs_bare_by_cpu",
        "soldout_rps",
        "soldout_vs_bare",
        "soldout_rps_without_memo",
        "redis_ceiling_rps",
        "redis_commands_per_purchase",
        "p99_ms",
        "p99_ms_200",
        "bare_p99_ms_200",
        "cpu_us_per_purchase",
        "cpu_us_per_bare",
        "telemetry_overhead_ratio",
        "telemetry_overhead_ratio_by_cpu",
        "soldout_vs_bare_by_cpu",
        "hold_rps",
        "hold_vs_purchase",
        "hold_p99_ms",
        "redis_commands_per_hold",
        "oversold",
    ):
        lines.append(f"| `{key}` | {fmt(result.get(key), 3 if 'vs' in key or 'ratio' in key else 2)} |")
    lines += [
        "",
        "## Throughput and latency",
        "",
        "| configuration | route | conns | req/s | p50 ms | p95 ms | p99 ms | API CPU µs/req | API cores | "
        "Redis µs/req | wrk cores | bg cores |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in result["figures"]:
        lines.append(
            f"| {f['label']} | {f['route']} | {f['connections']} | {f['rps']:,.0f} | {f['p50_ms']:.2f} | "
            f"{f['p95_ms']:.2f} | {f['p99_ms']:.2f} | {f['api_cpu_us_per_request']:.0f} | {f['api_cpu_cores']:.2f} | "
            f"{f['redis_cpu_us_per_request']:.0f} | {f['generator_cpu_cores']:.2f} | {f['background_cpu_cores']:.2f} |"
        )
    rb = result.get("redis_benchmark") or {}
    lines += [
        "",
        "Routes: `purchase` = `POST /sales/{id}/purchases` (the product); `bare` = `POST /bench/bare/{id}` (same app "
        "and middleware, reads the body and runs the same script, no validation, outcome mapping or metrics: the "
        "framework ceiling); `soldout` = the purchase route on a sold-out sale; `hold` = `POST /sales/{id}/holds` on a "
        f"sale whose holds last {result.get('hold_ttl_s', 'n/a')} s (none expires during the run).",
        "",
        "## Ceilings",
        "",
        f"* Redis ceiling (redis-benchmark, EVALSHA of purchase.lua, 50 clients): **{fmt(rb.get('rps'), 0)} req/s**, "
        f"p50 {fmt(rb.get('p50_ms'), 3)} ms, p99 {fmt(rb.get('p99_ms'), 3)} ms. "
        f"The purchase path reaches {fmt(ratio(result.get('purchase_rps'), rb.get('rps')), 3)} of it.",
        f"* Framework ceiling (bare route, headline configuration): **{fmt(result.get('bare_rps'), 0)} req/s**.",
        "",
        "## Redis commands per purchase",
        "",
    ]
    cmds = result.get("commands") or {}
    mon = result.get("monitor_sample") or {}
    lines += [
        f"* INFO commandstats deltas over the headline runs, divided by the orders the runs made: EVALSHA "
        f"{fmt(cmds.get('evalsha_per_purchase'), 4)}, all commands {fmt(cmds.get('commands_per_purchase_all'), 4)} "
        f"(commandstats also counts the commands the script runs inside Redis), commands the API sent "
        f"{fmt(cmds.get('client_commands_per_purchase'), 4)} (all minus the script's own command names).",
        f"* MONITOR sample ({mon.get('requests', 'n/a')} requests, {mon.get('orders', 'n/a')} orders; client "
        f"EVALSHAs named by script): commands from API connections {mon.get('client_commands')} = "
        f"{fmt(mon.get('client_commands_per_purchase'), 4)} per purchase, of which the background hold reaper sent "
        f"{mon.get('background_commands')} on its own clock: the requests sent "
        f"**{fmt(mon.get('request_commands_per_purchase'), 4)}** per purchase (the target's figure); inside the "
        f"script {fmt(mon.get('script_commands_per_purchase'), 2)} per purchase ({mon.get('script_commands')}).",
        "",
    ]
    lines += hold_section(result)
    lines += answered_section(result)
    lines += [
        "## ASGI server: uvicorn against granian",
        "",
    ]
    for c in result["method"]["connections"]:
        u, g = result["_find"]("uvicorn-1", "purchase", c), result["_find"]("granian-1", "purchase", c)
        if u and g:
            lines.append(
                f"* purchase, {c} connections: uvicorn {u['served_rps']:,.0f} purchases/s (p99 {u['p99_ms']:.1f} ms, "
                f"{u['unanswered_2s']} answers after 2 s, {u['api_cpu_us_per_request']:.0f} µs/req) against granian "
                f"{g['served_rps']:,.0f} purchases/s (p99 {g['p99_ms']:.1f} ms, {g['unanswered_2s']} after 2 s, "
                f"{g['api_cpu_us_per_request']:.0f} µs/req): granian/uvicorn = "
                f"{g['served_rps'] / u['served_rps'] if u['served_rps'] else float('nan'):.2f}."
            )
    lines += [
        "",
        "## Telemetry and traces",
        "",
        "Purchase route, 50 connections, uvicorn 1 worker, three servers measured interleaved:",
        "",
        "| configuration | req/s | vs all off | p99 ms | API CPU µs/purchase | spans per attempt |",
        "|---|---:|---:|---:|---:|---:|",
        f"| telemetry on: metrics + log line + traces (headline) | {fmt(result.get('traced_rps'), 0)} | "
        f"{fmt(result.get('telemetry_overhead_ratio'), 3)} | {fmt(result.get('traced_p99_ms'))} | "
        f"{fmt(result.get('cpu_us_per_purchase'), 0)} | {fmt(result.get('spans_per_attempt'), 4)} |",
        f"| metrics + log line, no traces | {fmt(result.get('untraced_rps'), 0)} | "
        f"{fmt(result.get('untraced_vs_off'), 3)} | {fmt(result.get('untraced_p99_ms'))} | "
        f"{fmt(result.get('cpu_us_per_purchase_untraced'), 0)} | 0 |",
        f"| telemetry off | {fmt(result.get('purchase_rps_telemetry_off'), 0)} | 1.000 | "
        f"{fmt(result.get('telemetry_off_p99_ms'))} | "
        f"{fmt(result.get('cpu_us_per_purchase_telemetry_off'), 0)} | 0 |",
        "",
        f"Traced against untraced: **{fmt(result.get('traced_vs_untraced'), 3)}** by req/s "
        f"({fmt(result.get('traced_vs_untraced_by_cpu'), 3)} by CPU per purchase). Spans: "
        f"{result.get('spans_received')} received and decoded by the OTLP/HTTP receiver over all traced runs, "
        f"{fmt(result.get('spans_dropped'), 0)} counted as dropped (`flashsale_spans_dropped_total`). The span "
        f"exporter process used {fmt(result.get('exporter_cpu_us_per_span'), 1)} µs of CPU per span "
        f"({fmt(result.get('exporter_cpu_cores'))} cores at the headline rate): one worker's exporter process can "
        f"export about {fmt(capacity, 0)} spans per second of its own CPU.",
        "",
        "## Why targets are missed",
        "",
        *(result.get("diagnosis") or ["Every target is met."]),
        "",
        "## Profile",
        "",
    ]
    prof = result.get("profile") or {}
    if not prof:
        lines.append("Not run (`--no-profile`).")
    elif "error" in prof:
        lines.append(f"py-spy failed: {prof['error']}")
    else:
        lines += [
            f"py-spy, {prof['seconds']:g} s at 200 Hz on the worker (pid {prof['pid']}) under {prof['load']}: "
            f"{prof['samples']} samples of busy threads (idle time excluded), "
            f"{prof['main_thread_samples']} of them on the event loop thread; share by thread: {prof['threads']}. "
            f"Collapsed stacks: `load/reports/{prof['raw']}`. "
            "Percentages below are of the event loop thread's samples.",
            "",
            "Self time by component (where the CPU is spent, by the code on top of the stack; C code is counted "
            "with the Python frame that called it):",
            "",
            "| component | % of samples |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v} |" for k, v in prof["self_by_component"].items()]
        lines += ["", "Inclusive time of the steps of a request:", "", "| step | % of samples |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in prof["inclusive"].items()]
        lines += ["", "Top functions by self time:", "", "| function | % |", "|---|---:|"]
        lines += [f"| `{k}` | {v} |" for k, v in prof["top_functions_self"].items()]
        exporter = prof.get("exporter_process")
        if exporter:
            lines += [
                "",
                f"The span exporter process (pid {exporter['pid']}, {exporter['samples']} samples, "
                f"`load/reports/{exporter['raw']}`), top functions by self time:",
                "",
                "| function | % |",
                "|---|---:|",
            ]
            lines += [f"| `{k}` | {v} |" for k, v in exporter["top_functions_self"].items()]
    lines += ["", "## Versions", "", "| component | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result["versions"].items()]
    lines += ["", "![throughput and p99 against connections](bench.png)", ""]
    return "\n".join(lines)


def hold_section(result: dict[str, Any]) -> list[str]:
    """The hold route next to the purchase route: same server (the headline's), measured interleaved."""
    hold, purchase = result["_find"]("uvicorn-1", "hold", 50), result["_find"]("uvicorn-1", "purchase", 50)
    if not hold or not purchase:
        return []
    mon = result.get("monitor_sample_hold") or {}
    rows = [
        (name, f)
        for name, f in (("purchase `POST /sales/{id}/purchases`", purchase), ("hold `POST /sales/{id}/holds`", hold))
    ]
    lines = [
        "## Hold route against purchase route",
        "",
        "Headline server (uvicorn, 1 worker, telemetry on), 50 connections, measured interleaved in the same "
        "runs; a new buyer id and Idempotency-Key per request on both routes:",
        "",
        "| route | req/s | vs purchase | p50 ms | p99 ms | API CPU µs/req | Redis µs/req | spans per attempt |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in rows:
        lines.append(
            f"| {name} | {f['rps']:,.0f} | {fmt(ratio(f['rps'], purchase['rps']), 3)} | {f['p50_ms']:.2f} | "
            f"{f['p99_ms']:.2f} | {f['api_cpu_us_per_request']:.0f} | {f['redis_cpu_us_per_request']:.0f} | "
            f"{fmt(f.get('spans_per_attempt'), 4)} |"
        )
    lines += [
        "",
        f"The hold route served **{fmt(result.get('hold_vs_purchase'), 3)}x** the purchase route's requests per "
        f"second ({hold['rps']:,.0f} against {purchase['rps']:,.0f}; "
        f"{fmt(result.get('hold_vs_purchase_by_cpu'), 3)}x by API CPU per request), p99 "
        f"{hold['p99_ms']:.2f} ms against {purchase['p99_ms']:.2f} ms. A hold cost the API processes "
        f"{hold['api_cpu_us_per_request']:.0f} µs of CPU against {purchase['api_cpu_us_per_request']:.0f} µs "
        f"for a purchase, and Redis {hold['redis_cpu_us_per_request']:.0f} µs against "
        f"{purchase['redis_cpu_us_per_request']:.0f} µs. The "
        f"hold requests sent **{fmt(result.get('redis_commands_per_hold'), 4)}** Redis command per hold "
        f"(MONITOR sample of {mon.get('requests', 'n/a')} requests, {mon.get('holds', 'n/a')} holds: "
        f"{mon.get('client_commands')}, of which the background reaper's {mon.get('background_commands')}; "
        f"{fmt(mon.get('script_commands_per_hold'), 2)} commands inside the script per hold); INFO "
        f"commandstats over the measured runs: {fmt(result.get('redis_commands_per_hold_commandstats'), 4)} "
        "per hold (reaper included).",
        "",
    ]
    return lines


def answered_section(result: dict[str, Any]) -> list[str]:
    """Issue 25: many connections, open-loop latency and the cost of refusing early."""
    find = result["_find"]
    lines = [
        "## Every buyer answered: many connections, open loop, refusing early",
        "",
        "Headline server (uvicorn 1 worker, telemetry on, in-flight budget "
        f"{result.get('max_in_flight', 'default')}), wrk closed loop. `>= 2 s`: answers that took 2 s or more "
        "(wrk's latency record) plus wrk's timeouts, summed over the runs. `served/s`: purchases answered 201 "
        "(bare: 200) per second; `503`: answers refused by the in-flight budget (or, rarely, a Redis deadline).",
        "",
        "| route | conns | req/s | served/s | 503 share | p50 ms | p99 ms | p99/p50 | >= 2 s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in result["method"]["connections"]:
        for route in ("purchase", "bare"):
            x = find("uvicorn-1", route, c)
            if not x:
                continue
            requests = max(1, sum(r["requests"] for r in x["runs"]))
            share = sum(r["answered_503"] for r in x["runs"]) / requests
            lines.append(
                f"| {route} | {c} | {x['rps']:,.0f} | {x['served_rps']:,.0f} | {share:.1%} | {x['p50_ms']:.2f} | "
                f"{x['p99_ms']:.2f} | {ratio(x['p99_ms'], x['p50_ms'])} | {x['unanswered_2s']} |"
            )
    ol = result.get("open_loop")
    if ol:
        lines += [
            "",
            f"Open loop (load/bench/openloop.py: requests leave at a constant rate whatever the server does, and "
            f"each latency counts from when the request was due), purchase route, {ol['duration_s']:g} s per run, "
            f"rates as fractions of the closed-loop maximum of {ol['max_rps']:,.0f} purchases/s; medians of the runs:",
            "",
            "| rate | req/s | achieved | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | unanswered after 2 s | "
            "generator late p99 ms | generator cores | bg cores |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in ol["runs"]:
            lines.append(
                f"| {r['fraction']:.0%} | {r['rate']:,} | {r['achieved_rps']:,.0f} | {r['p50_ms']:.2f} | "
                f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['p999_ms']:.2f} | {r['max_ms']:.1f} | "
                f"{r['unanswered']} | {r['send_lag_p99_ms']:.2f} | {r['generator_cpu_cores']:.2f} | "
                f"{r['background_cpu_cores']:.2f} |"
            )
    lines += [
        "",
        f"Refusing early: a server (telemetry on) whose in-flight budget of 1 is held by a purchase its Redis "
        "keeps waiting refuses every other request with `503 overloaded`, and reads a refused connection again "
        "after Retry-After; wrk with "
        f"{(result.get('refusal') or {}).get('connections', 'n/a')} connections and with a quarter of them, "
        "alternately: the difference in API CPU over the difference in refusals is "
        f"**{fmt(result.get('cpu_us_per_refusal'), 1)} µs** per refusal (runs: "
        f"{[r['cpu_us_per_refusal'] for r in (result.get('refusal') or {}).get('runs', [])]}) against "
        f"{fmt(result.get('cpu_us_per_purchase'), 0)} µs per purchase on the headline server = "
        f"**{fmt(result.get('refusal_vs_purchase_cpu'), 3)}**.",
        "",
    ]
    return lines


def plot(result: dict[str, Any], path: Path) -> None:
    """Throughput and p99 against connections: one colour per configuration, solid purchase, dashed bare."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_rps, ax_p99) = plt.subplots(1, 2, figsize=(12, 5))
    labels = list(dict.fromkeys(f["label"] for f in result["figures"] if f["route"] != "soldout"))
    colours = {label: f"C{i}" for i, label in enumerate(labels)}
    for label in labels:
        for route, style in (("purchase", "-"), ("bare", "--")):
            points = sorted(
                (f for f in result["figures"] if f["label"] == label and f["route"] == route),
                key=lambda f: f["connections"],
            )
            if not points:
                continue
            xs = [f["connections"] for f in points]
            name = f"{route} · {label}"
            ax_rps.plot(xs, [f["rps"] for f in points], style, marker="o", color=colours[label], label=name)
            ax_p99.plot(xs, [f["p99_ms"] for f in points], style, marker="o", color=colours[label], label=name)
    rb = (result.get("redis_benchmark") or {}).get("rps")
    if rb:
        ax_rps.set_title(f"Throughput (Redis ceiling, off the chart: {rb:,.0f} req/s)", fontsize=10)
    else:
        ax_rps.set_title("Throughput", fontsize=10)
    ax_rps.set(xlabel="connections", ylabel="requests / s")
    ax_p99.set(xlabel="connections", ylabel="p99 (ms)")
    ax_p99.set_title("p99 latency (wrk, closed loop)", fontsize=10)
    for ax in (ax_rps, ax_p99):
        ax.grid(alpha=0.3)
        ax.set_xticks(sorted({f["connections"] for f in result["figures"]}))
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(
        f"flashsale on {result['machine']['cores']} cores (wrk, API and Redis share them); "
        "solid: purchase route, dashed: bare route"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
