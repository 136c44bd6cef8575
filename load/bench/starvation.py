"""``python -m load.bench.starvation``: the same load on server variants, to find where connections starve.

Each variant is one worker started here on a loopback port: a hello-world ASGI app (``hello.py``) or the
engine (purchase route, logs at INFO, no trace export), under uvicorn with uvloop or asyncio, httptools or h11,
a larger backlog, with or without server.py's deadline protocol and accept-all loop, or under granian. wrk
(1 thread, ``load/wrk/purchase.lua``) drives each at every connection count, variants interleaved, repeated.
Per run it records req/s, p50/p99, answers that took 2 s or more (``unanswered_2s``), the deepest listen queue
seen (``ss -lnt`` Recv-Q, sampled every 100 ms: connections the kernel completed and the server had not yet
accepted) and the kernel's listen-queue overflow counter. Writes load/reports/starvation.json and prints a
table; bounded: at most 24 variants, 9 repeats, 30 s per run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from load.bench.common import REPORTS, median, tree_cpu_s
from load.bench.measuring import ROUTE_PATHS, run_wrk

HELLO = "load.bench.hello:app"
LITESTAR_HELLO = "load.bench.hello:litestar_app"
ENGINE_SHIPPED = "flashsale.app:create_app"
"""The engine as issue 25 found it: no in-flight budget."""
ENGINE = "flashsale.app:create_served_app"


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    target: str
    server: str = "uvicorn"
    loop: str = "uvloop"
    http: str = "httptools"
    backlog: int = 2048
    env: tuple[tuple[str, str], ...] = ()
    route: str = "purchase"
    """The engine's route under load: ``purchase`` or ``health`` (``GET /health/live``, no Redis)."""

    @property
    def engine(self) -> bool:
        return self.target not in (HELLO, LITESTAR_HELLO)

    @property
    def factory(self) -> bool:
        return self.target != HELLO

    def command(self, port: int) -> list[str]:
        if self.server == "granian":
            return [
                *(sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1"),
                *("--port", str(port), "--loop", "uvloop", "--backlog", str(self.backlog), "--no-log"),
                *(["--factory"] if self.factory else []),
                self.target,
            ]
        return [
            *(sys.executable, "-m", "uvicorn", self.target, "--host", "127.0.0.1", "--port", str(port)),
            *("--loop", self.loop, "--http", self.http, "--backlog", str(self.backlog)),
            *("--log-level", "warning", "--no-access-log", "--timeout-keep-alive", "75"),
            *(["--factory"] if self.factory else []),
        ]


DEADLINE = "flashsale.server:DeadlineHttpToolsProtocol"
ACCEPT_ALL = "flashsale.server:new_event_loop"
VARIANTS = {
    v.key: v
    for v in (
        Variant("hello", "hello world: uvicorn, uvloop, httptools", HELLO),
        Variant("hello-asyncio", "hello world: uvicorn, asyncio loop, httptools", HELLO, loop="asyncio"),
        Variant("hello-h11", "hello world: uvicorn, uvloop, h11", HELLO, http="h11"),
        Variant("hello-backlog", "hello world: uvicorn, uvloop, httptools, backlog 16384", HELLO, backlog=16384),
        Variant("hello-accept-all", "hello world: uvicorn, accept-all loop, httptools", HELLO, loop=ACCEPT_ALL),
        Variant("hello-granian", "hello world: granian", HELLO, server="granian"),
        Variant(
            "shipped", "engine as shipped: uvloop + deadline protocol", ENGINE_SHIPPED, http=DEADLINE, backlog=4096
        ),
        Variant("no-deadline", "engine: uvloop + plain httptools", ENGINE_SHIPPED, backlog=4096),
        Variant("asyncio", "engine: asyncio loop + deadline protocol", ENGINE_SHIPPED, loop="asyncio", http=DEADLINE),
        Variant("h11", "engine: uvloop + h11", ENGINE_SHIPPED, http="h11", backlog=4096),
        Variant(
            "accept-all", "engine: accept-all loop + deadline protocol", ENGINE_SHIPPED, loop=ACCEPT_ALL, http=DEADLINE
        ),
        Variant("granian", "engine: granian", ENGINE_SHIPPED, server="granian", backlog=4096),
        Variant(
            "served",
            "engine as served now: accept-all loop + deadline protocol + in-flight budget",
            ENGINE,
            loop=ACCEPT_ALL,
            http=DEADLINE,
            backlog=4096,
        ),
        Variant(
            "granian-served", "engine on granian with the in-flight budget", ENGINE, server="granian", backlog=4096
        ),
        Variant(
            "served-health",
            "engine as served now, GET /health/live",
            ENGINE,
            loop=ACCEPT_ALL,
            http=DEADLINE,
            backlog=4096,
            route="health",
        ),
        Variant("litestar-hello-granian", "Litestar hello world: granian", LITESTAR_HELLO, server="granian"),
        Variant("litestar-hello", "Litestar hello world: uvicorn, uvloop, httptools", LITESTAR_HELLO),
        *(
            Variant(
                f"budget-{n}",
                f"engine as served now, in-flight budget {n}",
                ENGINE,
                loop=ACCEPT_ALL,
                http=DEADLINE,
                backlog=4096,
                env=(("FLASHSALE_MAX_IN_FLIGHT", str(n)),),
            )
            for n in (32, 64, 128, 192, 256, 512)
        ),
    )
}


class QueueWatch:
    """Samples the listen socket's accept queue (``ss -lnt``, Recv-Q) every 100 ms in a thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.deepest = 0
        self.busy_samples = 0
        """Samples that found connections waiting to be accepted (each stands for 100 ms)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            out = subprocess.run(
                ["ss", "-lnt", f"sport = :{self.port}"], capture_output=True, text=True, timeout=5, check=False
            ).stdout.splitlines()
            if len(out) > 1:
                waiting = int(out[1].split()[1])
                self.deepest = max(self.deepest, waiting)
                self.busy_samples += waiting > 0

    def __enter__(self) -> QueueWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def listen_overflows() -> int:
    """TcpExt ListenOverflows since boot (/proc/net/netstat): connections dropped for a full accept queue."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(table.get("ListenOverflows", 0))
    return 0


class Running:
    """One variant's server process, with a sale when it is the engine."""

    def __init__(self, variant: Variant, redis_url: str, log_dir: Path) -> None:
        from flashsale.embedded import free_port

        self.variant = variant
        self.port = free_port()
        self.token = secrets.token_urlsafe(32)
        env = {
            **os.environ,
            "FLASHSALE_REDIS_URL": redis_url,
            "FLASHSALE_ADMIN_TOKEN": self.token,
            "FLASHSALE_LOG_LEVEL": "INFO",
            "FLASHSALE_BENCH_ROUTES": "true",
            **dict(variant.env),
        }
        log = (log_dir / f"starvation-{variant.key}.log").open("ab")
        self.process = subprocess.Popen(
            variant.command(self.port), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.path = "/"
        self._wait_ready()
        if variant.engine:
            import httpx

            sale = f"starve-{variant.key}-{uuid.uuid4().hex[:6]}"
            r = httpx.post(
                self.url + "/admin/sales",
                json={"sale_id": sale, "name": "starvation", "stock": 1_000_000_000},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=30,
            )
            r.raise_for_status()
            self.path = ROUTE_PATHS["purchase"].format(sale=sale) if variant.route == "purchase" else "/health/live"

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + 60
        probe = "/health/ready" if self.variant.engine else "/"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.variant.key} exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + probe, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.variant.key} not ready within 60 s")

    def stop(self) -> None:
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def measure(running: Running, connections: int, duration_s: float) -> dict[str, Any]:
    overflows = listen_overflows()
    mode = None if running.variant.engine and running.variant.route == "purchase" else "get"
    cpu0 = tree_cpu_s(running.process.pid)
    with QueueWatch(running.port) as watch:
        wrk = run_wrk(running.url, running.path, connections, duration_s, mode=mode)
    cpu = tree_cpu_s(running.process.pid) - cpu0
    lat = wrk["latency_us"]
    served = wrk["statuses"].get("201" if mode is None else "200", 0)
    return {
        "rps": round(wrk["rps"], 1),
        "served_rps": round(served / (wrk["duration_us"] / 1e6), 1),
        "api_cpu_us_per_request": round(cpu / max(1, wrk["requests"]) * 1e6, 1),
        "p50_ms": lat["p50"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
        "unanswered_2s": wrk.get("over_2s", 0) + wrk["errors"]["timeout"],
        "statuses": wrk["statuses"],
        "deepest_accept_queue": watch.deepest,
        "accept_queue_seconds": round(watch.busy_samples / 10, 1),
        "listen_overflows": listen_overflows() - overflows,
        "loadavg": Path("/proc/loadavg").read_text().split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m load.bench.starvation", description=__doc__)
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated keys (default: all)")
    p.add_argument("--connections", default="200,1000")
    p.add_argument("--duration", type=float, default=6.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--reports", type=Path, default=REPORTS)
    args = p.parse_args(argv)
    keys = [k for k in args.variants.split(",") if k]
    unknown = [k for k in keys if k not in VARIANTS]
    if unknown or not (1 <= len(keys) <= 24 and 1 <= args.repeats <= 9 and 1 <= args.duration <= 30):
        p.error(f"bounds: known variants ({', '.join(VARIANTS)}), 1..9 repeats, 1..30 s; unknown: {unknown}")
    conns = [int(c) for c in args.connections.split(",")]
    if any(not 1 <= c <= 5000 for c in conns):
        p.error("connections: 1..5000")
    args.reports.mkdir(parents=True, exist_ok=True)
    from flashsale.embedded import EmbeddedRedis

    results: dict[str, dict[int, list[dict[str, Any]]]] = {k: {c: [] for c in conns} for k in keys}
    with EmbeddedRedis() as redis:
        servers = [Running(VARIANTS[k], redis.url, args.reports) for k in keys]
        try:
            for c in conns:
                for server in servers:  # warm-up
                    measure(server, c, 1.0)
                for round_ in range(args.repeats):
                    for server in servers:
                        run = measure(server, c, args.duration)
                        results[server.variant.key][c].append(run)
                        print(
                            f"[{round_ + 1}] {server.variant.key:18} c={c:<5} {run['rps']:8.0f} req/s "
                            f"({run['served_rps']:.0f} served, {run['api_cpu_us_per_request']:.0f} µs/req)  p50 "
                            f"{run['p50_ms']:7.1f}  p99 {run['p99_ms']:7.1f} ms  >=2s {run['unanswered_2s']:4}  "
                            f"accept queue {run['deepest_accept_queue']:4} for {run['accept_queue_seconds']:.1f} s  "
                            f"load {run['loadavg']}",
                            flush=True,
                        )
        finally:
            for server in servers:
                server.stop()
    table = []
    for k in keys:
        for c in conns:
            runs = results[k][c]
            table.append(
                {
                    "variant": k,
                    "label": VARIANTS[k].label,
                    "connections": c,
                    "rps": [r["rps"] for r in runs],
                    "p50_ms": [r["p50_ms"] for r in runs],
                    "p99_ms": [r["p99_ms"] for r in runs],
                    "unanswered_2s": [r["unanswered_2s"] for r in runs],
                    "deepest_accept_queue": [r["deepest_accept_queue"] for r in runs],
                    "accept_queue_seconds": [r["accept_queue_seconds"] for r in runs],
                    "listen_overflows": sum(r["listen_overflows"] for r in runs),
                    "rps_median": median([r["rps"] for r in runs]),
                    "served_rps": [r["served_rps"] for r in runs],
                    "api_cpu_us_per_request": [r["api_cpu_us_per_request"] for r in runs],
                    "runs": runs,
                }
            )
    out = args.reports / "starvation.json"
    out.write_text(json.dumps({"duration_s": args.duration, "repeats": args.repeats, "table": table}, indent=2))
    print(
        "\n| variant | conns | req/s | served/s | API µs/req | p50 ms | p99 ms | answered after >= 2 s | "
        "deepest accept queue | s with a queue |"
    )
    print("|---|---:|---|---|---|---|---|---|---|---|")
    for row in table:

        def span(values: list[float], digits: int = 0) -> str:
            lo, hi = min(values), max(values)
            return f"{lo:,.{digits}f}" if lo == hi else f"{lo:,.{digits}f}-{hi:,.{digits}f}"

        print(
            f"| {row['label']} | {row['connections']} | {span(row['rps'])} | {span(row['served_rps'])} | "
            f"{span(row['api_cpu_us_per_request'])} | {span(row['p50_ms'], 1)} | "
            f"{span(row['p99_ms'], 1)} | {span(row['unanswered_2s'])} | {span(row['deepest_accept_queue'])} | "
            f"{span(row['accept_queue_seconds'], 1)} |"
        )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
