"""An open-loop HTTP/1.1 load generator: requests leave at a constant rate, whatever the server does.

Why: wrk (and locust's users) are closed loops: a connection sends its next request only once the last one is
answered, so when the server stalls the generator stalls with it and the stall is measured once, not for
every buyer who would have arrived meanwhile (coordinated omission). wrk2, ``hey -q`` and vegeta are not
packaged on this machine; locust's constant throughput is a pacing per user that also waits for answers.

How it stays open: request ``i`` is *due* at ``start + i / rate``, fixed before the run. Every millisecond
the generator sends all requests that are due, each on an idle keep-alive connection of its pool; a request
that finds no idle connection waits in a queue and its latency is counted from when it was due, not from
when it left. So a server that stops for 300 ms costs every request due in those 300 ms the time it made
them wait. The generator measures its own lateness (when it handed a request on - when it was due) and
reports it: a late generator is visible in ``send_lag_p99_ms``, and the bench reports the CPU it used
(load/README.md, "Every buyer answered").

Requests unanswered ``timeout_s`` after they were due are counted (``unanswered``), whether their answer
came later or never (the run waits ``timeout_s`` after the last send, then stops).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

RequestFactory = Callable[[int], bytes]
"""Builds request ``i`` (the whole HTTP/1.1 message) from its sequence number."""


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Tally:
    due: dict[int, float] = field(default_factory=dict)
    """Due time of every request not answered yet."""
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    """How late the generator itself handed each request on (queueing for a busy connection not included)."""
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time; parses status line and Content-Length only."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.current: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def send(self, seq: int, data: bytes) -> None:
        assert self.transport is not None
        self.current = seq
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.current is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            at = head.find(b"\r\ncontent-length:")
            length = int(head[at + 17 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            status = int(self.buffer[9:12])
            close = b"\r\nconnection: close" in head
            self.buffer = self.buffer[end + 4 + length :]
            seq, self.current = self.current, None
            self.pool.answered(self, seq, status, close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost(self)


class _Pool:
    def __init__(self, host: str, port: int, size: int, make: RequestFactory, tally: Tally) -> None:
        self.host, self.port, self.size, self.make, self.tally = host, port, size, make, tally
        self.idle: deque[_Connection] = deque()
        self.waiting: deque[int] = deque()
        self.open = 0
        self.loop = asyncio.get_running_loop()

    async def connect(self) -> None:
        _, conn = await self.loop.create_connection(lambda: _Connection(self), self.host, self.port)
        self.open += 1
        self.idle.append(conn)

    def submit(self, seq: int) -> None:
        if self.idle:
            self._send(self.idle.popleft(), seq)
        else:
            self.waiting.append(seq)
            if self.open < self.size:
                self.open += 1  # counted now so that a burst does not open more than `size`
                self.loop.create_task(self._reconnect())

    def _send(self, conn: _Connection, seq: int) -> None:
        conn.send(seq, self.make(seq))

    def answered(self, conn: _Connection, seq: int, status: int, close: bool) -> None:
        due = self.tally.due.pop(seq, None)
        if due is not None:
            self.tally.latencies.append(time.perf_counter() - due)
            self.tally.statuses[status] += 1
        if close:
            assert conn.transport is not None
            conn.transport.close()
            return
        if self.waiting:
            self._send(conn, self.waiting.popleft())
        else:
            self.idle.append(conn)

    def lost(self, conn: _Connection) -> None:
        self.open -= 1
        if conn.current is not None:
            self.tally.errors += 1
            self.tally.due.pop(conn.current, None)
        if conn in self.idle:
            self.idle.remove(conn)
        if self.waiting and self.open < self.size:
            self.open += 1
            self.loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            _, conn = await self.loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError:
            self.open -= 1
            self.tally.errors += 1
            return
        if self.waiting:
            self._send(conn, self.waiting.popleft())
        else:
            self.idle.append(conn)

    def close(self) -> None:
        for conn in list(self.idle):
            if conn.transport is not None:
                conn.transport.close()


async def open_loop(
    host: str,
    port: int,
    make: RequestFactory,
    rate: float,
    duration_s: float,
    connections: int = 256,
    timeout_s: float = 2.0,
) -> dict[str, Any]:
    """Send ``rate`` requests a second for ``duration_s`` seconds on at most ``connections`` connections."""
    if not (0 < rate <= 50_000 and 0 < duration_s <= 60 and 1 <= connections <= 4096):
        raise ValueError("bounds: rate 0-50,000/s, 0-60 s, 1-4096 connections")
    tally = Tally()
    pool = _Pool(host, port, connections, make, tally)
    await asyncio.gather(*(pool.connect() for _ in range(min(connections, 64))))
    total = int(rate * duration_s)
    start = time.perf_counter() + 0.01
    seq = 0
    while seq < total:
        now = time.perf_counter()
        due_now = min(total, int((now - start) * rate) + 1)
        while seq < due_now:
            due = start + seq / rate
            tally.due[seq] = due
            tally.lags.append(now - due)
            pool.submit(seq)
            seq += 1
        await asyncio.sleep(0.001)
    deadline = time.perf_counter() + timeout_s
    while tally.due and time.perf_counter() < deadline:  # noqa: ASYNC110  (bounded wait for the last answers)
        await asyncio.sleep(0.01)
    late = len(tally.due)
    pool.close()
    ordered = sorted(tally.latencies)
    lags = sorted(tally.lags)
    answered = len(ordered)
    return {
        "rate": rate,
        "duration_s": duration_s,
        "sent": total,
        "answered": answered,
        "achieved_rps": round(answered / duration_s, 1),
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "unanswered": late + tally.errors + sum(1 for x in ordered if x >= timeout_s),
        "connection_errors": tally.errors,
        "connections_used": pool.open,
        "p50_ms": round(percentile(ordered, 50) * 1000, 2),
        "p90_ms": round(percentile(ordered, 90) * 1000, 2),
        "p99_ms": round(percentile(ordered, 99) * 1000, 2),
        "p999_ms": round(percentile(ordered, 99.9) * 1000, 2),
        "max_ms": round((ordered[-1] if ordered else 0.0) * 1000, 2),
        "send_lag_p99_ms": round(percentile(lags, 99) * 1000, 2),
    }


def run_open_loop(url: str, make: RequestFactory, rate: float, duration_s: float, **kwargs: Any) -> dict[str, Any]:
    """``open_loop`` on its own uvloop event loop (the bench calls it from synchronous code)."""
    import uvloop

    host, _, port = url.removeprefix("http://").partition(":")
    return uvloop.run(open_loop(host, int(port.rstrip("/")), make, rate, duration_s, **kwargs))
