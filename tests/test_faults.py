"""Redis gone or slow during requests: 503 with Retry-After within the deadline, never a 500, no oversell."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from flashsale.local import LocalServer
from tests.conftest import DEADLINE_MS, Api, start_api
from tests.servers import RedisClusterProcesses, RedisProcess

SLACK_S = 1.0
"""Bound on what the API may add to the Redis deadline before answering (a bound, not a speed claim)."""


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    server = RedisProcess("--appendonly", "yes", "--appendfsync", "always").start()
    yield server
    server.cleanup()


@pytest.fixture
def own_api(own_redis: RedisProcess) -> Iterator[Api]:
    server = start_api(own_redis.url)
    client = Api(server)
    yield client
    client.http.close()
    server.stop()


async def hammer(api: Api, sale: str, n: int) -> list[tuple[httpx.Response | None, float]]:
    buyers = [api.as_buyer(f"b{i}") for i in range(n)]  # minted before the clock starts
    async with httpx.AsyncClient(base_url=api.url, timeout=10.0) as http:

        async def one(i: int) -> tuple[httpx.Response | None, float]:
            start = time.perf_counter()
            try:
                r = await http.post(
                    f"/sales/{sale}/purchases",
                    json={"quantity": 1},
                    headers={"Idempotency-Key": str(uuid.uuid4()), **buyers[i]},
                )
            except httpx.HTTPError:
                return None, time.perf_counter() - start
            return r, time.perf_counter() - start

        return await asyncio.gather(*(one(i) for i in range(n)))


def assert_unavailable(response: httpx.Response, seconds: float) -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["type"] == "urn:flashsale:problem:unavailable"
    assert "same Idempotency-Key" in body["detail"]
    assert seconds < DEADLINE_MS / 1000 + SLACK_S


def wait_until_busy(port: int, timeout_s: float = 5.0) -> None:
    """Return once the server stops answering PING promptly, i.e. the DEBUG SLEEP has started."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.settimeout(0.1)
            s.sendall(b"PING\r\n")
            try:
                s.recv(16)
            except TimeoutError:
                return
    raise AssertionError("the server never became busy")


def wait_ready(client: Api, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if client.http.get("/health/ready").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("API not ready again")


def test_redis_killed_gives_503_then_recovers(own_api: Api, own_redis: RedisProcess) -> None:
    sale = own_api.new_sale(stock=30)
    before = asyncio.run(hammer(own_api, sale, 10))
    assert all(r is not None and r.status_code == 201 for r, _ in before)
    own_redis.kill()
    during = asyncio.run(hammer(own_api, sale, 20))
    for r, seconds in during:
        assert r is not None
        assert_unavailable(r, seconds)
    ready = own_api.http.get("/health/ready")
    assert ready.status_code == 503 and ready.headers["retry-after"] == "1"
    own_redis.start()
    wait_ready(own_api)
    after = asyncio.run(hammer(own_api, sale, 40))
    assert {r.status_code for r, _ in after if r is not None} <= {201, 409}
    audit = own_api.audit(sale)
    assert audit["ok"] is True
    assert audit["sold"] == 30 and audit["remaining"] == 0


def test_redis_paused_gives_503_within_deadline_and_no_oversell(own_api: Api, own_redis: RedisProcess) -> None:
    sale = own_api.new_sale(stock=20)
    admin = redis.Redis(port=own_redis.port)
    admin.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
    during = asyncio.run(hammer(own_api, sale, 30))
    for r, seconds in during:
        assert r is not None
        assert_unavailable(r, seconds)
    admin.execute_command("CLIENT", "UNPAUSE")
    wait_ready(own_api)
    # Paused commands may still run after the pause: that is why a 503 means "outcome unknown".
    after = asyncio.run(hammer(own_api, sale, 40))
    assert {r.status_code for r, _ in after if r is not None} <= {201, 409}
    audit = own_api.audit(sale)
    assert audit["ok"] is True
    assert audit["sold"] == 20
    admin.close()


def test_slow_script_gives_503_and_retry_with_same_key_is_safe(own_api: Api, own_redis: RedisProcess) -> None:
    sale = own_api.new_sale(stock=5)
    key = str(uuid.uuid4())
    admin = redis.Redis(port=own_redis.port)
    sleeper = threading.Thread(target=lambda: redis.Redis(port=own_redis.port).execute_command("DEBUG", "SLEEP", 1))
    sleeper.start()
    wait_until_busy(own_redis.port)
    start = time.perf_counter()
    first = own_api.buy(sale, "zoe", 1, key)
    assert_unavailable(first, time.perf_counter() - start)
    sleeper.join()
    retry = own_api.buy(sale, "zoe", 1, key)
    assert retry.status_code == 201
    audit = own_api.audit(sale)
    assert audit["orders"] == 1 and audit["sold"] == 1 and audit["ok"] is True
    admin.close()


@pytest.mark.cluster
def test_cluster_script_flush_on_every_node(cluster_api: LocalServer, redis_cluster: RedisClusterProcesses) -> None:
    client = Api(cluster_api)
    sales = [client.new_sale(stock=5) for _ in range(6)]
    for node in redis_cluster.nodes:
        redis.Redis(port=node.port).script_flush()
    assert all(client.buy(s, "yan", 1).status_code == 201 for s in sales)
    for node in redis_cluster.nodes:
        redis.Redis(port=node.port).script_flush()
    assert client.http.get("/health/ready").status_code == 200
    assert all(client.buy(s, "yan", 1).status_code == 201 for s in sales)
    assert all(client.audit(s)["sold"] == 2 for s in sales)
    client.http.close()
