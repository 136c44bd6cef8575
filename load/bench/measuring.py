"""Measuring: wrk runs against API servers the bench starts, CPU and Redis accounting per run."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load.bench.common import (
    NOISY_CORES,
    SCRIPT_COMMANDS,
    WRK_SCRIPT,
    machine_busy_s,
    median,
    own_cpu_s,
    proc_cpu_s,
    tree_cpu_s,
    tree_pids,
    wait_for_quiet_machine,
)
from load.bench.receiver import OtlpReceiver
from load.bench.redis_stats import (
    CONNECTION_SETUP,
    COUNTERS,
    command_deltas,
    redis_command,
    snapshot,
    wait_quiet,
)
from load.buyers import WRK_BUYERS_ENV, mint_file

# -- wrk -----------------------------------------------------------------------------------------------------


def parse_wrk(output: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON ") :])  # type: ignore[no-any-return]
    raise RuntimeError(f"wrk printed no WRK_JSON line:\n{output[-2000:]}")


def wrk_command(
    url: str, path: str, connections: int, duration_s: float, tag: str, threads: int = 1, mode: str | None = None
) -> list[str]:
    """wrk with load/wrk/purchase.lua; ``mode`` is the script's optional third argument ("get", "tokens=...")."""
    return [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "5s",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        path,
        tag,
        *([mode] if mode else []),
    ]


def run_wrk(
    url: str, path: str, connections: int, duration_s: float, tag: str | None = None, mode: str | None = None
) -> dict[str, Any]:
    """Run wrk once; returns its counts, statuses and latency percentiles (µs), plus ``rps``."""
    tag = tag or uuid.uuid4().hex[:10]
    done = subprocess.run(
        wrk_command(url, path, connections, duration_s, tag, mode=mode),
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout[-500:]}")
    result = parse_wrk(done.stdout)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6) if result["duration_us"] else 0.0
    return result


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


# -- servers -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    server: str = "uvicorn"
    workers: int = 1
    env: tuple[tuple[str, str], ...] = ()
    traced: bool = False
    """Export spans (OTLP/HTTP) to a receiver the bench starts on loopback, which counts them."""


@dataclass
class Stack:
    config: Config
    redis: Any
    server: Any
    http: Any
    sales: dict[str, str] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    """Buyer tokens of the server's demo issuer, used in turn by every generator (wrk reads the same file)."""
    receiver: OtlpReceiver | None = None
    """The OTLP/HTTP receiver the server exports its spans to (traced configurations only)."""

    @property
    def redis_port(self) -> int:
        return int(self.redis.port)

    def exporter_pids(self) -> list[int]:
        """The span exporter processes (one per worker) under the server process."""
        return [pid for pid in tree_pids(self.server.process.pid) if b"telemetry.exporter" in _cmdline(pid)]

    def metric(self, name: str) -> float:
        """A counter summed over the server's /metrics (0 when absent)."""
        text = self.http.get("/metrics").text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))

    def create_sale(self, role: str, stock: int, hold_ttl_s: int | None = None) -> str:
        sale = f"bench-{self.config.key}-{role}-{uuid.uuid4().hex[:6]}"
        body: dict[str, Any] = {"sale_id": sale, "name": f"bench {role}", "stock": stock}
        if hold_ttl_s is not None:
            body["hold_ttl_s"] = hold_ttl_s
        r = self.http.post("/admin/sales", json=body)
        r.raise_for_status()
        self.sales[role] = sale
        return sale

    def audit(self, sale: str) -> dict[str, Any]:
        r = self.http.get(f"/admin/sales/{sale}/audit")
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]


RUN_ADMISSION_KEY = secrets.token_urlsafe(32)
"""The admission key of every server this bench run starts."""
RUN_ISSUER_KEY = Path(tempfile.mkdtemp(prefix="flashsale-bench-issuer-")) / "demo-issuer-key.json"
"""The demo issuer's key of every server this bench run starts (made by the first one)."""


@contextmanager
def api_stack(redis: Any, config: Config, log_dir: Path, flush: bool = True) -> Iterator[Stack]:
    import httpx

    from flashsale.local import LocalServer

    if flush:
        redis_command(redis.port, "FLUSHALL")
    receiver = OtlpReceiver().start() if config.traced else None
    # INFO is the product's default: one JSON log line per attempt, so "telemetry on" includes the logs.
    env = {
        "FLASHSALE_BENCH_ROUTES": "true",
        "FLASHSALE_LOG_LEVEL": "INFO",
        # One key for every stack of the run: the servers measured interleaved share a Redis, whose keyring
        # refuses a second key (as it would refuse a misconfigured replica).
        "FLASHSALE_ADMISSION_KEY": RUN_ADMISSION_KEY,
        # One demo issuer too: wrk reads one buyers file (an environment variable) whichever stack it measures.
        "FLASHSALE_DEMO_ISSUER_KEY": str(RUN_ISSUER_KEY),
        **dict(config.env),
    }
    if receiver is not None:  # as compose runs it: OTLP over HTTP/protobuf to a collector
        env.update(
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_SERVICE_NAME": "flashsale-bench",
            }
        )
    server = LocalServer(redis.url, env=env, workers=config.workers, server=config.server)
    server.start(log_path=str(log_dir / f"bench-server-{config.key}.log"))
    http = httpx.Client(base_url=server.url, timeout=30.0, headers={"Authorization": f"Bearer {server.admin_token}"})
    # Buyers sign in before the load (a signature costs ~1 ms, more than a request): wrk and the bench's own
    # generators take these tokens in turn, so verification is a cache hit after each buyer's first request.
    buyers_file = log_dir / f"bench-buyers-{config.key}-{uuid.uuid4().hex[:6]}.tsv"
    mint_file(buyers_file, server.env["FLASHSALE_DEMO_ISSUER_KEY"], BENCH_BUYERS, "bench")
    os.environ[WRK_BUYERS_ENV] = str(buyers_file)
    tokens = [line.split("\t", 1)[1] for line in buyers_file.read_text().splitlines()]
    # The server must take these buyers: a refused token answers in microseconds and would pass for a fast
    # purchase. A purchase on a sale that does not exist is 404 for a signed-in buyer, 401 for anyone else.
    probe = http.post(
        "/sales/no-such-sale/purchases",
        json={"quantity": 1},
        headers={"Authorization": f"Bearer {tokens[0]}", "Idempotency-Key": uuid.uuid4().hex},
    )
    if probe.status_code != 404:
        server.stop()
        raise RuntimeError(f"the bench's buyer tokens are refused: {probe.status_code} {probe.text[:200]}")
    try:
        deadline = time.monotonic() + 10
        assert server.process is not None
        while len(tree_pids(server.process.pid)) < 1 + (config.workers if config.workers > 1 else 0):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        yield Stack(config, redis, server, http, tokens=tokens, receiver=receiver)
    finally:
        http.close()
        server.stop()
        if receiver is not None:
            receiver.stop()


# -- one measured run, and a figure made of runs ----------------------------------------------------------------------

ROUTE_PATHS = {
    "purchase": "/sales/{sale}/purchases",
    "bare": "/bench/bare/{sale}",
    "soldout": "/sales/{sale}/purchases",
    "hold": "/sales/{sale}/holds",
    "refused": "/sales/{sale}/purchases",
}
"""The hold route takes the purchase route's body ({buyer_id, quantity}) and Idempotency-Key, so
load/wrk/purchase.lua drives both: the same requests, the same WRK_JSON line, compared in the same run."""
EXPECTED_STATUS = {"purchase": "201", "bare": "200", "soldout": "409", "hold": "201", "refused": "503"}
"""``refused``: purchases on a server whose in-flight budget is 1, so nearly every one is refused early (503)."""


def request_factory(route: str, sale: str, tag: str, tokens: list[str]) -> Callable[[int], bytes]:
    """Request ``n`` of a route as load/wrk/purchase.lua sends it (same path, body and headers: the buyers'
    tokens in turn, a new Idempotency-Key each), for the bench's own generators (openloop.py). Change both
    together."""
    path = ROUTE_PATHS[route].format(sale=sale).encode()
    body = b'{"quantity":1}'
    auth = [t.encode() for t in tokens]

    def make(n: int) -> bytes:
        return (
            b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\n"
            b"Idempotency-Key: key-%s-o-%d\r\nContent-Length: %d\r\n\r\n%s"
        ) % (path, auth[n % len(auth)], tag.encode(), n, len(body), body)

    return make


BENCH_BUYERS = 500
"""Distinct buyers per stack; the bench's sales have no per-buyer limit, so buyers may buy again and again."""

ROUTE_COUNTER = {"hold": "holds"}
"""The sale hash counter that counts a route's successes (holds created for the hold route; orders otherwise)."""


def measure(stack: Stack, route: str, connections: int, duration_s: float) -> dict[str, Any]:
    sale = stack.sales[route]
    port = stack.redis_port
    server_pid = stack.server.process.pid
    redis_pid = stack.redis.process.pid
    wait_quiet(port)
    receiver = stack.receiver
    spans0 = wait_spans_settled(receiver) if receiver is not None else 0
    dropped0 = stack.metric("flashsale_spans_dropped_total") if receiver is not None else 0.0
    exporters = stack.exporter_pids()
    counter = ROUTE_COUNTER.get(route, "orders")
    cmd0, made0 = snapshot(port, sale, counter)
    exporter0 = sum(proc_cpu_s(p) for p in exporters)
    server0, redis0, busy0, own0, t0 = (
        tree_cpu_s(server_pid),
        proc_cpu_s(redis_pid),
        machine_busy_s(),
        own_cpu_s(),
        time.monotonic(),
    )
    wrk = run_wrk(stack.server.url, ROUTE_PATHS[route].format(sale=sale), connections, duration_s)
    wait_quiet(port)
    server1, redis1, busy1, own1, t1 = (
        tree_cpu_s(server_pid),
        proc_cpu_s(redis_pid),
        machine_busy_s(),
        own_cpu_s(),
        time.monotonic(),
    )
    exporter1 = sum(proc_cpu_s(p) for p in exporters)
    cmd1, made1 = snapshot(port, sale, counter)
    spans = (wait_spans_settled(receiver) - spans0) if receiver is not None else 0
    dropped = (stack.metric("flashsale_spans_dropped_total") - dropped0) if receiver is not None else 0.0
    audit = stack.audit(sale)
    requests = max(1, wrk["requests"])
    commands = command_deltas(cmd0, cmd1)
    script_inside = sum(n for name, n in commands.items() if name in SCRIPT_COMMANDS)
    setup = sum(n for name, n in commands.items() if name in CONNECTION_SETUP)
    total = sum(commands.values())
    made = made1 - made0
    per = made if route != "soldout" and made > 0 else requests
    server_cpu, redis_cpu, own_cpu = server1 - server0, redis1 - redis0, own1 - own0
    elapsed = t1 - t0
    background = max(0.0, (busy1 - busy0) - server_cpu - redis_cpu - own_cpu)
    statuses = {str(k): v for k, v in wrk["statuses"].items()}
    unexpected = wrk["requests"] - statuses.get(EXPECTED_STATUS[route], 0)
    errors = wrk["errors"]
    lat = wrk["latency_us"]
    # Answers that took 2 s or more (from wrk's own latency record), plus wrk's timeouts (answers past its
    # --timeout of 5 s, and requests its 2-s check found waiting longer than that): an upper bound.
    unanswered_2s = wrk.get("over_2s", 0) + errors["timeout"]
    seconds = wrk["duration_us"] / 1e6 or 1.0
    return {
        "rps": round(wrk["rps"], 1),
        "served_rps": round(statuses.get(EXPECTED_STATUS[route], 0) / seconds, 1),
        "answered_503": statuses.get("503", 0),
        "requests": wrk["requests"],
        "api_cpu_s": round(server_cpu, 4),
        "p50_ms": lat["p50"] / 1000,
        "p95_ms": lat["p95"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "p999_ms": lat["p999"] / 1000,
        "max_ms": lat["max"] / 1000,
        "statuses": statuses,
        "unexpected_responses": unexpected,
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "unanswered_2s": unanswered_2s,
        counter: made,
        "unit": COUNTERS[counter],
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
        "audit": {k: audit[k] for k in ("sold", "remaining", "held", "orders", "oversold", "ok")},
        "spans_received": spans,
        "spans_dropped": dropped,
        "spans_per_attempt": round(spans / made, 4) if receiver is not None and route != "bare" and made else None,
        "exporter_cpu_us_per_span": round((exporter1 - exporter0) / spans * 1e6, 1) if spans else None,
        "exporter_cpu_cores": round((exporter1 - exporter0) / elapsed, 2),
    }


def wait_spans_settled(receiver: OtlpReceiver, quiet_s: float = 0.6, timeout_s: float = 15.0) -> int:
    """The receiver's span count once it has stopped growing for ``quiet_s`` (bounded by ``timeout_s``): the
    exporter processes send what a run left in their buffers every 200 ms."""
    deadline = time.monotonic() + timeout_s
    last, since = receiver.span_count, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = receiver.span_count
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return last


FIGURE_KEYS = (
    "rps",
    "served_rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "api_cpu_us_per_request",
    "api_cpu_cores",
    "redis_cpu_us_per_request",
    "generator_cpu_cores",
    "background_cpu_cores",
    "evalsha_per_purchase",
    "commands_per_purchase_all",
    "client_commands_per_purchase",
    "exporter_cpu_cores",
)
"""A figure's medians; the ``*_per_purchase`` ones are per success of the figure's ``unit`` (a hold on the hold
route)."""


def figure(config: Config, route: str, connections: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "config": config.key,
        "label": config.label,
        "server": config.server,
        "workers": config.workers,
        "route": route,
        "connections": connections,
    }
    for key in FIGURE_KEYS:
        out[key] = round(median([r[key] for r in runs]), 4 if "per_purchase" in key else 2)
    out["oversold"] = max(r["audit"]["oversold"] for r in runs)
    out["audit_ok"] = all(r["audit"]["ok"] for r in runs)
    out["unexpected_responses"] = sum(r["unexpected_responses"] for r in runs)
    out["socket_errors"] = sum(r["socket_errors"] for r in runs)
    out["unanswered_2s"] = sum(r["unanswered_2s"] for r in runs)  # summed: every buyer left waiting counts
    out["statuses"] = {
        code: sum(int(r["statuses"].get(code, 0)) for r in runs)
        for code in sorted({c for r in runs for c in r["statuses"]})
    }
    out["traced"] = config.traced
    out["unit"] = runs[0]["unit"]
    if config.traced and route != "bare":
        made = sum(r.get("orders", 0) + r.get("holds", 0) for r in runs)
        spans = sum(r["spans_received"] for r in runs)
        out["spans_received"] = spans
        out["spans_dropped"] = sum(r["spans_dropped"] for r in runs)
        out["spans_per_attempt"] = round(spans / made, 4) if made else None
        per_span = [r["exporter_cpu_us_per_span"] for r in runs if r["exporter_cpu_us_per_span"] is not None]
        out["exporter_cpu_us_per_span"] = round(median(per_span), 1) if per_span else None
    out["runs"] = runs
    return out


QUIET_BUDGET_S = 60.0
"""Total time the bench may spend waiting for other processes to calm down (it never waits longer)."""


@dataclass
class Bench:
    args: argparse.Namespace
    figures: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    retries_left: int = 4
    """Runs disturbed by other processes that may be measured again (bounds the bench's duration)."""
    quiet_waited_s: float = 0.0
    quiet_gave_up: int = 0
    """Times the machine was still busy when a wait for quiet ended (its bound, or the budget, was reached)."""

    def say(self, message: str) -> None:
        print(f"[bench {time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def wait_quiet_machine(self) -> None:
        """Wait for a quiet machine, at most 10 s a time and QUIET_BUDGET_S in all; never hangs."""
        left = QUIET_BUDGET_S - self.quiet_waited_s
        if left <= 1.0:
            self.quiet_gave_up += 1
            return
        begun = time.monotonic()
        busy = wait_for_quiet_machine(max_wait_s=min(10.0, left))
        self.quiet_waited_s += time.monotonic() - begun
        if busy >= NOISY_CORES:
            self.quiet_gave_up += 1

    def measure_config(self, stack: Stack, routes: list[str], connections: list[int]) -> None:
        self.measure_interleaved([(stack, route) for route in routes], connections)

    def measure_interleaved(self, pairs: list[tuple[Stack, str]], connections: list[int]) -> None:
        """For each connection count: a warm-up of every (server, route), then the runs, interleaved
        (a, b, c, a, b, c, ...) so that background load on the machine hits all of them alike."""
        a = self.args
        for conns in connections:
            self.wait_quiet_machine()
            runs: list[list[dict[str, Any]]] = [[] for _ in pairs]
            for stack, route in pairs:
                run_wrk(stack.server.url, ROUTE_PATHS[route].format(sale=stack.sales[route]), conns, a.warmup)
            for _ in range(a.repeats):
                for i, (stack, route) in enumerate(pairs):
                    run = measure(stack, route, conns, a.duration)
                    if run["background_cpu_cores"] > NOISY_CORES and self.retries_left > 0:  # disturbed: once more
                        self.retries_left -= 1
                        self.say(
                            f"{stack.config.key} {route} c={conns}: other processes used "
                            f"{run['background_cpu_cores']:.2f} cores during the run; measuring it again"
                        )
                        self.wait_quiet_machine()
                        again = measure(stack, route, conns, a.duration)
                        again["retried_after_noise"] = run["background_cpu_cores"]
                        run = min(run, again, key=lambda r: r["background_cpu_cores"])
                    runs[i].append(run)
            for (stack, route), done in zip(pairs, runs, strict=True):
                fig = figure(stack.config, route, conns, done)
                self.figures.append(fig)
                spans = f"  spans/attempt {fig['spans_per_attempt']}" if fig.get("spans_per_attempt") else ""
                self.say(
                    f"{stack.config.label:34} {route:8} c={conns:<4} {fig['rps']:8.0f} req/s  "
                    f"p50 {fig['p50_ms']:6.2f}  p99 {fig['p99_ms']:6.2f} ms  "
                    f"API {fig['api_cpu_us_per_request']:5.0f} µs/req  bg {fig['background_cpu_cores']:.2f} "
                    f"cores{spans}"
                )

    def find(self, config: str, route: str, connections: int) -> dict[str, Any] | None:
        for fig in self.figures:
            if (fig["config"], fig["route"], fig["connections"]) == (config, route, connections):
                return fig
        return None
