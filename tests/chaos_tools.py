"""Helpers of the chaos suite: a bounded rush of buyers over HTTP, polling with deadlines, loss accounting, reports.

Nothing here sleeps to synchronise: every wait polls a condition and fails past its deadline. The only sleep
is the buyers' pacing after a refusal (a client honouring ``Retry-After``, scaled down to keep the run short).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import redis

from flashsale.local import LocalServer
from tests.conftest import ADMISSION_KEY, DEADLINE_MS, LOG_DIR
from tests.servers import RedisClusterProcesses, RedisProcess

SLACK_S = 1.0
"""Bound on what the API (and a busy 2-core machine) may add to the Redis deadline before a 503 arrives."""
READY_WITHIN_S = 15.0
"""Bound on the time from Redis being back to ``/health/ready`` answering 200."""
REPORT = Path(__file__).resolve().parent.parent / "load" / "reports" / "chaos.json"
UNAVAILABLE = "urn:flashsale:problem:unavailable"


def start_api_workers(redis_url: str, workers: int, **env: str) -> LocalServer:
    """``tests.conftest.start_api`` with a number of worker processes (same settings, same log folder)."""
    LOG_DIR.mkdir(exist_ok=True)
    server = LocalServer(
        redis_url,
        env={
            "FLASHSALE_DEMO": "true",
            "FLASHSALE_REDIS_TIMEOUT_MS": str(DEADLINE_MS),
            "FLASHSALE_LOG_LEVEL": "WARNING",
            "FLASHSALE_ADMISSION_KEY": ADMISSION_KEY,
            "FLASHSALE_JOIN_RATE_PER_ADDRESS": "0",
            **env,
        },
        workers=workers,
        admin_token=secrets.token_urlsafe(32),
    )
    server.start(log_path=str(LOG_DIR / f"api-{server.port}.log"))
    return server


def serving_workers(server: LocalServer) -> list[int]:
    """The uvicorn worker processes: ``LocalServer.worker_pids`` minus multiprocessing's resource tracker."""
    workers = []
    for pid in server.worker_pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    workers.append(pid)
        except OSError:
            continue
    return workers


def connections_held(pid: int, port: int) -> int:
    """Established TCP connections on local ``port`` whose socket process ``pid`` holds (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "01":
                inodes.add(cols[9])
    held = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                held += link.startswith("socket:[") and link[8:-1] in inodes
    except OSError:
        return 0
    return held


async def until(condition: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.01) -> float:
    """Poll ``condition`` until it holds; return the seconds it took. Fails past ``timeout_s``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(every_s)
    return time.monotonic() - start


async def seconds_until_ready(url: str, timeout_s: float = READY_WITHIN_S) -> float:
    """Poll ``/health/ready`` (own connections, 20 ms apart) until 200; the seconds it took."""
    start = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as http:
        while True:
            try:
                if (await http.get("/health/ready")).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            if time.monotonic() - start > timeout_s:
                raise AssertionError(f"API at {url} not ready within {timeout_s} s")
            await asyncio.sleep(0.02)


@dataclass(slots=True)
class Attempt:
    key: str
    buyer: str
    phase: str
    started: float
    status: int = 0
    """0: no HTTP answer (connection dropped or refused)."""
    seconds: float = 0.0
    retry_after: str | None = None
    order_id: str | None = None
    replayed: bool = False
    problem: str | None = None
    detail: str | None = None


@dataclass
class Rush:
    """``concurrency`` buyers press "buy" in a loop through the real HTTP API until stopped or ``max_requests``.

    Each purchase intent has a fresh Idempotency-Key. Buyer ``i`` is one signed-in account pressing "buy" again
    and again (the chaos sales have no per-buyer limit): its token, from ``mint`` (the server's issuer), is minted
    before the rush starts, since a signature costs the client ~1-5 ms here and would pace the rush. A 503 or a
    dropped connection is retried with the same key (what the API tells clients to do), at most ``retries``
    times; any other answer ends the intent. ``phase`` labels the attempts started from then on. ``order(buyer)``:
    what the intent asks for (default one unit: ``{"quantity": 1}``; a sale of SKUs: ``{"lines": [...]}``), the
    same on each retry of it.
    """

    url: str
    sale: str
    mint: Callable[[str], str]
    concurrency: int = 16
    max_requests: int = 20_000
    retries: int = 50
    pace_s: float = 0.02
    phase: str = "before"
    order: Callable[[str], dict[str, Any]] | None = None
    attempts: list[Attempt] = field(default_factory=list)
    counts: Counter[tuple[str, int]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None
        self.sold_out_at: float | None = None

    async def __aenter__(self) -> Rush:
        limits = httpx.Limits(max_connections=self.concurrency + 4, max_keepalive_connections=self.concurrency + 4)
        self._http = httpx.AsyncClient(base_url=self.url, limits=limits, timeout=httpx.Timeout(10.0))
        self._tokens = {f"b{i}": self.mint(f"b{i}") for i in range(self.concurrency)}
        self._tasks = [asyncio.create_task(self._buyer(i)) for i in range(self.concurrency)]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=exc is not None)
        assert self._http is not None
        await self._http.aclose()

    def count(self, status: int | Iterable[int], phase: str | None = None) -> int:
        wanted = {status} if isinstance(status, int) else set(status)
        return sum(n for (p, s), n in self.counts.items() if s in wanted and (phase is None or p == phase))

    async def wait_for(
        self, status: int | Iterable[int], n: int, phase: str | None = None, timeout_s: float = 20.0
    ) -> float:
        return await until(
            lambda: self.alive() and self.count(status, phase) >= n,
            timeout_s,
            f"{n} answers {status} in phase {phase or 'any'} (so far: {self.statuses_by_phase()})",
        )

    async def wait_sold_out(self, timeout_s: float = 30.0) -> float:
        return await until(
            lambda: self.alive() and self.sold_out_at is not None,
            timeout_s,
            f"sale {self.sale} sold out (so far: {self.statuses_by_phase()})",
        )

    def alive(self) -> bool:
        """True while no buyer task crashed; a crashed one re-raises here, so a wait fails at once."""
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise AssertionError("a buyer task crashed") from task.exception()
        return True

    def stopped(self) -> bool:
        return self._stop.is_set() or len(self.attempts) >= self.max_requests

    async def _buyer(self, i: int) -> None:
        while not self.stopped():
            key, buyer = str(uuid.uuid4()), f"b{i}"
            body = self.order(buyer) if self.order else {"quantity": 1}
            for _ in range(self.retries + 1):
                attempt = await self._attempt(key, buyer, body)
                if attempt.status not in (0, 503) or self.stopped():
                    break
                await asyncio.sleep(self.pace_s)  # pacing, as Retry-After asks (scaled down)

    async def _attempt(self, key: str, buyer: str, body: dict[str, Any]) -> Attempt:
        assert self._http is not None
        a = Attempt(key, buyer, self.phase, time.monotonic())
        self.attempts.append(a)
        try:
            r = await self._http.post(
                f"/sales/{self.sale}/purchases",
                json=body,
                headers={"Idempotency-Key": key, "Authorization": f"Bearer {self._tokens[buyer]}"},
            )
        except httpx.HTTPError:
            a.seconds = time.monotonic() - a.started
            self.counts[(a.phase, 0)] += 1
            return a
        a.seconds = time.monotonic() - a.started
        a.status = r.status_code
        a.retry_after = r.headers.get("retry-after")
        if r.status_code == 201:
            a.order_id = r.json()["order_id"]
            a.replayed = r.headers.get("idempotent-replayed") == "true"
        elif r.headers.get("content-type", "").startswith("application/problem+json"):
            body = r.json()
            a.problem, a.detail = body.get("type"), body.get("detail")
            if a.problem == "urn:flashsale:problem:sold-out" and self.sold_out_at is None:
                self.sold_out_at = time.monotonic()
        self.counts[(a.phase, a.status)] += 1
        return a

    # -- accounting --------------------------------------------------------------------------------------------

    def acknowledged(self) -> dict[str, Attempt]:
        """Order id -> the (first) 201 that acknowledged it."""
        acked: dict[str, Attempt] = {}
        for a in self.attempts:
            if a.status == 201 and a.order_id is not None:
                acked.setdefault(a.order_id, a)
        return acked

    def statuses(self) -> dict[str, int]:
        return dict(sorted(Counter(str(a.status) for a in self.attempts).items()))

    def statuses_by_phase(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for a in self.attempts:
            out.setdefault(a.phase, Counter())[str(a.status)] += 1
        return {p: dict(sorted(c.items())) for p, c in out.items()}

    def unavailable(self) -> list[Attempt]:
        return [a for a in self.attempts if a.status == 503]

    def max_unavailable_seconds(self) -> float:
        return round(max((a.seconds for a in self.unavailable()), default=0.0), 3)


def assert_well_behaved(
    rush: Rush, allowed: set[int], deadline_s: float = DEADLINE_MS / 1000, known_500: bool = False
) -> None:
    """No 500 (nor any status outside ``allowed``); every 503 is the unavailable problem with Retry-After and came
    within the deadline plus slack. ``known_500``: leave 500s to the caller (a known, separately reported bug)."""
    statuses = rush.statuses()
    if known_500:
        statuses.pop("500", None)
    assert not [s for s in statuses if int(s) >= 500 and s != "503"], statuses
    assert {int(s) for s in statuses} <= allowed, statuses
    for a in rush.unavailable():
        assert a.retry_after == "1", a
        assert a.problem == UNAVAILABLE, a
        assert a.seconds < deadline_s + SLACK_S, a


# -- Redis-side truth ------------------------------------------------------------------------------------------


def orders_key(sale: str) -> str:
    return f"fs:{{{sale}}}:orders"


def ledger(port: int, sale: str) -> list[tuple[str, dict[str, str]]]:
    """The sale's ledger (``XRANGE``), read directly from the Redis on ``port``."""
    r = redis.Redis(port=port, decode_responses=True, socket_timeout=5)
    try:
        return [(entry_id, fields) for entry_id, fields in r.xrange(orders_key(sale))]
    finally:
        r.close()


def lost_orders(rush: Rush, entries: list[tuple[str, dict[str, str]]]) -> list[dict[str, Any]]:
    """Acknowledged orders (201s the buyers got) that are not in the ledger afterwards."""
    present = {entry_id for entry_id, _ in entries}
    return [
        {"order_id": oid, "key": a.key, "buyer": a.buyer, "phase": a.phase}
        for oid, a in sorted(rush.acknowledged().items())
        if oid not in present
    ]


def duplicate_keys(entries: list[tuple[str, dict[str, str]]]) -> list[str]:
    """Idempotency-Keys with more than one order in the ledger (must never happen)."""
    seen = Counter(fields.get("key", "") for _, fields in entries)
    return sorted(k for k, n in seen.items() if n > 1)


def slot_owner(cluster: RedisClusterProcesses, key: str) -> tuple[RedisProcess, RedisProcess | None]:
    """The primary serving ``key``'s slot (``CLUSTER KEYSLOT`` + ``CLUSTER NODES``) and its replica, if any."""
    found = find_slot_owner(cluster, key)
    if found is None:
        raise AssertionError(f"no live primary serves {key}")
    return found


def find_slot_owner(cluster: RedisClusterProcesses, key: str) -> tuple[RedisProcess, RedisProcess | None] | None:
    by_port = {n.port: n for n in cluster.nodes}
    for node in (n for n in cluster.nodes if n.pid is not None):
        try:
            r = redis.Redis(port=node.port, decode_responses=True, socket_timeout=2)
            slot = int(r.execute_command("CLUSTER", "KEYSLOT", key))
            text = r.execute_command("CLUSTER", "NODES")
            r.close()
        except redis.RedisError:
            continue
        lines = [line.split() for line in (text if isinstance(text, str) else "").splitlines() if line]
        for parts in lines:
            node_id, address, flags = parts[0], parts[1], parts[2].split(",")
            if "master" not in flags or "fail" in flags:
                continue
            for rng in parts[8:]:
                if rng.startswith("["):
                    continue
                low, _, high = rng.partition("-")
                if int(low) <= slot <= int(high or low):
                    master = by_port[int(address.split("@")[0].rsplit(":", 1)[1])]
                    replicas = [
                        by_port.get(int(p[1].split("@")[0].rsplit(":", 1)[1]))
                        for p in lines
                        if p[3] == node_id and "fail" not in p[2]
                    ]
                    return master, next((x for x in replicas if x is not None), None)
    return None


def wait_replica_acks(port: int, key: str, replicas: int = 1, timeout_s: float = 10.0) -> None:
    """Write ``key`` on the primary at ``port`` and ``WAIT`` (100 ms) until ``replicas`` acknowledge it, then delete it.

    ``INFO`` says ``state=online`` right after a diskless full sync, but the primary streams writes to the replica
    only after the replica's first ``REPLCONF ACK``, sent by its once-a-second cron: until then ``WAIT`` times out.
    """
    r = redis.Redis(port=port, socket_timeout=5)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            r.set(key, "probe")
            if int(r.execute_command("WAIT", replicas, 100)) >= replicas:
                r.delete(key)
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"replicas of 127.0.0.1:{port} never acknowledged a write")
    finally:
        r.close()


def cluster_ok(node: RedisProcess) -> bool:
    """``CLUSTER INFO`` on ``node`` says ``cluster_state:ok``."""
    try:
        r = redis.Redis(port=node.port, decode_responses=True, socket_timeout=2)
        try:
            return "cluster_state:ok" in str(r.execute_command("CLUSTER", "INFO"))
        finally:
            r.close()
    except redis.RedisError:
        return False


# -- reports ---------------------------------------------------------------------------------------------------


def write_report(
    name: str, result: dict[str, Any], folder: Path, attempts: list[Attempt] | None = None
) -> dict[str, Any]:
    """Write one scenario's figures to ``folder/chaos-<name>.json`` (every attempt next to it) and merge them into
    load/reports/chaos.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"chaos-{name}.json").write_text(json.dumps(result, indent=2, default=_plain))
    if attempts is not None:
        (folder / f"chaos-{name}-attempts.json").write_text(json.dumps([asdict(a) for a in attempts]))
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    try:
        merged = json.loads(REPORT.read_text())
    except (OSError, ValueError):
        merged = {}
    merged[name] = result
    REPORT.write_text(json.dumps(merged, indent=2, sort_keys=True, default=_plain))
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, Attempt):
        return asdict(value)
    return str(value)


def summary_line(name: str, r: dict[str, Any]) -> str:
    return (
        f"chaos[{name}]: requests={r['requests']} statuses={r['statuses']} oversold={r.get('oversold')} "
        f"acked={r['acknowledged']} lost_acked={r['lost_acknowledged']} recovery_s={r.get('recovery_s')} "
        f"max_503_s={r['max_503_seconds']}"
    )
