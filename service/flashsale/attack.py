"""``flashsale attack``: many buyers press "buy" at the same instant; count what each path sold.

Every buyer has its own connection, opened before the gate, and all wait on one shared gate, so the
requests leave together, as in a real drop. The client is aiohttp because the client must be faster than
the server it measures: with httpx, 500 buyers take 1.6-1.8 s wall (p50 730-860 ms), its own speed, for a
burst the server finishes in 0.19-0.21 s. Besides the client's view (wall time from the gate to the last
answer, latency percentiles), it prints the server's: the attempts' decision time, from the
``flashsale_purchase_duration_seconds`` histogram scraped before and after the burst.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

PATHS = ("safe", "unsafe")
PURCHASE_ROUTE = {"safe": "/sales/{sale}/purchases", "unsafe": "/demo/sales/{sale}/purchases"}
DURATION_METRIC = "flashsale_purchase_duration_seconds"
PROBE_SALE = "attack-route-probe"
"""A sale id the route probe names; the probe's body is invalid, so it never buys or creates anything."""


class AttackError(Exception):
    """The attack could not be run or its figures cannot be trusted; the message says why, in one line."""


class DemoRouteOff(AttackError):
    """The target does not mount the unsafe demo route: an "unsafe" run would count only 404s and report a sale
    that sold nothing as one whose invariants hold."""


def _expect(status: int, wanted: int, what: str, url: str) -> None:
    """Turn an unexpected answer into an AttackError that names the request and what to check."""
    if status == wanted:
        return
    if status in (401, 403):
        raise AttackError(
            f"{what} answered HTTP {status}: {url} refused the admin token; set FLASHSALE_ADMIN_TOKEN (or "
            "--admin-token) to the target's token"
        )
    if status == 404:
        raise AttackError(f"{what} answered HTTP 404: is {url} a flashsale API with its admin routes on?")
    raise AttackError(f"{what} answered HTTP {status} (wanted {wanted}): server error or not a flashsale API")


async def probe_demo_route(client: aiohttp.ClientSession, url: str) -> None:
    """Raise DemoRouteOff unless the unsafe demo route is mounted.

    With demo mode on, an empty body is refused by validation (400) before any sale is looked up; without it
    the route does not exist (404, or 405 if another route shares the path).
    """
    route = PURCHASE_ROUTE["unsafe"].format(sale=PROBE_SALE)
    async with client.post(route, json={}) as response:
        await response.read()
        status = response.status
    if status in (404, 405):
        raise DemoRouteOff(
            f"the unsafe demo route (POST /demo/sales/{{id}}/purchases) is off on {url} (HTTP {status}): it is "
            "mounted only with FLASHSALE_DEMO=true; use --path safe, or start the target in demo mode"
        )
    if status >= 500:
        raise AttackError(f"probing the unsafe demo route answered HTTP {status}: server error")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def duration_buckets(metrics_text: str, path: str) -> dict[float, float]:
    """Cumulative bucket counts (le -> count) of the decision-time histogram for one path, all outcomes."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != DURATION_METRIC:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket") and sample.labels.get("path") == path:
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    return buckets


def bucket_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float | None:
    """``histogram_quantile`` over the burst (after - before), linear within a bucket, in seconds."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 0.0)
        lower, below = bound, count
    return None


Minter = Callable[[str], str]
"""A buyer's token from the target's issuer, by buyer id (the demo issuer's key, or a test's identity provider)."""


async def run_path(
    url: str, path: str, buyers: int, stock: int, admin_token: str, mint: Minter, retries: int = 0
) -> dict[str, Any]:
    """One burst of ``buyers`` simultaneous purchases of one unit each against a fresh sale of ``stock``; each
    buyer has its own token, minted before the burst (a rush is many buyers, each signed in once).

    With ``retries`` > 0 a buyer answered 503 (outcome unknown) waits its ``Retry-After`` and sends the same
    request with the same Idempotency-Key again, at most that many times, as the API asks clients to: the
    answer then settles whether it bought. ``first_statuses`` counts the first answers, ``statuses`` the last.
    """
    sale = f"attack-{path}-{uuid.uuid4().hex[:10]}"
    auth = {"Authorization": f"Bearer {admin_token}"}
    connector = aiohttp.TCPConnector(limit=buyers + 8, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as client:
        if path == "unsafe":
            await probe_demo_route(client, url)
        async with client.post(
            "/admin/sales", json={"sale_id": sale, "name": f"attack {path}", "stock": stock}, headers=auth
        ) as created:
            await created.read()
            _expect(created.status, 201, "POST /admin/sales", url)
        # One connection per buyer, opened now: the burst measures the purchases, not TCP handshakes.
        connections = await asyncio.gather(*(BuyerConnection.open(url) for _ in range(buyers)))
        async with client.get("/metrics") as scraped:
            before = duration_buckets(await scraped.text(), path) if scraped.status == 200 else {}
        gate = asyncio.Event()
        route = PURCHASE_ROUTE[path].format(sale=sale)
        tokens = [mint(f"buyer-{i}") for i in range(buyers)]

        async def buyer(i: int, connection: BuyerConnection) -> tuple[int, float, int]:
            request = purchase_request(route, {"quantity": 1}, str(uuid.uuid4()), tokens[i])
            await gate.wait()
            status, retry_after = await connection.send(request)
            elapsed, first = time.perf_counter() - began, status
            for _ in range(retries):
                if status != 503:
                    break
                await asyncio.sleep(min(retry_after, 5.0))
                status, retry_after = await connection.send(request)
            connection.close()
            return status, elapsed, first

        tasks = [asyncio.create_task(buyer(i, connection)) for i, connection in enumerate(connections)]
        await asyncio.sleep(0)
        began = time.perf_counter()  # each buyer's latency counts from the gate, when all of them were let go
        gate.set()
        results = await asyncio.gather(*tasks)
        wall = time.perf_counter() - began
        async with client.get("/metrics") as scraped:
            after = duration_buckets(await scraped.text(), path) if scraped.status == 200 else {}
        async with client.get(f"/sales/{sale}") as r:
            _expect(r.status, 200, f"GET /sales/{sale}", url)
            view = await r.json()
        async with client.get(f"/admin/sales/{sale}/audit", headers=auth) as r:
            _expect(r.status, 200, f"GET /admin/sales/{sale}/audit", url)
            audit = await r.json()
    latencies = [seconds * 1000 for _, seconds, _ in results]
    answered = [ms for (status, _, _), ms in zip(results, latencies, strict=True) if status]
    statuses = Counter(str(status) for status, _, _ in results)
    first_statuses = Counter(str(first) for _, _, first in results)
    server_p50, server_p99 = bucket_quantile(0.5, before, after), bucket_quantile(0.99, before, after)
    return {
        "sale_id": sale,
        "buyers": buyers,
        "stock": stock,
        "sold": view["sold"],
        "remaining": view["remaining"],
        "oversold": audit["oversold"],
        "orders": audit["orders"],
        "invariants_ok": audit["ok"],
        "statuses": dict(sorted(statuses.items())),
        "first_statuses": dict(sorted(first_statuses.items())),
        "wall_s": round(wall, 3),
        "unanswered": buyers - len(answered),
        "first_answer_ms": round(min(answered), 1) if answered else None,
        "last_answer_ms": round(max(answered), 1) if answered else None,
        "answer_spread_ms": round(max(answered) - min(answered), 1) if answered else None,
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "server_decision_p50_ms": None if server_p50 is None else round(server_p50 * 1000, 2),
        "server_decision_p99_ms": None if server_p99 is None else round(server_p99 * 1000, 2),
    }


def purchase_request(route: str, body: dict[str, Any], idempotency_key: str, token: str) -> bytes:
    """One buyer's purchase as HTTP/1.1 bytes (with the buyer's token), built before the gate opens."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    return (
        f"POST {route} HTTP/1.1\r\nHost: flashsale\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Idempotency-Key: {idempotency_key}\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


class BuyerConnection:
    """A buyer's own keep-alive connection, speaking just enough HTTP/1.1 for one purchase and its retries.

    Why not aiohttp for the burst: building and sending a request through aiohttp costs its client a few
    hundred microseconds, so 500 buyers left the client over 200 ms after the gate (the first answer came
    227-298 ms after it, measured here) and the wall time was the client's. Written bytes leave in
    microseconds; the wall time is then the server's.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> BuyerConnection:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        reader, writer = await asyncio.open_connection(host, port)
        connection = cls(reader, writer)
        status, _ = await connection.send(f"GET /health/live HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        if status != 200:
            raise AttackError(f"GET /health/live answered HTTP {status} on {url}")
        return connection

    async def send(self, request: bytes) -> tuple[int, float]:
        """The answer's status and Retry-After (1 when absent); status 0 when the connection failed."""
        try:
            self.writer.write(request)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            fields = dict(line.split(b":", 1) for line in head.lower().split(b"\r\n")[1:] if b":" in line)
            await self.reader.readexactly(int(fields.get(b"content-length", b"0")))
            return status, float(fields.get(b"retry-after", b"1"))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return 0, 1.0

    def close(self) -> None:
        self.writer.close()


async def run(url: str, paths: list[str], buyers: int, stock: int, admin_token: str, mint: Minter) -> dict[str, Any]:
    """Every path's figures, or AttackError in one line when the target cannot be reached or answers oddly.

    With the unsafe path asked for, the demo route is probed before any burst, so ``--path both`` against a
    target without demo mode fails at once instead of printing the safe path's figures and then failing.
    """
    try:
        if "unsafe" in paths:
            async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=30)) as client:
                await probe_demo_route(client, url)
        return {path: await run_path(url, path, buyers, stock, admin_token, mint) for path in paths}
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror or str(exc.os_error) or type(exc.os_error).__name__
        raise AttackError(f"cannot connect to {url}: {reason}") from exc
    except aiohttp.ContentTypeError as exc:
        raise AttackError(f"{url} answered without JSON (HTTP {exc.status}): not a flashsale API?") from exc
    except aiohttp.ClientError as exc:
        raise AttackError(f"talking to {url} failed: {type(exc).__name__}: {exc}") from exc
    except TimeoutError as exc:
        raise AttackError(f"{url} did not answer within the attack's 60 s timeout") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise AttackError(f"{url} answered with an unexpected body ({type(exc).__name__}: {exc})") from exc


def table(results: dict[str, Any]) -> str:
    rows = [
        ("sold", "sold"),
        ("remaining", "remaining"),
        ("oversold units", "oversold"),
        ("invariants hold", "invariants_ok"),
        ("burst wall time, gate to last answer (s)", "wall_s"),
        ("buyers without an answer (connection error)", "unanswered"),
        ("first answer after the gate (ms)", "first_answer_ms"),
        ("spread, first to last answer (ms)", "answer_spread_ms"),
        ("client p50 (ms)", "p50_ms"),
        ("client p99 (ms)", "p99_ms"),
        ("server decision p50 (ms, histogram)", "server_decision_p50_ms"),
        ("server decision p99 (ms, histogram)", "server_decision_p99_ms"),
    ]
    paths = list(results)
    codes = sorted({code for r in results.values() for code in r["statuses"]})
    lines = ["| | " + " | ".join(paths) + " |", "|---" * (len(paths) + 1) + "|"]
    lines.append(
        "| buyers / stock | " + " | ".join(f"{results[p]['buyers']} / {results[p]['stock']}" for p in paths) + " |"
    )
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(str(results[p][key]) for p in paths) + " |")
    for code in codes:
        lines.append(f"| HTTP {code} | " + " | ".join(str(results[p]["statuses"].get(code, 0)) for p in paths) + " |")
    return "\n".join(lines)
