"""Constants, targets and small system helpers (CPU of processes and of the machine) for the bench."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from pathlib import Path

LOAD_DIR = Path(__file__).resolve().parent.parent
ROOT = LOAD_DIR.parent
REPORTS = LOAD_DIR / "reports"
WRK_SCRIPT = LOAD_DIR / "wrk" / "purchase.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
HUGE_STOCK = 1_000_000_000
SOLDOUT_STOCK = 100
HOLD_TTL_S = 86_400
"""The bench's hold sale keeps its holds this long (the longest a sale allows): none expires during the run, so
every hold request runs the whole hold script against a stock that never runs out, and none is reclaimed."""
SETTLE_S = 0.3
NOISY_CORES = 0.4
"""A run during which other processes used more CPU than this (in cores) is measured once more."""

SCRIPT_COMMANDS = frozenset(
    {"hmget", "get", "time", "hget", "hincrby", "xadd", "set", "xlen", "zrangebyscore", "zrem", "hset", "zadd", "zcard"}
)
"""Every command purchase.lua, hold.lua and the reaper's reap.lua may run inside Redis: commandstats counts these
too, under their own names."""

TARGETS = {
    "purchase_vs_bare": 0.8,
    "soldout_vs_bare": 1.0,
    "redis_commands_per_purchase": 1.0,
    "redis_commands_per_hold": 1.0,
    "p99_200_vs_bare": 2.0,
    "unanswered_2s": 0.0,
    "p99_vs_p50_200": 3.0,
    "refusal_vs_purchase_cpu": 0.2,
    "open_loop_p99_ms_70": 10.0,
    "telemetry_overhead_ratio": 0.85,
    "traced_vs_untraced": 0.8,
    "spans_per_attempt": 1.0,
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
