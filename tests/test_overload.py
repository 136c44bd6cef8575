"""Issue 25: past FLASHSALE_MAX_IN_FLIGHT requests in flight (less while they are answered late), a worker answers
503 ``overloaded`` at once, before reading the body or touching Redis, and counts it; health, metrics and admin
routes are never refused, and clients waiting to send a body do not use the budget. A real server and a real
Redis whose writes are paused (``CLIENT PAUSE WRITE``) so that purchases stay in flight."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from flashsale.api.overload import InFlightLimit
from tests.conftest import Api, start_api
from tests.servers import RedisProcess

BUDGET = 4


@pytest.fixture
def paused_stack() -> Iterator[tuple[Api, redis.Redis]]:
    own = RedisProcess("--appendonly", "no").start()
    server = start_api(own.url, FLASHSALE_MAX_IN_FLIGHT=str(BUDGET), FLASHSALE_REDIS_TIMEOUT_MS="5000")
    api = Api(server)
    admin = redis.Redis(port=own.port)
    try:
        yield api, admin
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.close()
        api.http.close()
        server.stop()
        own.cleanup()


def metric(api: Api, name: str, label: str = "") -> float:
    """A sample of ``name`` (with ``label``, e.g. ``route="..."``, among its labels) on /metrics; 0 if absent."""
    for line in api.http.get("/metrics").text.splitlines():
        head, _, value = line.rpartition(" ")
        if (head == name and not label) or (head.startswith(name + "{") and label and label in head):
            return float(value)
    return 0.0


def in_flight_purchases(api: Api) -> float:
    return metric(api, "flashsale_http_requests_in_progress", 'route="/sales/{sale_id}/purchases"')


async def purchase(url: str, sale: str, body: bytes, signed: dict[str, str]) -> httpx.Response:
    """A purchase with the raw ``body`` by the buyer whose Authorization header is ``signed``."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        return await http.post(
            f"/sales/{sale}/purchases",
            content=body,
            headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json", **signed},
        )


async def held_bodies(api: Api, sale: str, count: int) -> list[asyncio.StreamWriter]:
    """``count`` purchases by signed-in buyers whose headers announce a body that is never sent, one after the
    other, each once the previous one reached the app and waits there for its body."""
    writers = []
    tokens = [api.server.token(f"slow-{i}") for i in range(count)]
    for i in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", api.server.port)
        writer.write(
            f"POST /sales/{sale}/purchases HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {tokens[i]}\r\n"
            f"Idempotency-Key: {uuid.uuid4()}\r\nContent-Length: 40\r\n\r\n{{".encode()
        )
        await writer.drain()
        writers.append(writer)
        deadline = time.monotonic() + 10
        while in_flight_purchases(api) < i + 1 and time.monotonic() < deadline:  # noqa: ASYNC110  (bounded poll)
            await asyncio.sleep(0.02)
    return writers


def blocked_in_redis(admin: redis.Redis) -> int:
    """Redis clients waiting on the pause: requests that got past the budget and reached Redis, and the
    worker's background reaper once it tried to run."""
    return int(admin.info("clients")["blocked_clients"])


async def until_blocked(admin: redis.Redis, count: int) -> int:
    deadline = time.monotonic() + 10
    while blocked_in_redis(admin) < count and time.monotonic() < deadline:  # noqa: ASYNC110  (bounded poll)
        await asyncio.sleep(0.02)
    blocked = blocked_in_redis(admin)
    assert blocked >= count
    return blocked


def test_over_budget_is_refused_at_once_and_counted(paused_stack: tuple[Api, redis.Redis]) -> None:
    api, admin = paused_stack
    sale = api.new_sale(stock=100)
    refused_before = metric(api, "flashsale_overloaded_total")
    # Valid bodies and bodies that validation would refuse, all from signed-in buyers: all get 503 overloaded,
    # so nothing was parsed (and no token was what refused them).
    bodies = [b'{"quantity":1}'] * 6 + [b"{not json", b'{"quantity":-1}']
    held_by = [api.as_buyer(f"held-{i}") for i in range(BUDGET)]
    late = [api.as_buyer(f"late-{i}") for i in range(len(bodies))]

    async def scenario() -> tuple[list[httpx.Response], list[httpx.Response], int, int, httpx.Response]:
        admin.execute_command("CLIENT", "PAUSE", 20_000, "WRITE")
        held = [asyncio.create_task(purchase(api.url, sale, b'{"quantity":1}', signed)) for signed in held_by]
        blocked = await until_blocked(admin, BUDGET)
        refused = await asyncio.gather(
            *(purchase(api.url, sale, body, signed) for body, signed in zip(bodies, late, strict=True))
        )
        sale_page = api.http.get(f"/sales/{sale}").status_code  # a buyer route: refused like the purchases
        live = api.http.get("/health/live").status_code
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            scrape = asyncio.create_task(http.get("/metrics"))
            await until_blocked(admin, blocked + 1)  # the scrape got past the budget and waits on Redis too
            admin.execute_command("CLIENT", "UNPAUSE")
            return list(await asyncio.gather(*held)), refused, sale_page, live, await scrape

    held, refused, sale_page, live, scrape = asyncio.run(scenario())
    assert [r.status_code for r in held] == [201] * BUDGET
    for r in refused:
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "urn:flashsale:problem:overloaded"
    assert sale_page == 503
    assert live == 200 and scrape.status_code == 200  # health and metrics are never refused
    assert metric(api, "flashsale_overloaded_total") - refused_before == len(refused) + 1
    audit = api.audit(sale)  # nor are the admin routes
    assert audit["ok"] is True and audit["orders"] == BUDGET and audit["sold"] == BUDGET
    assert api.buy(sale, "after").status_code == 201  # the budget was given back


def test_clients_that_never_send_their_body_do_not_use_the_budget(paused_stack: tuple[Api, redis.Redis]) -> None:
    api, _ = paused_stack
    sale = api.new_sale(stock=10)

    async def scenario() -> int:
        writers = await held_bodies(api, sale, BUDGET * 3)
        try:
            assert in_flight_purchases(api) == BUDGET * 3  # they all reached the app and wait for their bodies
            return (await purchase(api.url, sale, b'{"quantity":1}', api.as_buyer("real"))).status_code
        finally:
            for writer in writers:
                writer.close()

    assert asyncio.run(scenario()) == 201


def test_the_limit_follows_how_long_admitted_requests_take() -> None:
    limit = InFlightLimit(ceiling=256, target_s=0.25, floor=8)
    for i in range(500):  # between half the target and the target: left alone
        limit.observe(0.2, now=i)
    assert limit.limit == 256
    limit.observe(2.0, now=600.0)  # one late answer (a pause of the worker) does not move the average past it
    assert limit.typical_s < 0.25 and limit.limit == 256
    for i in range(40):  # answers that stay late: cut by a tenth, at most once per target
        limit.observe(1.0, now=601.0 + i * 0.001)
    assert limit.typical_s > 0.25
    cuts = [limit.limit]
    limit.observe(1.0, now=601.3)
    cuts.append(limit.limit)
    assert cuts[1] == pytest.approx(cuts[0] * 0.9)
    for i in range(200):  # a worker that stays slow goes down to the floor, not below
        limit.observe(1.0, now=602.0 + i)
    assert limit.limit == 8
    answers = 0
    while limit.limit < 256 and answers < 100_000:  # quick answers bring it back: one per limit's worth
        limit.observe(0.01, now=900.0)
        answers += 1
    assert limit.limit == 256
    # l' = l + 1/l: l^2 grows by about 2 an answer, once the average fell below half the target (~100 answers)
    assert 30_000 <= answers <= (256**2 - 8**2) / 2 + 500
    limit.observe(0.01, now=901.0)
    assert limit.limit == 256  # never above the configured budget
