"""Issue 18: each 429 carries the headers of the limit that refused it and says which limit that was."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Api, start_api
from tests.servers import RedisProcess

ATTEMPTS = 60
"""Requests sent until the first 429: far more than either limit admits in one second, with no timing assumed."""


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """A Redis of its own: the per-address counts live in Redis under the client address (127.0.0.1), which
    every server of the session shares."""
    server = RedisProcess("--appendonly", "no").start()
    yield server
    server.cleanup()


def first_refusal(send: Iterator[httpx.Response]) -> httpx.Response:
    for answer in send:
        if answer.status_code == 429:
            return answer
        assert answer.status_code in {201, 409}, answer.text
    raise AssertionError(f"no 429 in {ATTEMPTS} attempts")


def test_a_buyer_refused_by_its_own_limit_reads_that_limit(own_redis: RedisProcess) -> None:
    server = start_api(own_redis.url, FLASHSALE_RATE_LIMIT_PER_IP="500", FLASHSALE_RATE_LIMIT_PER_BUYER="2")
    api = Api(server)
    try:
        sale = api.new_sale(stock=1000)
        refused = first_refusal(api.buy(sale, buyer="greedy") for _ in range(ATTEMPTS))
        hold = first_refusal(
            api.http.post(
                f"/sales/{sale}/holds",
                json={"quantity": 1},
                headers={"Idempotency-Key": str(uuid.uuid4()), **api.as_buyer("greedy-holder")},
            )
            for _ in range(ATTEMPTS)
        )
        admitted = api.buy(sale, buyer="someone-else")
    finally:
        api.http.close()
        server.stop()
    for answer in (refused, hold):
        body = answer.json()
        assert (body["type"], body["rate_limit"]) == ("urn:flashsale:problem:rate-limited", "per-buyer")
        assert answer.headers["RateLimit-Limit"] == "2"
        assert answer.headers["RateLimit-Policy"] == "2; w=1"
        assert answer.headers["RateLimit-Remaining"] == "0"
        assert answer.headers["RateLimit-Reset"] == answer.headers["Retry-After"] == "1"
    # Requests the buyer limit admits still carry the per-address figures.
    assert admitted.status_code == 201, admitted.text
    assert admitted.headers["RateLimit-Limit"] == "500"


def test_an_address_refused_by_its_limit_reads_that_limit(own_redis: RedisProcess) -> None:
    server = start_api(own_redis.url, FLASHSALE_RATE_LIMIT_PER_IP="5", FLASHSALE_RATE_LIMIT_PER_BUYER="100")
    api = Api(server)
    try:
        sale = api.new_sale(stock=1000)
        refused = first_refusal(api.buy(sale, buyer=f"b{i}") for i in range(ATTEMPTS))
    finally:
        api.http.close()
        server.stop()
    body = refused.json()
    assert (body["type"], body["rate_limit"]) == ("urn:flashsale:problem:rate-limited", "per-address")
    assert refused.headers["RateLimit-Limit"] == "5"
    assert refused.headers["RateLimit-Policy"] == "5; w=1"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) >= 1
    assert int(refused.headers["Retry-After"]) >= int(refused.headers["RateLimit-Reset"])
