"""Slow-client flood: hundreds of connections that trickle their headers or never send their body do not stop
the server from answering other buyers, and the read deadlines (defaults of FLASHSALE_HEADER_TIMEOUT_S and
FLASHSALE_BODY_TIMEOUT_S) close them. Loopback only; bounded in connections and time. The figures are printed
(connections held, buyers served, latency percentiles), never asserted as timings.

    python -m tests.test_slow_clients [--slow 300] [--buyers 400]    # the figures against a fresh server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from flashsale.local import LocalServer
from flashsale.settings import Settings
from tests.conftest import start_api
from tests.servers import RedisProcess

TRICKLE = b"POST /sales/slow/purchases HTTP/1.1\r\nHost: x\r\nIdempotency-Key: 0123456789abcdef\r\n"


@dataclass
class Figures:
    slow_opened: int = 0
    held_while_buyers_ran: int = 0
    closed_by_server: int = 0
    answered_408: int = 0
    seconds_to_close: list[float] = field(default_factory=list)
    buyers: int = 0
    buyers_served: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    baseline_ms: list[float] = field(default_factory=list)

    @staticmethod
    def percentiles(values: list[float]) -> str:
        if not values:
            return "-"
        ordered = sorted(values)
        at = [ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.95, 0.99)]
        return f"p50 {at[0]:.1f} p95 {at[1]:.1f} p99 {at[2]:.1f} max {ordered[-1]:.1f}"

    def summary(self) -> str:
        close = statistics.median(self.seconds_to_close) if self.seconds_to_close else float("nan")
        return (
            f"slow connections opened {self.slow_opened}, held by the server while the buyers ran "
            f"{self.held_while_buyers_ran}, closed by the server {self.closed_by_server} "
            f"({self.answered_408} with a 408; median {close:.1f} s after opening)\n"
            f"other buyers: {self.buyers_served}/{self.buyers} answered {self.statuses}; latency ms "
            f"{self.percentiles(self.latencies_ms)} (without the flood: {self.percentiles(self.baseline_ms)})"
        )


async def _slow_connection(
    port: int, kind: str, token: str, stop: asyncio.Event, figures: Figures, open_: set[int]
) -> None:
    """``trickle``: headers one byte every 200 ms; ``no_body``: whole headers, with a valid buyer token (a
    signed-in attacker: without one the server answers 401 before it waits for a body), announcing a body never
    sent."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    figures.slow_opened += 1
    me = id(writer)
    open_.add(me)
    try:
        if kind == "no_body":
            writer.write(TRICKLE + f"Authorization: Bearer {token}\r\nContent-Length: 40\r\n\r\n{{".encode())
            await writer.drain()
        sent = 0
        read = asyncio.ensure_future(reader.read(4096))
        while not stop.is_set():
            if kind == "trickle" and sent < len(TRICKLE):
                writer.write(TRICKLE[sent : sent + 1])
                sent += 1
            done, _ = await asyncio.wait({read}, timeout=0.2)
            if done:
                data = read.result()
                figures.closed_by_server += 1
                figures.answered_408 += data.startswith(b"HTTP/1.1 408")
                figures.seconds_to_close.append(time.monotonic() - started)
                return
        read.cancel()
    except (ConnectionError, OSError):
        figures.closed_by_server += 1
        figures.seconds_to_close.append(time.monotonic() - started)
    finally:
        open_.discard(me)
        writer.close()


async def _buy(port: int, sale: str, token: str) -> int:
    """One purchase on a new connection (as a crowd of phones would), in raw HTTP/1.1: httpx would cost the
    client process more CPU than the server spends, and the latencies printed would be the client's."""
    body = json.dumps({"quantity": 1}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST /sales/{sale}/purchases HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nIdempotency-Key: {uuid.uuid4().hex}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status = await reader.readline()
        await reader.read()
        return int(status.split()[1])
    finally:
        writer.close()


async def _buyers(
    server: LocalServer, sale: str, count: int, concurrency: int, figures: Figures, baseline: bool
) -> None:
    """``count`` buyers, ``concurrency`` at a time; latencies go to the baseline or the under-flood figures.
    Each buyer's token is minted before the first request, so no latency includes a signature."""
    gate = asyncio.Semaphore(concurrency)
    latencies = figures.baseline_ms if baseline else figures.latencies_ms
    tokens = [server.token(f"buyer-{i}") for i in range(count)]

    async def one(i: int) -> None:
        async with gate:
            t0 = time.perf_counter()
            try:
                status = await asyncio.wait_for(_buy(server.port, sale, tokens[i]), timeout=10)
            except (OSError, TimeoutError, ValueError, IndexError):
                status = 0
            latencies.append((time.perf_counter() - t0) * 1000)
            if not baseline:
                figures.statuses[status] = figures.statuses.get(status, 0) + 1
                figures.buyers_served += status in {201, 409}

    if not baseline:
        figures.buyers = count
    await asyncio.gather(*(one(i) for i in range(count)))


async def slow_flood(
    server: LocalServer, slow: int = 300, buyers: int = 400, concurrency: int = 20, wait_close_s: float = 15.0
) -> Figures:
    """Open ``slow`` slow connections (half trickling headers, half never sending the body), run ``buyers``
    purchases alongside, then wait (bounded) for the server to close the slow ones."""
    figures = Figures()
    sale = f"slow-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        r = await http.post(
            "/admin/sales",
            json={"sale_id": sale, "name": "slow", "stock": buyers},
            headers={"Authorization": f"Bearer {server.admin_token}"},
        )
        r.raise_for_status()
    await _buyers(server, sale, buyers // 2, concurrency, figures, baseline=True)
    stop = asyncio.Event()
    open_: set[int] = set()
    attacker = server.token("slow-attacker")
    slow_tasks = [
        asyncio.create_task(
            _slow_connection(server.port, "trickle" if i % 2 else "no_body", attacker, stop, figures, open_)
        )
        for i in range(slow)
    ]
    deadline = time.monotonic() + 10
    while figures.slow_opened < slow and time.monotonic() < deadline:  # noqa: ASYNC110  (bounded poll)
        await asyncio.sleep(0.05)
    held_before = len(open_)
    await _buyers(server, sale, buyers, concurrency, figures, baseline=False)
    figures.held_while_buyers_ran = min(held_before, len(open_))
    deadline = time.monotonic() + wait_close_s
    while open_ and time.monotonic() < deadline:  # noqa: ASYNC110  (bounded poll)
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*slow_tasks, return_exceptions=True)
    return figures


@pytest.mark.slow
def test_slow_clients_do_not_stop_other_buyers(redis_server: RedisProcess) -> None:
    server = start_api(redis_server.url)
    defaults = Settings()
    try:
        figures = asyncio.run(
            slow_flood(
                server, slow=300, buyers=300, wait_close_s=max(defaults.header_timeout_s, defaults.body_timeout_s) + 5
            )
        )
    finally:
        server.stop()
    print("\n" + figures.summary())
    assert figures.slow_opened == 300
    assert figures.buyers_served == figures.buyers  # every other buyer answered (201 or 409), none refused
    assert figures.held_while_buyers_ran > 0  # the flood really held connections while the buyers ran
    assert figures.closed_by_server == 300  # ... and the default deadlines closed every one of them
    assert figures.answered_408 == 300


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slow", type=int, default=300)
    parser.add_argument("--buyers", type=int, default=400)
    parser.add_argument("--wait-close", type=float, default=15.0)
    args = parser.parse_args(argv)
    redis = RedisProcess().start()
    server = start_api(redis.url)
    try:
        figures: Any = asyncio.run(slow_flood(server, args.slow, args.buyers, wait_close_s=args.wait_close))
        print(figures.summary())
    finally:
        server.stop()
        redis.cleanup()


if __name__ == "__main__":
    main()


def test_keepalive_setting_reaches_uvicorn(redis_server: RedisProcess) -> None:
    """FLASHSALE_KEEPALIVE_S is what `flashsale serve` gives uvicorn (default 75 s, past an ALB's 60 s): with
    1 s, an idle kept-alive connection is closed by the server soon after; the default keeps it open."""

    async def idle_close_s(port: int, watch_s: float) -> float | None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n")
            await reader.readuntil(b"\r\n\r\n")
            t0 = time.monotonic()
            try:
                while await asyncio.wait_for(reader.read(4096), timeout=watch_s):
                    pass
            except TimeoutError:
                return None  # still open after watch_s
            return time.monotonic() - t0
        finally:
            writer.close()

    short = start_api(redis_server.url, FLASHSALE_KEEPALIVE_S="1")
    default = start_api(redis_server.url)
    try:
        closed_after = asyncio.run(idle_close_s(short.port, watch_s=10))
        still_open = asyncio.run(idle_close_s(default.port, watch_s=6))  # uvicorn's own default would close at 5
    finally:
        short.stop()
        default.stop()
    assert closed_after is not None and closed_after < 10
    assert still_open is None
