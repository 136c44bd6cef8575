"""Profiling: py-spy on a worker under load, and where its samples went."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from load.bench.measuring import ROUTE_PATHS, Stack, wrk_command


def classify_frame(frame: str) -> str:
    """A py-spy frame ``Class.function (path:line)`` -> the component its code belongs to."""
    name, _, path = frame.rpartition(" (")
    if name == "Runner.run" and "asyncio/runners.py" in path:
        return "event loop itself (uvloop C code: I/O, callbacks)"
    rules = (
        ("flashsale/telemetry/logs.py", "logging"),
        ("flashsale/telemetry/", "flashsale telemetry (spans, metrics)"),
        ("flashsale/", "flashsale (own code)"),
        ("litestar/plugins/prometheus", "Litestar Prometheus middleware"),
        ("litestar/", "Litestar (other)"),
        ("redis/", "redis-py"),
        ("uvicorn/", "uvicorn"),
        ("granian", "granian"),
        ("prometheus_client/", "prometheus-client"),
        ("opentelemetry/", "OpenTelemetry"),
        *((name.lstrip("("), "OpenTelemetry") for name in OTEL_FILES),
        ("anyio/", "anyio / sniffio"),
        ("sniffio/", "anyio / sniffio"),
        ("asyncio/", "asyncio (Python part)"),
        ("msgspec", "msgspec"),
        ("structlog/", "logging"),
        ("logging/", "logging"),
        ("httptools", "httptools"),
    )
    for needle, component in rules:
        if needle in path:
            return component
    return "other (stdlib, ...)"


OTEL_FILES = (
    "(asgi/__init__.py",
    "(_semconv.py",
    "(attributes/__init__.py",
    "(trace/__init__.py",
    "(trace/span.py",
    "(trace/propagation/",
    "(context/",
    "(propagate/",
    "(trace_encoder/",
    "(common/_internal/",
    "(sdk/trace/",
    "(trace/export/",
)
"""py-spy shortens OpenTelemetry's paths (a namespace package) to these file names."""

INCLUSIVE: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("uvicorn: HTTP protocol, parsing, sending", lambda f: "(uvicorn/" in f),
    ("  Litestar app (everything inside the ASGI call)", lambda f: f.startswith("Litestar.__call__ (")),
    ("    OpenTelemetry ASGI middleware and all it wraps", lambda f: f.startswith("OpenTelemetryMiddleware.__call__")),
    ("    HTTP metrics middleware and all it wraps", lambda f: f.startswith("HttpMetricsMiddleware.__call__")),
    ("    parameters: path, header, validation (litestar/_kwargs)", lambda f: "(litestar/_kwargs/" in f),
    ("    the purchase handler (PurchaseController.purchase)", lambda f: f.startswith("PurchaseController.purchase (")),
    ("      body decode (decode_purchase, msgspec)", lambda f: f.startswith("decode_purchase (")),
    ("      Inventory.purchase (deadline + script call)", lambda f: ".purchase (flashsale/inventory/" in f),
    ("        asyncio.timeout (the Redis deadline)", lambda f: "(asyncio/timeouts.py" in f),
    ("        redis-py (pool, pack, send, parse)", lambda f: "(redis/" in f),
    (
        "      the attempt recorded (Recorder.begin/record: span, metrics, log)",
        lambda f: f.startswith(("Recorder.record (", "Recorder.begin (")),
    ),
    ("        span tuple, pipe to the exporter process (SpanPipe)", lambda f: f.startswith("SpanPipe.")),
    ("        per-attempt log line (AttemptLog.write)", lambda f: f.startswith("AttemptLog.write (")),
    ("      OpenTelemetry SDK (any frame)", lambda f: f.startswith("OpenTelemetry") or any(n in f for n in OTEL_FILES)),
    ("      structlog (any frame)", lambda f: "(structlog/" in f),
    ("      answer(): outcome -> Response", lambda f: f.startswith("answer (flashsale/")),
    ("    Litestar response: headers, encoding, send", lambda f: "(litestar/response/" in f),
)
"""Steps of a request and how to recognise their frames; a sample counts for a step if any frame matches."""


IDLE_LEAVES = (
    "Condition.wait (threading.py",
    "_worker (concurrent/futures/thread.py",
    "Event.wait (threading.py",
    "Queue.get (queue.py",
    "_wait_readable (flashsale/telemetry/exporter.py",
)
"""Leaf frames of threads that wait (QueueListener, thread pools): not CPU, though py-spy may sample them."""


def summarise_profile(raw: str, top: int = 15, main_only: bool = True) -> dict[str, Any]:
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
        if main_only and thread != "MainThread":
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


def profile(stack: Stack, seconds: float, reports: Path, name: str = "profile") -> dict[str, Any]:
    """py-spy the worker (and, traced, its span exporter process at the same time) under wrk -c50 on the
    purchase route: collapsed stacks in ``<name>.txt`` (and ``<name>-exporter.txt``) and their summary."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        return {"error": "py-spy not found"}
    pid = stack.server.worker_pids()[0]
    targets = [(pid, reports / f"{name}.txt")]
    targets += [(p, reports / f"{name}-exporter.txt") for p in stack.exporter_pids()[:1]]
    path = ROUTE_PATHS["purchase"].format(sale=stack.sales["purchase"])
    wrk = subprocess.Popen(
        wrk_command(stack.server.url, path, 50, seconds + 4, name), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(1.0)
        spies = [
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(target),
                    "--duration",
                    str(int(seconds)),
                    "--rate",
                    "200",
                    "--threads",
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for target, out in targets
        ]
        outputs = [spy.communicate(timeout=seconds + 60) for spy in spies]
    finally:
        wrk.wait(timeout=seconds + 60)
    raw_path = targets[0][1]
    if spies[0].returncode != 0 or not raw_path.exists():
        return {"error": (outputs[0][1] or outputs[0][0]).strip()[-500:]}
    summary = summarise_profile(raw_path.read_text())
    summary.update(
        {
            "pid": pid,
            "seconds": seconds,
            "raw": raw_path.name,
            "load": f"wrk -c50 on the purchase route, {stack.config.label}",
        }
    )
    if len(targets) > 1 and targets[1][1].exists():
        exporter = summarise_profile(targets[1][1].read_text(), main_only=False)
        summary["exporter_process"] = {
            "pid": targets[1][0],
            "raw": targets[1][1].name,
            "samples": exporter["samples"],
            "top_functions_self": exporter["top_functions_self"],
        }
    return summary
