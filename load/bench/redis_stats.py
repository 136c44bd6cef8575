"""Redis statistics: commands per purchase or hold (INFO commandstats, MONITOR) and the Redis ceiling."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis

from load.bench.common import HUGE_STOCK, SETTLE_S, median

# -- redis-py clients, commandstats --------------------------------------------------------------------------


def client(port: int) -> redis.Redis:
    """A redis-py client on the bench's own Redis (replies decoded; one connection, closed by the caller)."""
    return redis.Redis(
        host="127.0.0.1", port=port, decode_responses=True, socket_timeout=5.0, single_connection_client=True
    )


def redis_command(port: int, *args: str | bytes) -> Any:
    """One command over a fresh connection (redis-py parses the reply)."""
    with client(port) as r:
        return r.execute_command(*args)


def commandstats_from_info(info: dict[str, Any]) -> dict[str, int]:
    """redis-py's parsed ``INFO commandstats`` -> {command: calls}; subcommands keep their ``|`` name."""
    return {
        name[len("cmdstat_") :].lower(): int(stats["calls"])
        for name, stats in info.items()
        if name.startswith("cmdstat_")
    }


def parse_commandstats(info: str) -> dict[str, int]:
    """``INFO commandstats`` as text -> {command: calls} (what redis-cli prints)."""
    calls: dict[str, int] = {}
    for line in info.splitlines():
        if not line.startswith("cmdstat_"):
            continue
        name, _, rest = line[len("cmdstat_") :].partition(":")
        for item in rest.split(","):
            key, _, value = item.partition("=")
            if key == "calls":
                calls[name.lower()] = int(value)
                break
    return calls


def commandstats(port: int) -> dict[str, int]:
    with client(port) as r:
        return commandstats_from_info(r.info("commandstats"))


BENCH_OWN = frozenset({"info", "multi", "exec"})
CONNECTION_SETUP = frozenset(
    {"hello", "client|setinfo", "client|setname", "select", "auth", "ping", "script|exists", "script|load"}
)
"""Commands a client sends when it opens a connection (or checks it), not per request."""


def command_deltas(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Calls made between two ``snapshot``s, without the snapshots' own commands (MULTI, HGET, INFO, EXEC)."""
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    delta["hget"] = delta.get("hget", 0) - 1  # the HGET of the second snapshot (the first one's is in `before`)
    return {name: n for name, n in delta.items() if n > 0 and name not in BENCH_OWN}


COUNTERS = {"orders": "purchase", "holds": "hold"}
"""The sale hash counters a run's successes are counted by (orders made, holds created), and what one is."""


def snapshot(port: int, sale: str, counter: str = "orders") -> tuple[dict[str, int], int]:
    """(commandstats, the sale's ``counter``) read atomically: MULTI/EXEC, so no other command runs between them."""
    with client(port) as r:
        pipe = r.pipeline(transaction=True)
        pipe.hget(f"fs:{{{sale}}}:sale", counter)
        pipe.info("commandstats")
        orders, info = pipe.execute()
    return commandstats_from_info(info), int(orders or 0)


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
    with client(port) as r:
        return int(r.hget(f"fs:{{{sale}}}:sale", name) or 0)


# -- MONITOR sample, redis-benchmark --------------------------------------------------------------------------

MONITOR_LINE = re.compile(r'^\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"(?: "([^"]+)")?')


def parse_monitor(text: str, scripts_by_sha: dict[str, str] | None = None) -> tuple[Counter[str], Counter[str]]:
    """MONITOR output -> (commands sent by clients, commands run by scripts), by name; a client's EVALSHA of a
    script in ``scripts_by_sha`` is counted as ``evalsha <script name>``."""
    clients: Counter[str] = Counter()
    scripts: Counter[str] = Counter()
    for line in text.splitlines():
        m = MONITOR_LINE.match(line)
        if not m:
            continue
        name = m.group(2).lower()
        if m.group(1) != "lua" and name == "evalsha" and scripts_by_sha and m.group(3) in scripts_by_sha:
            name = f"evalsha {scripts_by_sha[m.group(3)]}"
        (scripts if m.group(1) == "lua" else clients)[name] += 1
    return clients, scripts


def monitor_sample(port: int, sale: str, load: Callable[[], dict[str, Any]], counter: str = "orders") -> dict[str, Any]:
    """Commands seen by MONITOR while ``load`` (a short wrk run on the purchase or hold route) runs, per success
    (``counter``: orders for purchases, holds for holds; the keys say ``per_purchase`` or ``per_hold``)."""
    unit = COUNTERS[counter]
    made0 = sale_field(port, sale, counter)
    with tempfile.TemporaryFile("w+") as out:
        monitor = subprocess.Popen(["redis-cli", "-p", str(port), "monitor"], stdout=out, stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # redis-cli connected and subscribed before the load starts
        wrk = load()
        time.sleep(SETTLE_S)
        monitor.terminate()
        monitor.wait(timeout=5)
        out.seek(0)
        clients, scripts = parse_monitor(out.read(), {s.sha: s.name for s in _scripts()})
    made = sale_field(port, sale, counter) - made0
    per = max(1, made)
    background = {name: n for name, n in clients.items() if name in BACKGROUND_COMMANDS}
    return {
        "requests": wrk["requests"],
        counter: made,
        "client_commands": dict(clients),
        "script_commands": dict(scripts),
        f"client_commands_per_{unit}": round(sum(clients.values()) / per, 4),
        "background_commands": background,
        f"request_commands_per_{unit}": round((sum(clients.values()) - sum(background.values())) / per, 4),
        f"script_commands_per_{unit}": round(sum(scripts.values()) / per, 2),
    }


BACKGROUND_COMMANDS = frozenset({"smembers", "evalsha reap", "evalsha read_sale"})
"""What each worker's background loops send on their own clock, whatever the request rate: the hold reaper
(SMEMBERS of the sales, then the reap script per sale) and the availability board (SMEMBERS, then one sale read
per sale polled in the last minute, inventory/board.py). Not part of any purchase."""


def _scripts() -> list[Any]:
    """Every Lua script of the package as Redis runs it (name, source, sha), to name EVALSHAs in MONITOR."""
    from importlib import resources

    from flashsale.inventory.scripts import LIBRARIES, LuaScript

    names = sorted(
        p.name[:-4]
        for p in (resources.files("flashsale.inventory") / "lua").iterdir()
        if p.name.endswith(".lua") and p.name[:-4] not in LIBRARIES
    )
    return [LuaScript.load(name) for name in names]


def redis_ceiling(server: Any, repeats: int, duration_s: float) -> dict[str, Any]:
    """redis-benchmark of EVALSHA purchase.lua: 50 clients, random idempotency keys, one buyer, no limit."""
    port = server.port
    redis_command(port, "FLUSHALL")
    from flashsale.inventory.scripts import LuaScript  # the source Redis runs (its libraries prepended)

    sha = str(redis_command(port, "SCRIPT", "LOAD", LuaScript.load("purchase").source))
    redis_command(
        port,
        "HSET",
        "fs:{s}:sale",
        "name",
        "redis-benchmark",
        "total",
        str(HUGE_STOCK * 1000),
        "remaining",
        str(HUGE_STOCK * 1000),
        "sold",
        "0",
        "orders",
        "0",
        "limit",
        "0",
        "closed",
        "0",
    )
    from flashsale.inventory.keys import buyer_tag, sale_keys

    k = sale_keys("s")
    # purchase.lua's KEYS and ARGV (its header): a random idempotency key per call, one buyer, no admission,
    # no eligibility facts, no lines (a one-stock sale).
    keys = (k.sale, k.buyers, k.orders, k.idem("__rand_int__"), k.holds, k.hold_expiry, k.admissions)
    command = [
        "EVALSHA",
        sha,
        "8",
        *keys,
        k.buyer_orders(buyer_tag("b")),
        "b",
        "1",
        "k",
        "60",
        "0",
        "",
        "",
        "",
    ]

    def once(n: int) -> dict[str, float]:
        done = subprocess.run(
            ["redis-benchmark", "-p", str(port), "-n", str(n), "-c", "50", "-r", "1000000000", "--csv", *command],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        header, row = [line for line in done.stdout.splitlines() if line.strip()][-2:]
        names = [h.strip('"') for h in header.split('","')]
        values = [v.strip('"') for v in row.split('","')]
        data = dict(zip(names, values, strict=True))
        return {
            "rps": float(data["rps"]),
            "p50_ms": float(data["p50_latency_ms"]),
            "p99_ms": float(data["p99_latency_ms"]),
        }

    first = once(20_000)
    n = max(20_000, int(first["rps"] * duration_s))
    runs = [once(n) for _ in range(repeats)]
    audit = [int(x or 0) for x in redis_command(port, "HMGET", "fs:{s}:sale", "sold", "orders")]
    redis_command(port, "FLUSHALL")
    return {
        "command": f"redis-benchmark -c 50 -n {n} -r 1000000000 " + " ".join([*command[:1], "<sha>", *command[2:]]),
        "rps": round(median([r["rps"] for r in runs]), 1),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p99_ms": median([r["p99_ms"] for r in runs]),
        "runs": runs,
        "sold": audit[0],
        "orders": audit[1],
    }
