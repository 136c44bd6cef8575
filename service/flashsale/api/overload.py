"""The worker's in-flight budget: past ``FLASHSALE_MAX_IN_FLIGHT`` requests at once, answer 503 at once.

A worker serves one request at a time on one core; every request it accepts beyond what it can finish within
the Redis deadline (250 ms) only waits, then gets its own 503 after costing a body decode, a buyer check and a
Redis call it could not use. So the outermost ASGI layer (wrapped around Litestar, before its routing, the
body, the buyer or Redis) counts the requests in flight and refuses the excess with a prebuilt
``503 overloaded`` problem and ``Retry-After: 1``, counted in ``flashsale_overloaded_total``. The figures that
set the default and the cost of a refusal against a purchase are in load/README.md ("Every buyer answered").

Liveness, readiness, the metrics scrape and the admin routes are never refused: a load balancer must keep
seeing the worker as healthy while it sheds load, and an operator must be able to pause a sale in a rush.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, ReceiveMessage, Scope, Send

from flashsale.api.problems import MEDIA_TYPE, OVERLOADED, RETRY_AFTER_S

EXEMPT_PREFIXES = ("/health", "/metrics", "/admin")


def _refusal() -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(
        {
            "type": OVERLOADED.uri,
            "title": OVERLOADED.title,
            "status": OVERLOADED.status,
            "detail": "this worker has as many requests in flight as it can finish in time; nothing was done, "
            "retry after the Retry-After delay",
        }
    ).encode()
    headers = [
        (b"content-type", MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]
    return headers, body


REFUSAL_HEADERS, REFUSAL_BODY = _refusal()
REFUSAL_START: HTTPResponseStartEvent = {
    "type": "http.response.start",
    "status": OVERLOADED.status,
    "headers": REFUSAL_HEADERS,
}
REFUSAL_BODY_EVENT: HTTPResponseBodyEvent = {"type": "http.response.body", "body": REFUSAL_BODY, "more_body": False}


def _raw_refusal(close: bool) -> bytes:
    """The same refusal as raw HTTP/1.1, for the server protocol (server.py) to write without the app."""
    head = b"HTTP/1.1 503 Service Unavailable\r\n" + b"".join(
        name + b": " + value + b"\r\n" for name, value in REFUSAL_HEADERS
    )
    return head + (b"connection: close\r\n" if close else b"") + b"\r\n" + REFUSAL_BODY


RAW_REFUSAL = _raw_refusal(close=False)
RAW_REFUSAL_CLOSE = _raw_refusal(close=True)
RAW_EXEMPT_PREFIXES = tuple(prefix.encode() for prefix in EXEMPT_PREFIXES)

ADMITTED = "flashsale.admitted"
"""Scope key the server protocol sets on a request it counted in already (``InFlightBudget.admit``): when."""

ACTIVE: InFlightBudget | None = None
"""This worker's budget (``create_served_app`` sets it), which the server protocol reads to refuse without
creating a request task at all."""


class InFlightLimit:
    """How many requests a worker lets in at once: at most the configured budget, fewer while they are late.

    Why not only a fixed number: a worker answers N requests in flight in about N / its throughput, and that
    throughput moves with the CPU the worker gets. Measured here with other processes using 1.2-1.6 of the 2
    cores, a worker served 300-500 purchases/s instead of 900+, and with 256 in flight the requests let in
    waited 0.5-0.9 s, so their Redis calls passed the 250 ms deadline and they too ended in ``503 unavailable``
    (outcome unknown): the very queueing the budget exists to prevent (load/README.md, "Every buyer answered").

    So the limit follows how long the requests let in take (AIMD, as TCP does with its window), smoothed over
    the last fifty or so answers (``SMOOTHING``) so that one late answer (a garbage collection) moves nothing:
    above ``target_s`` the limit is cut by a tenth (at most once per ``target_s``), below half of it the limit
    grows by 1 / limit per answer (about one per limit's worth of answers), between ``floor`` and ``ceiling``
    (``FLASHSALE_MAX_IN_FLIGHT``). It settles where answers take between half the target and the target:
    ``limit`` ~ throughput x target.
    """

    SMOOTHING = 0.02
    """Weight of one answer in the moving average (an exponential average over ~50 answers)."""

    def __init__(self, ceiling: int, target_s: float, floor: int = 8) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.target_s = target_s
        self.limit = float(ceiling)
        self.typical_s = 0.0
        """Moving average of the time an admitted request takes (its waits for the client excluded)."""
        self._cut_at = float("-inf")

    def observe(self, seconds: float, now: float) -> None:
        """One admitted request took ``seconds``; ``now`` is a monotonic clock reading."""
        self.typical_s += self.SMOOTHING * (seconds - self.typical_s)
        if self.typical_s > self.target_s:
            if now - self._cut_at >= self.target_s:
                self.limit = max(float(self.floor), self.limit * 0.9)
                self._cut_at = now
        elif self.typical_s < self.target_s / 2 and self.limit < self.ceiling:
            self.limit = min(float(self.ceiling), self.limit + 1 / self.limit)


class InFlightBudget:
    """ASGI layer: at most ``limit`` requests (exempt paths apart) inside ``app`` at once in this worker.

    A request counts from its arrival to its answer, except while it waits for its client's bytes (the body).
    """

    def __init__(self, app: ASGIApp, limit: InFlightLimit, on_refusal: Callable[[], None] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0
        self._on_refusal = on_refusal
        self._parked: dict[int, Callable[[], bool]] = {}
        """Connections the server protocol stopped reading after refusing them, oldest first: each freed slot
        wakes the oldest (``resume`` returns False for one that closed meanwhile)."""

    def park(self, key: int, resume: Callable[[], bool]) -> None:
        self._parked[key] = resume

    def unpark(self, key: int) -> None:
        self._parked.pop(key, None)

    def _freed(self) -> None:
        """A slot was given back: let the longest-waiting refused connection be read again."""
        parked = self._parked
        while parked and self.in_flight < self.limit.limit:
            key = next(iter(parked))
            if parked.pop(key)():
                return

    def full(self) -> bool:
        return self.in_flight >= self.limit.limit

    def admit(self, scope: dict[str, Any]) -> None:
        """Count a request in from the server protocol, as soon as its headers are in: requests that arrive
        together (a burst read in one go) are all checked before any of their tasks runs, so the count must
        not wait for the app to be called."""
        self.in_flight += 1
        scope[ADMITTED] = time.perf_counter()

    def refused(self) -> None:
        if self._on_refusal is not None:
            self._on_refusal()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        started = cast("float | None", scope.get(ADMITTED))
        if started is None:
            if self.full():
                self.refused()
                await send(REFUSAL_START)
                await send(REFUSAL_BODY_EVENT)
                return
            self.in_flight += 1
            started = time.perf_counter()
        waited = 0.0

        async def receive_uncounted() -> ReceiveMessage:
            # Waiting for the client's bytes is not work: a flood of bodies never sent must not fill the budget
            # and get real buyers refused (tests/test_slow_clients.py; the read deadlines close those), nor
            # count as a late answer.
            nonlocal waited
            self.in_flight -= 1
            self._freed()
            began = time.perf_counter()
            try:
                return await receive()
            finally:
                self.in_flight += 1
                waited += time.perf_counter() - began

        try:
            await self.app(scope, receive_uncounted, send)
        finally:
            self.in_flight -= 1
            now = time.perf_counter()
            self.limit.observe(now - started - waited, now)
            self._freed()
