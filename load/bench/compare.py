"""``python -m load.bench.compare --before REV``: a traced purchase before and after, measured interleaved.

Four servers on one Redis, all up at once: the code of git revision REV (``git archive`` of its ``service/``
into a temporary folder, put first on the servers' PYTHONPATH) and this checkout's, each traced (OTLP/HTTP to
a loopback receiver that counts spans) and untraced; purchase route, 50 connections, runs interleaved; then
py-spy on both traced workers. It prints a table and where each traced worker's samples went, and writes
``compare.json`` and the collapsed stacks (``profile-before.txt``, ``profile-after.txt``) to ``--reports``.
This is how load/README.md's "Telemetry" before/after figures were made.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from load.bench.common import HUGE_STOCK, REPORTS, ROOT, median
from load.bench.measuring import ROUTE_PATHS, Config, api_stack, measure, run_wrk
from load.bench.profiling import profile

KEYS = ("rps", "p99_ms", "api_cpu_us_per_request", "background_cpu_cores")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m load.bench.compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--before", required=True, help="git revision of the 'before' code (e.g. b57b985)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--profile-seconds", type=float, default=5.0)
    p.add_argument("--reports", type=Path, default=REPORTS)
    a = p.parse_args(argv)
    if not (1 <= a.repeats <= 9 and 1 <= a.duration <= 30):
        p.error("bounds: 1..9 repeats, 1..30 s per run")
    from flashsale.embedded import EmbeddedRedis

    a.reports.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flashsale-before-") as old, EmbeddedRedis() as redis, ExitStack() as es:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", a.before, "service"], capture_output=True, check=True, timeout=60
        ).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True, timeout=60)
        before = (("PYTHONPATH", str(Path(old) / "service")),)
        configs = [
            Config("before-traced", "before, traced", traced=True, env=before),
            Config("before-untraced", "before, untraced", env=before),
            Config("after-traced", "after, traced", traced=True),
            Config("after-untraced", "after, untraced"),
        ]
        stacks = [es.enter_context(api_stack(redis, c, a.reports, flush=(i == 0))) for i, c in enumerate(configs)]
        for stack in stacks:
            stack.create_sale("purchase", HUGE_STOCK)
            run_wrk(stack.server.url, ROUTE_PATHS["purchase"].format(sale=stack.sales["purchase"]), 50, 1)
        runs: dict[str, list[dict[str, Any]]] = {c.key: [] for c in configs}
        for _ in range(a.repeats):
            for stack in stacks:
                runs[stack.config.key].append(measure(stack, "purchase", 50, a.duration))
        result: dict[str, Any] = {
            key: {k: median([r[k] for r in rs]) for k in KEYS}
            | {"spans_per_attempt": [r["spans_per_attempt"] for r in rs]}
            for key, rs in runs.items()
        }
        for side in ("before", "after"):
            result[f"{side}_traced_vs_untraced"] = round(
                result[f"{side}-traced"]["rps"] / result[f"{side}-untraced"]["rps"], 3
            )
            result[f"{side}_profile"] = profile(
                stacks[0 if side == "before" else 2], a.profile_seconds, a.reports, name=f"profile-{side}"
            )
    print(
        "| code | traced req/s | untraced req/s | traced/untraced | API CPU µs per traced purchase | "
        "spans per attempt |\n|---|---:|---:|---:|---:|---|"
    )
    for side in ("before", "after"):
        t, u = result[f"{side}-traced"], result[f"{side}-untraced"]
        print(
            f"| {side} | {t['rps']:,.0f} | {u['rps']:,.0f} | {result[f'{side}_traced_vs_untraced']} | "
            f"{t['api_cpu_us_per_request']:,.0f} | {t['spans_per_attempt']} |"
        )
    for side in ("before", "after"):
        prof = result[f"{side}_profile"]
        print(f"\n{side}: threads {prof.get('threads')}\n  self by component {prof.get('self_by_component')}")
    (a.reports / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
