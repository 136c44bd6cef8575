"""``python -m load.bench``: where the purchase path stands against its ceilings, in one run.

It starts its own Redis (EmbeddedRedis) and API servers (LocalServer, FLASHSALE_BENCH_ROUTES=true), drives
them with wrk (one thread, load/wrk/purchase.lua: a fresh buyer id and Idempotency-Key per request) and
writes load/reports/bench.json, bench.md and bench.png. Every figure is the median of ``--repeats`` runs of
``--duration`` seconds after a ``--warmup`` run; the routes of one configuration are measured interleaved
(purchase, bare, purchase, bare, ...) so that background load on the machine hits both alike.

Measured, side by side:
* the purchase route and the bare reference route (the framework ceiling) at each connection count, with
  uvicorn 1 worker (the headline configuration), uvicorn 2 workers and granian 1 worker;
* the Redis ceiling: redis-benchmark running the purchase script by EVALSHA;
* the sold-out phase (the purchase route once the stock is gone), with and without the sold-out memo;
* Redis commands per purchase from INFO commandstats deltas, and a MONITOR sample that tells the commands
  the API sent from those the script ran inside Redis;
* CPU microseconds per request of the API processes (server and workers, /proc/<pid>/stat), of Redis and
  the share of the machine used by other processes during the run (the noise);
* telemetry on against off (FLASHSALE_TELEMETRY=false);
* with ``--profile`` (default on): py-spy on the worker during a purchase run: profile.svg and a summary.
Timing targets are reported (met / missed), never asserted; the exit code is 1 only when a sale was oversold
or an audit failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

LOAD_DIR = Path(__file__).resolve().parent.parent
ROOT = LOAD_DIR.parent
REPORTS = LOAD_DIR / "reports"
WRK_SCRIPT = LOAD_DIR / "wrk" / "purchase.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
HUGE_STOCK = 1_000_000_000
SOLDOUT_STOCK = 100
SETTLE_S = 0.3
NOISY_CORES = 0.4
"""A run during which other processes used more CPU than this (in cores) is measured once more."""

SCRIPT_COMMANDS = frozenset({"hmget", "get", "time", "hget", "hincrby", "xadd", "set", "xlen", "zrangebyscore",
                             "zrem", "hset"})
"""Every command purchase.lua may run inside Redis: commandstats counts these too, under their own names."""

TARGETS = {
    "purchase_vs_bare": 0.8,
    "soldout_vs_bare": 1.0,
    "redis_commands_per_purchase": 1.0,
    "p99_ms": 10.0,
    "p99_200_vs_bare": 2.0,
    "telemetry_overhead_ratio": 0.85,
}

# -- small system helpers -------------------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (server, supervisor and workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    return found


def tree_cpu_s(pid: int) -> float:
    return sum(proc_cpu_s(p) for p in tree_pids(pid))


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy (not idle, not iowait) since boot."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK


def wait_for_quiet_machine(max_wait_s: float = 10.0, window_s: float = 1.0) -> float:
    """Wait (bounded) until the machine's busy CPU falls below NOISY_CORES; returns the last reading (cores)."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_busy_s()
        time.sleep(window_s)
        busy = (machine_busy_s() - before) / window_s
        if busy < NOISY_CORES or time.monotonic() > deadline:
            return busy


def own_cpu_s() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


# -- Redis: raw RESP for INFO, commandstats parsing ------------------------------------------------------------


def redis_command(port: int, *args: str | bytes, timeout_s: float = 5.0) -> Any:
    """One command over a fresh connection; returns the decoded reply (bulk strings as str)."""
    return redis_pipeline(port, [args], timeout_s)[0]


def redis_pipeline(port: int, commands: list[tuple[str | bytes, ...]], timeout_s: float = 5.0) -> list[Any]:
    """Send commands on one connection, read one reply each (a ``MULTI``...``EXEC`` runs them atomically)."""
    payload = b""
    for args in commands:
        parts = [a.encode() if isinstance(a, str) else a for a in args]
        payload += b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(payload)
        reader = sock.makefile("rb")
        return [_read_reply(reader) for _ in commands]


def _read_reply(reader: Any) -> Any:
    line = reader.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = reader.read(size + 2)[:-2]
        return data.decode()
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [_read_reply(reader) for _ in range(count)]
    raise RuntimeError(f"unexpected RESP reply {line!r}")


def parse_commandstats(info: str) -> dict[str, int]:
    """``INFO commandstats`` text -> {command: calls}; subcommands keep their ``|`` name (``config|get``)."""
    calls: dict[str, int] = {}
    for line in info.splitlines():
        if not line.startswith("cmdstat_"):
            continue
        name, _, rest = line[len("cmdstat_"):].partition(":")
        for item in rest.split(","):
            key, _, value = item.partition("=")
            if key == "calls":
                calls[name.lower()] = int(value)
                break
    return calls


def commandstats(port: int) -> dict[str, int]:
    return parse_commandstats(str(redis_command(port, "INFO", "commandstats")))


BENCH_OWN = frozenset({"info", "multi", "exec"})
CONNECTION_SETUP = frozenset({"hello", "client|setinfo", "client|setname", "select", "auth", "ping",
                              "script|exists", "script|load"})
"""Commands a client sends when it opens a connection (or checks it), not per request."""


def command_deltas(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Calls made between two ``snapshot``s, without the snapshots' own commands (MULTI, HGET, INFO, EXEC)."""
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    delta["hget"] = delta.get("hget", 0) - 1  # the HGET of the second snapshot (the first one's is in `before`)
    return {name: n for name, n in delta.items() if n > 0 and name not in BENCH_OWN}


def snapshot(port: int, sale: str) -> tuple[dict[str, int], int]:
    """(commandstats, the sale's orders) read atomically: no other command runs between the two reads."""
    replies = redis_pipeline(port, [("MULTI",), ("HGET", f"fs:{{{sale}}}:sale", "orders"),
                                    ("INFO", "commandstats"), ("EXEC",)])
    orders, info = replies[-1]
    return parse_commandstats(str(info)), int(orders or 0)


def wait_quiet(port: int, timeout_s: float = 3.0) -> None:
    """Wait until Redis stops running scripts: requests a stopped wrk left in flight have all finished."""
    deadline = time.monotonic() + timeout_s
    last = -1
    while time.monotonic() < deadline:
        calls = commandstats(port).get("evalsha", 0)
        if calls == last:
            return
        last = calls
        time.sleep(0.1)


def sale_field(port: int, sale: str, name: str) -> int:
    value = redis_command(port, "HGET", f"fs:{{{sale}}}:sale", name)
    return int(value or 0)


# -- wrk -----------------------------------------------------------------------------------------------------


def parse_wrk(output: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON "):])  # type: ignore[no-any-return]
    raise RuntimeError(f"wrk printed no WRK_JSON line:\n{output[-2000:]}")


def wrk_command(url: str, path: str, connections: int, duration_s: float, tag: str, threads: int = 1) -> list[str]:
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--timeout", "5s",
            "-s", str(WRK_SCRIPT), url, "--", path, tag]


def run_wrk(url: str, path: str, connections: int, duration_s: float, tag: str | None = None) -> dict[str, Any]:
    """Run wrk once; returns its counts, statuses and latency percentiles (µs), plus ``rps``."""
    tag = tag or uuid.uuid4().hex[:10]
    done = subprocess.run(wrk_command(url, path, connections, duration_s, tag), capture_output=True, text=True,
                          timeout=duration_s + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout[-500:]}")
    result = parse_wrk(done.stdout)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6) if result["duration_us"] else 0.0
    return result


# -- servers -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    server: str = "uvicorn"
    workers: int = 1
    env: tuple[tuple[str, str], ...] = ()


@dataclass
class Stack:
    config: Config
    redis: Any
    server: Any
    http: Any
    sales: dict[str, str] = field(default_factory=dict)

    @property
    def redis_port(self) -> int:
        return int(self.redis.port)

    def create_sale(self, role: str, stock: int) -> str:
        sale = f"bench-{self.config.key}-{role}-{uuid.uuid4().hex[:6]}"
        r = self.http.post("/admin/sales", json={"sale_id": sale, "name": f"bench {role}", "stock": stock})
        r.raise_for_status()
        self.sales[role] = sale
        return sale

    def audit(self, sale: str) -> dict[str, Any]:
        r = self.http.get(f"/admin/sales/{sale}/audit")
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]


@contextmanager
def api_stack(redis: Any, config: Config, log_dir: Path) -> Iterator[Stack]:
    import httpx

    from flashsale.local import LocalServer

    redis_command(redis.port, "FLUSHALL")
    # INFO is the product's default: one JSON log line per attempt, so "telemetry on" includes the logs.
    env = {"FLASHSALE_BENCH_ROUTES": "true", "FLASHSALE_LOG_LEVEL": "INFO", **dict(config.env)}
    server = LocalServer(redis.url, env=env, workers=config.workers, server=config.server)
    server.start(log_path=str(log_dir / f"bench-server-{config.key}.log"))
    http = httpx.Client(base_url=server.url, timeout=30.0,
                        headers={"Authorization": f"Bearer {server.admin_token}"})
    try:
        deadline = time.monotonic() + 10
        while len(tree_pids(server.process.pid)) < 1 + (config.workers if config.workers > 1 else 0):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        yield Stack(config, redis, server, http)
    finally:
        http.close()
        server.stop()


# -- one measured run, and a figure made of runs ----------------------------------------------------------------------

ROUTE_PATHS = {"purchase": "/sales/{sale}/purchases", "bare": "/bench/bare/{sale}",
               "soldout": "/sales/{sale}/purchases"}
EXPECTED_STATUS = {"purchase": "201", "bare": "200", "soldout": "409"}


def measure(stack: Stack, route: str, connections: int, duration_s: float) -> dict[str, Any]:
    sale = stack.sales[route]
    port = stack.redis_port
    server_pid = stack.server.process.pid
    redis_pid = stack.redis.process.pid
    wait_quiet(port)
    cmd0, orders0 = snapshot(port, sale)
    server0, redis0, busy0, own0, t0 = (tree_cpu_s(server_pid), proc_cpu_s(redis_pid), machine_busy_s(),
                                        own_cpu_s(), time.monotonic())
    wrk = run_wrk(stack.server.url, ROUTE_PATHS[route].format(sale=sale), connections, duration_s)
    wait_quiet(port)
    server1, redis1, busy1, own1, t1 = (tree_cpu_s(server_pid), proc_cpu_s(redis_pid), machine_busy_s(),
                                        own_cpu_s(), time.monotonic())
    cmd1, orders1 = snapshot(port, sale)
    audit = stack.audit(sale)
    requests = max(1, wrk["requests"])
    commands = command_deltas(cmd0, cmd1)
    script_inside = sum(n for name, n in commands.items() if name in SCRIPT_COMMANDS)
    setup = sum(n for name, n in commands.items() if name in CONNECTION_SETUP)
    total = sum(commands.values())
    orders = orders1 - orders0
    per = orders if route != "soldout" and orders > 0 else requests
    server_cpu, redis_cpu, own_cpu = server1 - server0, redis1 - redis0, own1 - own0
    elapsed = t1 - t0
    background = max(0.0, (busy1 - busy0) - server_cpu - redis_cpu - own_cpu)
    statuses = {str(k): v for k, v in wrk["statuses"].items()}
    unexpected = wrk["requests"] - statuses.get(EXPECTED_STATUS[route], 0)
    errors = wrk["errors"]
    lat = wrk["latency_us"]
    return {
        "rps": round(wrk["rps"], 1),
        "requests": wrk["requests"],
        "p50_ms": lat["p50"] / 1000, "p95_ms": lat["p95"] / 1000, "p99_ms": lat["p99"] / 1000,
        "p999_ms": lat["p999"] / 1000, "max_ms": lat["max"] / 1000,
        "statuses": statuses,
        "unexpected_responses": unexpected,
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "orders": orders,
        "api_cpu_us_per_request": round(server_cpu / requests * 1e6, 1),
        "api_cpu_cores": round(server_cpu / elapsed, 2),
        "redis_cpu_us_per_request": round(redis_cpu / requests * 1e6, 1),
        "generator_cpu_cores": round(own_cpu / elapsed, 2),
        "background_cpu_cores": round(background / elapsed, 2),
        "evalsha_per_purchase": round(commands.get("evalsha", 0) / per, 4),
        "commands_per_purchase_all": round(total / per, 4),
        "client_commands_per_purchase": round((total - script_inside - setup) / per, 4),
        "connection_setup_commands": setup,
        "commands": commands,
        "audit": {k: audit[k] for k in ("sold", "remaining", "orders", "oversold", "ok")},
    }


FIGURE_KEYS = ("rps", "p50_ms", "p95_ms", "p99_ms", "p999_ms", "api_cpu_us_per_request", "api_cpu_cores",
               "redis_cpu_us_per_request", "generator_cpu_cores", "background_cpu_cores", "evalsha_per_purchase",
               "commands_per_purchase_all", "client_commands_per_purchase")


def figure(config: Config, route: str, connections: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"config": config.key, "label": config.label, "server": config.server,
                           "workers": config.workers, "route": route, "connections": connections}
    for key in FIGURE_KEYS:
        out[key] = round(median([r[key] for r in runs]), 4 if "per_purchase" in key else 2)
    out["oversold"] = max(r["audit"]["oversold"] for r in runs)
    out["audit_ok"] = all(r["audit"]["ok"] for r in runs)
    out["unexpected_responses"] = sum(r["unexpected_responses"] for r in runs)
    out["socket_errors"] = sum(r["socket_errors"] for r in runs)
    out["runs"] = runs
    return out


@dataclass
class Bench:
    args: argparse.Namespace
    figures: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    retries_left: int = 4
    """Runs disturbed by other processes that may be measured again (bounds the bench's duration)."""

    def say(self, message: str) -> None:
        print(f"[bench {time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def measure_config(self, stack: Stack, routes: list[str], connections: list[int]) -> None:
        """For each connection count: a warm-up of every route, then the runs, routes interleaved."""
        a = self.args
        for conns in connections:
            wait_for_quiet_machine()
            runs: dict[str, list[dict[str, Any]]] = {route: [] for route in routes}
            for route in routes:
                run_wrk(stack.server.url, ROUTE_PATHS[route].format(sale=stack.sales[route]), conns, a.warmup)
            for _ in range(a.repeats):
                for route in routes:
                    run = measure(stack, route, conns, a.duration)
                    if run["background_cpu_cores"] > NOISY_CORES and self.retries_left > 0:  # disturbed: once more
                        self.retries_left -= 1
                        self.say(f"{route} c={conns}: other processes used {run['background_cpu_cores']:.2f} "
                                 "cores during the run; measuring it again")
                        wait_for_quiet_machine()
                        again = measure(stack, route, conns, a.duration)
                        again["retried_after_noise"] = run["background_cpu_cores"]
                        run = min(run, again, key=lambda r: r["background_cpu_cores"])
                    runs[route].append(run)
            for route in routes:
                fig = figure(stack.config, route, conns, runs[route])
                self.figures.append(fig)
                self.say(f"{stack.config.label:28} {route:8} c={conns:<4} {fig['rps']:8.0f} req/s  "
                         f"p50 {fig['p50_ms']:6.2f}  p99 {fig['p99_ms']:6.2f} ms  "
                         f"API {fig['api_cpu_us_per_request']:5.0f} µs/req  bg {fig['background_cpu_cores']:.2f} cores")

    def find(self, config: str, route: str, connections: int) -> dict[str, Any] | None:
        for fig in self.figures:
            if (fig["config"], fig["route"], fig["connections"]) == (config, route, connections):
                return fig
        return None


# -- MONITOR sample, redis-benchmark, profile ---------------------------------------------------------------------

MONITOR_LINE = re.compile(r'^\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"')


def parse_monitor(text: str) -> tuple[Counter[str], Counter[str]]:
    """MONITOR output -> (commands sent by clients, commands run by scripts), by name."""
    clients: Counter[str] = Counter()
    scripts: Counter[str] = Counter()
    for line in text.splitlines():
        m = MONITOR_LINE.match(line)
        if not m:
            continue
        (scripts if m.group(1) == "lua" else clients)[m.group(2).lower()] += 1
    return clients, scripts


def monitor_sample(stack: Stack, connections: int = 10, seconds: float = 1.0) -> dict[str, Any]:
    port, sale = stack.redis_port, stack.sales["purchase"]
    orders0 = sale_field(port, sale, "orders")
    with tempfile.TemporaryFile("w+") as out:
        monitor = subprocess.Popen(["redis-cli", "-p", str(port), "monitor"], stdout=out, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        wrk = run_wrk(stack.server.url, ROUTE_PATHS["purchase"].format(sale=sale), connections, seconds)
        time.sleep(SETTLE_S)
        monitor.terminate()
        monitor.wait(timeout=5)
        out.seek(0)
        clients, scripts = parse_monitor(out.read())
    orders = sale_field(port, sale, "orders") - orders0
    per = max(1, orders)
    return {"requests": wrk["requests"], "orders": orders, "client_commands": dict(clients),
            "script_commands": dict(scripts), "client_commands_per_purchase": round(sum(clients.values()) / per, 4),
            "script_commands_per_purchase": round(sum(scripts.values()) / per, 2)}


def redis_ceiling(redis: Any, repeats: int, duration_s: float) -> dict[str, Any]:
    """redis-benchmark of EVALSHA purchase.lua: 50 clients, random idempotency keys, one buyer, no limit."""
    port = redis.port
    redis_command(port, "FLUSHALL")
    from flashsale.inventory.scripts import LuaScript  # the source Redis runs (holdlib.lua prepended)

    sha = str(redis_command(port, "SCRIPT", "LOAD", LuaScript.load("purchase").source))
    redis_command(port, "HSET", "fs:{s}:sale", "name", "redis-benchmark", "total", str(HUGE_STOCK * 1000),
                  "remaining", str(HUGE_STOCK * 1000), "sold", "0", "orders", "0", "limit", "0", "closed", "0")
    command = ["EVALSHA", sha, "4", "fs:{s}:sale", "fs:{s}:buyers", "fs:{s}:orders", "fs:{s}:idem:__rand_int__",
               "b", "1", "k", "60"]

    def once(n: int) -> dict[str, float]:
        done = subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(n), "-c", "50", "-r", "1000000000",
                               "--csv", *command], capture_output=True, text=True, timeout=120, check=True)
        header, row = [line for line in done.stdout.splitlines() if line.strip()][-2:]
        names = [h.strip('"') for h in header.split('","')]
        values = [v.strip('"') for v in row.split('","')]
        data = dict(zip(names, values, strict=True))
        return {"rps": float(data["rps"]), "p50_ms": float(data["p50_latency_ms"]),
                "p99_ms": float(data["p99_latency_ms"])}

    first = once(20_000)
    n = max(20_000, int(first["rps"] * duration_s))
    runs = [once(n) for _ in range(repeats)]
    audit = [int(x or 0) for x in redis_command(port, "HMGET", "fs:{s}:sale", "sold", "orders")]
    redis_command(port, "FLUSHALL")
    return {"command": f"redis-benchmark -c 50 -n {n} -r 1000000000 EVALSHA <sha of purchase.lua> 4 fs:{{s}}:sale "
                       "fs:{s}:buyers fs:{s}:orders fs:{s}:idem:__rand_int__ b 1 k 60",
            "rps": round(median([r["rps"] for r in runs]), 1), "p50_ms": median([r["p50_ms"] for r in runs]),
            "p99_ms": median([r["p99_ms"] for r in runs]), "runs": runs, "sold": audit[0], "orders": audit[1]}


def classify_frame(frame: str) -> str:
    """A py-spy frame ``Class.function (path:line)`` -> the component its code belongs to."""
    name, _, path = frame.rpartition(" (")
    if name == "Runner.run" and "asyncio/runners.py" in path:
        return "event loop itself (uvloop C code: I/O, callbacks)"
    rules = (
        ("flashsale/", "flashsale (own code)"), ("litestar/plugins/prometheus", "Litestar Prometheus middleware"),
        ("litestar/", "Litestar (other)"), ("redis/", "redis-py"), ("uvicorn/", "uvicorn"), ("granian", "granian"),
        ("prometheus_client/", "prometheus-client"), ("opentelemetry/", "OpenTelemetry"),
        ("anyio/", "anyio / sniffio"), ("sniffio/", "anyio / sniffio"), ("asyncio/", "asyncio (Python part)"),
        ("msgspec", "msgspec"), ("structlog/", "logging"), ("logging/", "logging"), ("httptools", "httptools"),
    )
    for needle, component in rules:
        if needle in path:
            return component
    return "other (stdlib, ...)"


INCLUSIVE: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("uvicorn: HTTP protocol, parsing, sending", lambda f: "(uvicorn/" in f),
    ("  Litestar app (everything inside the ASGI call)", lambda f: f.startswith("Litestar.__call__ (")),
    ("    Prometheus middleware and all it wraps", lambda f: "(litestar/plugins/prometheus/" in f),
    ("    dependency injection (KwargsModel.resolve_dependencies)", lambda f: "resolve_dependencies (" in f),
    ("      anyio task group (made when a handler has 2+ dependencies)", lambda f: "(anyio/" in f),
    ("    parameters: path, header, validation (litestar/_kwargs)", lambda f: "(litestar/_kwargs/" in f),
    ("    the purchase handler (PurchaseController.purchase)", lambda f: f.startswith("PurchaseController.purchase (")),
    ("      body decode (decode_purchase, msgspec)", lambda f: f.startswith("decode_purchase (")),
    ("      Inventory.purchase (deadline + script call)", lambda f: f.startswith("Inventory.purchase (")),
    ("        asyncio.timeout (the Redis deadline)", lambda f: "(asyncio/timeouts.py" in f),
    ("        redis-py (pool, pack, send, parse)", lambda f: "(redis/" in f),
    ("      metrics: Recorder.attempt", lambda f: f.startswith("Recorder.attempt (")),
    ("      OpenTelemetry spans", lambda f: "(opentelemetry/" in f),
    ("      logs (structlog / logging)", lambda f: "(structlog/" in f or "(logging/" in f or "flashsale/logs.py" in f),
    ("      answer(): outcome -> Response", lambda f: f.startswith("answer (flashsale/")),
    ("    Litestar response: headers, encoding, send", lambda f: "(litestar/response/" in f),
)
"""Steps of a request and how to recognise their frames; a sample counts for a step if any frame matches."""


IDLE_LEAVES = ("Condition.wait (threading.py", "_worker (concurrent/futures/thread.py", "Event.wait (threading.py",
               "Queue.get (queue.py")
"""Leaf frames of threads that wait (QueueListener, thread pools): not CPU, though py-spy may sample them."""


def summarise_profile(raw: str, top: int = 15) -> dict[str, Any]:
    """py-spy ``--format raw --threads`` (collapsed stacks) -> where the event loop thread spends its time.

    Self time by component (the frame on top of each sample), inclusive time of the steps of a request (a
    sample counts for a step when any of its frames belongs to it), the top functions; samples of other
    threads (e.g. exporters) are only counted, as a share of all samples.
    """
    total = main_total = 0
    threads: Counter[str] = Counter()
    by_component: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread = "MainThread"
        if frames[0].startswith("thread ("):
            thread = frames[0].partition(": ")[2] or frames[0]
            frames = frames[1:]
        if not frames or frames[-1].startswith(IDLE_LEAVES):
            continue  # a thread blocked in a wait py-spy could not tell from a running one
        total += n
        threads[thread] += n
        if thread != "MainThread":
            continue
        main_total += n
        leaf = frames[-1]
        by_component[classify_frame(leaf)] += n
        by_function[re.sub(r":\d+\)$", ")", leaf)] += n
        for label, match in INCLUSIVE:
            if any(match(f) for f in frames):
                inclusive[label] += n

    def pct(n: int, of: int) -> float:
        return round(100 * n / of, 1) if of else 0.0

    return {
        "samples": total,
        "main_thread_samples": main_total,
        "threads": {name: pct(n, total) for name, n in threads.most_common()},
        "self_by_component": {k: pct(v, main_total) for k, v in by_component.most_common()},
        "inclusive": {label: pct(inclusive[label], main_total) for label, _ in INCLUSIVE},
        "top_functions_self": {k: pct(v, main_total) for k, v in by_function.most_common(top)},
    }


def profile(stack: Stack, seconds: float, reports: Path) -> dict[str, Any]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        return {"error": "py-spy not found"}
    workers = stack.server.worker_pids()
    pid = workers[0]
    path = ROUTE_PATHS["purchase"].format(sale=stack.sales["purchase"])
    wrk = subprocess.Popen(wrk_command(stack.server.url, path, 50, 2 * seconds + 4, "profile"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        raw_path, svg_path = reports / "profile.txt", reports / "profile.svg"
        results = []
        for fmt, out in (("raw", raw_path), ("flamegraph", svg_path)):
            results.append(subprocess.run(
                [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
                 "--threads", "--format", fmt, "--output", str(out)],
                capture_output=True, text=True, timeout=seconds + 60, check=False))
    finally:
        wrk.wait(timeout=2 * seconds + 60)
    if results[0].returncode != 0 or not raw_path.exists():
        return {"error": (results[0].stderr or results[0].stdout).strip()[-500:]}
    summary = summarise_profile(raw_path.read_text())
    summary.update({"pid": pid, "seconds": seconds, "svg": svg_path.name if svg_path.exists() else None,
                    "raw": raw_path.name, "load": "wrk -c50 on the purchase route, uvicorn 1 worker"})
    return summary


# -- versions and the report --------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name, dist in (("litestar", "litestar"), ("redis-py", "redis"), ("hiredis", "hiredis"),
                       ("uvicorn", "uvicorn"), ("granian", "granian"), ("uvloop", "uvloop"),
                       ("httptools", "httptools"), ("msgspec", "msgspec"), ("prometheus-client", "prometheus-client"),
                       ("locust", "locust"), ("flashsale", "flashsale")):
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
        return {"target": name, "label": label, "value": value, "threshold": threshold, "kind": kind, "met": met,
                "by": by}

    return [
        row("purchase_vs_bare", "purchase path ≥ 0.8 x bare endpoint (req/s)", result["purchase_vs_bare"],
            TARGETS["purchase_vs_bare"], ">="),
        row("soldout_vs_bare", "sold-out phase ≥ 1.0 x bare endpoint (req/s)", result["soldout_vs_bare"],
            TARGETS["soldout_vs_bare"], ">="),
        row("redis_commands_per_purchase", "exactly 1 Redis command per purchase",
            result["redis_commands_per_purchase"], TARGETS["redis_commands_per_purchase"], "=="),
        row("p99_ms", "p99 at 50 connections < 10 ms", result["p99_ms"], TARGETS["p99_ms"], "<", " ms"),
        row("p99_200_vs_bare", "p99 at 200 connections ≤ 2 x bare's p99", result["p99_200_vs_bare"],
            TARGETS["p99_200_vs_bare"], "<="),
        row("telemetry_overhead_ratio", "telemetry on / off ≥ 0.85 (req/s)", result["telemetry_overhead_ratio"],
            TARGETS["telemetry_overhead_ratio"], ">="),
        row("oversold", "zero oversell in every run", float(result["oversold"]), 0.0, "=="),
    ]


def diagnose(result: dict[str, Any]) -> list[str]:
    """Explain each missed target from the figures and the profile of this very run."""
    missed = {t["target"] for t in result["targets"] if t["met"] is False}
    prof = result.get("profile") or {}
    inclusive = prof.get("inclusive", {})

    def share(fragment: str) -> float:
        return float(next((v for k, v in inclusive.items() if fragment in k), 0.0))

    notes: list[str] = []
    if "purchase_vs_bare" in missed:
        extra = result["cpu_us_per_purchase"] - result["cpu_us_per_bare"]
        notes.append(
            f"* **purchase vs bare**: a purchase costs the worker {result['cpu_us_per_purchase']:.0f} µs of CPU, the "
            f"bare route {result['cpu_us_per_bare']:.0f} µs: {extra:.0f} µs more, and one worker is CPU-bound, so "
            "throughput follows CPU per request. Work only the purchase route does, from the profile: "
            f"the anyio task group Litestar makes to resolve its two dependencies concurrently "
            f"({share('anyio task group')} % of the worker's samples: two extra asyncio tasks and cancel scopes per "
            f"request; the bare route has one dependency, resolved inline), the asyncio.timeout deadline around "
            f"the script call ({share('asyncio.timeout')} %), and path/header validation ({share('parameters')} % "
            "including what the bare route also does).")
    if "soldout_vs_bare" in missed:
        notes.append("* **sold-out phase**: sold-out answers still go through the whole Litestar handler; the memo "
                     "only saves the Redis round trip. Whatever makes a purchase dearer than the bare route applies.")
    if "p99_ms" in missed and result.get("purchase_rps"):
        mean = 50 / result["purchase_rps"] * 1000
        tail = result["p99_ms"] / mean
        needed = 50 * tail / (TARGETS["p99_ms"] / 1000)
        notes.append(
            f"* **p99 at 50 connections**: wrk keeps 50 requests in flight (closed loop), so the mean latency is "
            f"50 / {result['purchase_rps']:,.0f} req/s = {mean:.1f} ms (Little's law), and the p99 is "
            f"{result['p99_ms']:.1f} ms = {tail:.2f} x the mean. With that tail, p99 < 10 ms at 50 connections needs "
            f"about {needed:,.0f} req/s from the configuration: cheaper requests (below) or more CPU per worker "
            "(here wrk, Redis and the API share two cores).")
    if "p99_200_vs_bare" in missed:
        notes.append(
            "* **p99 at 200 connections**: each worker's Redis pool holds FLASHSALE_REDIS_MAX_CONNECTIONS (default "
            "64) connections; with 200 requests in flight the others wait for one, and the asyncio pool's waiting "
            "is not first-come-first-served, so a few requests wait much longer than the rest.")
    if "telemetry_overhead_ratio" in missed:
        on, off = result["cpu_us_per_purchase"], result.get("cpu_us_per_purchase_telemetry_off")
        notes.append(
            f"* **telemetry**: {on:.0f} µs per purchase with telemetry, {fmt(off, 0)} µs without. A large part is "
            "Litestar's PrometheusMiddleware, which builds a Request, wraps send with functools.wraps and calls "
            "prometheus-client's labels() (hash and lock) four times per request (self time: "
            f"{prof.get('self_by_component', {}).get('Litestar Prometheus middleware', 0)} % middleware, "
            f"{prof.get('self_by_component', {}).get('prometheus-client', 0)} % prometheus-client).")
    if "oversold" in missed:
        notes.append("* **OVERSOLD**: a sale sold more than its stock: a correctness bug, see the runs in bench.json.")
    if notes:
        notes.append("")
        notes.append("load/README.md (Findings) lists the fixes measured so far and their effect.")
    return notes


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown(result: dict[str, Any]) -> str:
    m = result["method"]
    lines = [
        "# flashsale benchmark",
        "",
        f"Generated {result['generated_at']} by `python -m load.bench` in {result['duration_total_s']:.0f} s. "
        f"Machine: {result['machine']['cores']} cores ({result['machine']['cpu_model']}), load average at start "
        f"{result['machine']['loadavg_start']}.",
        "",
        f"Method: wrk with 1 thread and `load/wrk/purchase.lua` (a new buyer id and Idempotency-Key per request, so "
        f"every request runs the whole script and sells one unit); each figure is the median of {m['repeats']} runs "
        f"of {m['duration_s']:g} s after a {m['warmup_s']:g} s warm-up; routes of one configuration are measured "
        f"interleaved. Before each figure the bench waits (up to 10 s) for the machine to be quiet, and a run "
        f"during which other processes used more than {NOISY_CORES:g} cores is measured once more (the quieter one "
        "counts; at most 4 such retries). Latencies are wrk's (closed loop: mean latency = connections / "
        "throughput).",
        "",
        f"**Headline configuration** (`purchase_rps`, `p99_ms`, `bare_rps`): {result['headline']}.",
        "",
        "**This is a 2-core machine:** wrk, the API worker(s) and Redis share the same two cores (and so did "
        "whatever else ran on the machine: the `bg cores` column is the CPU other processes used during each run). "
        "Absolute figures are therefore lower than on a dedicated server; the ratios between routes measured "
        "interleaved on the same box are the robust part.",
        "",
        *([f"**Noise warning:** other processes used more than {NOISY_CORES / 2:g} cores (median) during: "
           + "; ".join(result["noisy_figures"]) + ". Their req/s ratios are less reliable than the CPU-based "
           "ones (`purchase_vs_bare_by_cpu` = bare µs / purchase µs).", ""] if result.get("noisy_figures") else []),
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
    for key in ("purchase_rps", "bare_rps", "purchase_vs_bare", "purchase_vs_bare_by_cpu", "soldout_rps",
                "soldout_vs_bare",
                "soldout_rps_without_memo", "redis_ceiling_rps", "redis_commands_per_purchase", "p99_ms",
                "p99_ms_200", "bare_p99_ms_200", "cpu_us_per_purchase", "cpu_us_per_bare", "telemetry_overhead_ratio",
                "telemetry_overhead_ratio_by_cpu", "soldout_vs_bare_by_cpu", "oversold"):
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
            f"{f['redis_cpu_us_per_request']:.0f} | {f['generator_cpu_cores']:.2f} | {f['background_cpu_cores']:.2f} |")
    rb = result.get("redis_benchmark") or {}
    lines += [
        "",
        "Routes: `purchase` = `POST /sales/{id}/purchases` (the product); `bare` = `POST /bench/bare/{id}` (same app "
        "and middleware, reads the body and runs the same script, no validation, outcome mapping or metrics: the "
        "framework ceiling); `soldout` = the purchase route on a sold-out sale.",
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
        f"* MONITOR sample ({mon.get('requests', 'n/a')} requests, {mon.get('orders', 'n/a')} orders): commands "
        f"from API connections {mon.get('client_commands')} = {fmt(mon.get('client_commands_per_purchase'), 4)} per "
        f"purchase; inside the script {fmt(mon.get('script_commands_per_purchase'), 2)} per purchase "
        f"({mon.get('script_commands')}).",
        "",
        "## ASGI server: uvicorn against granian",
        "",
    ]
    for c in (50, 200):
        u, g = result["_find"]("uvicorn-1", "purchase", c), result["_find"]("granian-1", "purchase", c)
        if u and g:
            lines.append(f"* purchase, {c} connections: uvicorn {u['rps']:,.0f} req/s (p99 {u['p99_ms']:.1f} ms, "
                         f"{u['api_cpu_us_per_request']:.0f} µs/req) against granian {g['rps']:,.0f} req/s "
                         f"(p99 {g['p99_ms']:.1f} ms, {g['api_cpu_us_per_request']:.0f} µs/req): granian/uvicorn = "
                         f"{g['rps'] / u['rps']:.2f}.")
    lines += [
        "",
        "## Telemetry",
        "",
        f"Purchase route, 50 connections, uvicorn 1 worker: telemetry on {fmt(result.get('purchase_rps'), 0)} req/s, "
        f"off {fmt(result.get('purchase_rps_telemetry_off'), 0)} req/s: ratio "
        f"**{fmt(result.get('telemetry_overhead_ratio'), 3)}** (target ≥ 0.85). CPU per purchase "
        f"{fmt(result.get('cpu_us_per_purchase'), 0)} µs on, {fmt(result.get('cpu_us_per_purchase_telemetry_off'), 0)} "
        "µs off.",
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
            f"Flame graph: `load/reports/{prof.get('svg')}`; collapsed stacks: `load/reports/{prof['raw']}`. "
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
    lines += ["", "## Versions", "", "| component | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result["versions"].items()]
    lines += ["", "![throughput and p99 against connections](bench.png)", ""]
    return "\n".join(lines)


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
            points = sorted((f for f in result["figures"] if f["label"] == label and f["route"] == route),
                            key=lambda f: f["connections"])
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
    ax_p99.axhline(TARGETS["p99_ms"], color="red", linestyle=":", label="p99 target at 50 connections")
    for ax in (ax_rps, ax_p99):
        ax.grid(alpha=0.3)
        ax.set_xticks(sorted({f["connections"] for f in result["figures"]}))
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"flashsale on {result['machine']['cores']} cores (wrk, API and Redis share them); "
                 "solid: purchase route, dashed: bare route")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main -------------------------------------------------------------------------------------------------------------


CONFIGS = {
    "uvicorn-1": Config("uvicorn-1", "uvicorn, 1 worker"),
    "uvicorn-2": Config("uvicorn-2", "uvicorn, 2 workers", workers=2),
    "granian-1": Config("granian-1", "granian, 1 worker", server="granian"),
    "telemetry-off": Config("telemetry-off", "uvicorn, 1 worker, telemetry off",
                            env=(("FLASHSALE_TELEMETRY", "false"),)),
    "memo-off": Config("memo-off", "uvicorn, 1 worker, sold-out memo off",
                       env=(("FLASHSALE_SOLDOUT_CACHE_MS", "0"),)),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m load.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measured run (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per figure (default 1)")
    p.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    p.add_argument("--connections", default="50,200", help="comma-separated connection counts (default 50,200)")
    p.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True,
                   help="py-spy the worker during a purchase run (default on)")
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
        with api_stack(redis, CONFIGS["uvicorn-1"], reports) as stack:
            stack.create_sale("purchase", HUGE_STOCK)
            stack.create_sale("bare", HUGE_STOCK)
            stack.create_sale("soldout", SOLDOUT_STOCK)
            bench.measure_config(stack, ["purchase", "bare"], conns)
            bench.measure_config(stack, ["soldout"], [50])
            bench.extra["monitor_sample"] = monitor_sample(stack)
            bench.say(f"MONITOR sample: {bench.extra['monitor_sample']['client_commands']} for "
                      f"{bench.extra['monitor_sample']['orders']} purchases")
            if args.profile:
                bench.extra["profile"] = profile(stack, args.profile_seconds, reports)
                bench.say("profile: " + bench.extra["profile"].get("error", "done"))
        with api_stack(redis, CONFIGS["uvicorn-2"], reports) as stack:
            stack.create_sale("purchase", HUGE_STOCK)
            stack.create_sale("bare", HUGE_STOCK)
            bench.measure_config(stack, ["purchase", "bare"], conns)
        with api_stack(redis, CONFIGS["granian-1"], reports) as stack:
            stack.create_sale("purchase", HUGE_STOCK)
            stack.create_sale("bare", HUGE_STOCK)
            bench.measure_config(stack, ["purchase", "bare"], conns)
        with api_stack(redis, CONFIGS["telemetry-off"], reports) as stack:
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
    tel_off = f("telemetry-off", "purchase", 50)
    assert purchase and bare and soldout and tel_off
    oversold = max(x["oversold"] for x in bench.figures)
    audits_ok = all(x["audit_ok"] for x in bench.figures)
    soldout_sold_ok = all(r["audit"]["sold"] == SOLDOUT_STOCK for x in bench.figures if x["route"] == "soldout"
                          for r in x["runs"])
    result.update({
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_total_s": 0.0,
        "machine": {"cores": CORES, "cpu_model": cpu_model(), "loadavg_start": loadavg,
                    "platform": platform.platform()},
        "versions": versions(),
        "method": {"duration_s": args.duration, "warmup_s": args.warmup, "repeats": args.repeats,
                   "connections": conns, "wrk_threads": 1, "statistic": "median of the runs"},
        "headline": "uvicorn, 1 worker, telemetry on, 50 connections, purchase route (bare: same server, bare route)",
        "purchase_rps": purchase["rps"],
        "bare_rps": bare["rps"],
        "purchase_vs_bare": ratio(purchase["rps"], bare["rps"]),
        "purchase_vs_bare_by_cpu": ratio(bare["api_cpu_us_per_request"], purchase["api_cpu_us_per_request"]),
        "soldout_rps": soldout["rps"],
        "soldout_vs_bare": ratio(soldout["rps"], bare["rps"]),
        "soldout_rps_without_memo": soldout_nomemo["rps"] if soldout_nomemo else None,
        "redis_ceiling_rps": rb["rps"],
        "redis_commands_per_purchase": purchase["client_commands_per_purchase"],
        "commands": {k: purchase[k] for k in ("evalsha_per_purchase", "commands_per_purchase_all",
                                              "client_commands_per_purchase")},
        "p99_ms": purchase["p99_ms"],
        "p50_ms": purchase["p50_ms"],
        "p95_ms": purchase["p95_ms"],
        "p99_ms_200": purchase200["p99_ms"] if purchase200 else None,
        "bare_p99_ms_200": bare200["p99_ms"] if bare200 else None,
        "p99_200_vs_bare": ratio(purchase200["p99_ms"], bare200["p99_ms"]) if purchase200 and bare200 else None,
        "cpu_us_per_purchase": purchase["api_cpu_us_per_request"],
        "cpu_us_per_bare": bare["api_cpu_us_per_request"],
        "purchase_rps_telemetry_off": tel_off["rps"],
        "cpu_us_per_purchase_telemetry_off": tel_off["api_cpu_us_per_request"],
        "telemetry_overhead_ratio": ratio(purchase["rps"], tel_off["rps"]),
        "telemetry_overhead_ratio_by_cpu": ratio(tel_off["api_cpu_us_per_request"], purchase["api_cpu_us_per_request"]),
        "soldout_vs_bare_by_cpu": ratio(bare["api_cpu_us_per_request"], soldout["api_cpu_us_per_request"]),
        "oversold": oversold,
        "audits_ok": audits_ok and soldout_sold_ok,
        "noisy_figures": [f"{x['label']} {x['route']} c={x['connections']}" for x in bench.figures
                          if x["background_cpu_cores"] > NOISY_CORES / 2],
        "redis_benchmark": rb,
        "figures": bench.figures,
        **bench.extra,
    })
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
    print(f"bench: total {result['duration_total_s']:.0f} s; purchase {result['purchase_rps']:,.0f} req/s, "
          f"bare {result['bare_rps']:,.0f} req/s, p99 {result['p99_ms']:.2f} ms, oversold {result['oversold']}")
    return 0 if result["oversold"] == 0 and result["audits_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

