"""Purchase semantics through the HTTP API: limits, idempotency, schedule, script cache."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import redis

from flashsale.inventory import sale_keys
from flashsale.inventory.scripts import Scripts
from tests.conftest import Api, burst, start_api
from tests.servers import RedisProcess


def test_order_body_and_headers(client: Api) -> None:
    sale = client.new_sale(stock=5)
    r = client.buy(sale, "alice", 2)
    assert r.status_code == 201
    order = r.json()
    assert order["sale_id"] == sale and order["buyer_id"] == "alice" and order["quantity"] == 2
    assert order["order_id"]
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "idempotent-replayed" not in r.headers
    view = client.sale(sale)
    assert (view["remaining"], view["sold"], view["status"]) == (3, 2, "open")


def test_one_buyer_many_concurrent_requests_limit_2(client: Api) -> None:
    sale = client.new_sale(stock=100, limit=2)
    reqs = [
        (
            f"/sales/{sale}/purchases",
            {"quantity": 1},
            {"Idempotency-Key": str(uuid.uuid4()), **client.as_buyer("greedy")},
        )
        for _ in range(60)
    ]
    responses = asyncio.run(burst(client.url, reqs))
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 2
    assert codes.count(409) == 58
    limited = [r.json() for r in responses if r.status_code == 409]
    assert {p["type"] for p in limited} == {"urn:flashsale:problem:limit-reached"}
    audit = client.audit(sale)
    assert (audit["orders"], audit["sold"], audit["remaining"], audit["ok"]) == (2, 2, 98, True)


def test_sequential_replay_returns_the_same_order(client: Api) -> None:
    sale = client.new_sale(stock=5)
    key = str(uuid.uuid4())
    first = client.buy(sale, "bob", 1, key)
    second = client.buy(sale, "bob", 1, key)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert client.audit(sale)["orders"] == 1


def test_concurrent_requests_with_one_key_make_one_order(client: Api) -> None:
    sale = client.new_sale(stock=50)
    key = str(uuid.uuid4())
    reqs = [(f"/sales/{sale}/purchases", {"quantity": 1}, {"Idempotency-Key": key, **client.as_buyer("carol")})] * 40
    responses = asyncio.run(burst(client.url, reqs))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["order_id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 39
    audit = client.audit(sale)
    assert (audit["orders"], audit["sold"], audit["ledger_length"]) == (1, 1, 1)


def test_same_key_other_body_is_422(client: Api) -> None:
    sale = client.new_sale(stock=5)
    key = str(uuid.uuid4())
    assert client.buy(sale, "dave", 1, key).status_code == 201
    for buyer, qty in (("dave", 2), ("erin", 1)):
        r = client.buy(sale, buyer, qty, key)
        assert r.status_code == 422
        assert r.json()["type"] == "urn:flashsale:problem:idempotency-key-reused"
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.audit(sale)["sold"] == 1


def test_not_enough_stock_is_409_sold_out(client: Api) -> None:
    sale = client.new_sale(stock=2)
    r = client.buy(sale, "frank", 3)
    assert r.status_code == 409
    body = r.json()
    assert body["type"] == "urn:flashsale:problem:sold-out"
    assert body["remaining"] == 2
    assert client.sale(sale)["remaining"] == 2


def test_unknown_sale_is_404(client: Api) -> None:
    r = client.buy("no-such-sale-here", "gina", 1)
    assert r.status_code == 404
    assert r.json()["type"] == "urn:flashsale:problem:unknown-sale"
    assert client.http.get("/sales/no-such-sale-here").status_code == 404


def test_before_opening_and_after_closing_409_stock_unchanged(client: Api) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    scheduled = client.new_sale(stock=5, opens_at=later.isoformat())
    r = client.buy(scheduled, "hank", 1)
    assert r.status_code == 409
    assert r.json()["type"] == "urn:flashsale:problem:sale-not-open"
    assert client.sale(scheduled)["status"] == "scheduled"
    assert client.sale(scheduled)["remaining"] == 5

    earlier = datetime.now(UTC) - timedelta(hours=2)
    ended = client.new_sale(stock=5, opens_at=earlier.isoformat(), closes_at=(earlier + timedelta(hours=1)).isoformat())
    r = client.buy(ended, "hank", 1)
    assert r.status_code == 409
    assert r.json()["type"] == "urn:flashsale:problem:sale-closed"
    assert client.sale(ended)["remaining"] == 5

    sale = client.new_sale(stock=5)
    assert client.http.post(f"/admin/sales/{sale}/close", headers=client.auth).status_code == 200
    r = client.buy(sale, "hank", 1)
    assert r.status_code == 409
    assert r.json()["type"] == "urn:flashsale:problem:sale-closed"
    assert client.sale(sale)["status"] == "closed"
    assert client.audit(sale)["remaining"] == 5


def test_a_sale_opens_by_the_redis_clock(client: Api) -> None:
    opens = datetime.now(UTC) + timedelta(milliseconds=600)
    sale = client.new_sale(stock=5, opens_at=opens.isoformat())
    assert client.buy(sale, "ivy", 1).status_code == 409
    deadline = time.monotonic() + 10
    status = 409
    while status == 409 and time.monotonic() < deadline:
        status = client.buy(sale, "ivy", 1).status_code
    assert status == 201


def test_script_flush_next_purchase_still_succeeds(client: Api, redis_server: RedisProcess) -> None:
    sale = client.new_sale(stock=5)
    r = redis.Redis(port=redis_server.port)
    assert r.script_flush() is True
    assert client.buy(sale, "jack", 1).status_code == 201
    r.script_flush()
    ready = client.http.get("/health/ready")
    assert ready.status_code == 200
    assert client.audit(sale)["ok"] is True
    r.close()


def test_restock_after_sold_out_sells_again(client: Api) -> None:
    sale = client.new_sale(stock=1)
    assert client.buy(sale, "kim", 1).status_code == 201
    assert client.buy(sale, "lee", 1).status_code == 409
    r = client.http.post(f"/admin/sales/{sale}/restock", json={"units": 3}, headers=client.auth)
    assert r.status_code == 200
    assert r.json()["remaining"] == 3
    deadline = time.monotonic() + 5
    status = 409
    while status == 409 and time.monotonic() < deadline:
        status = client.buy(sale, "lee", 1).status_code
    assert status == 201
    audit = client.audit(sale)
    assert (audit["stock_added"], audit["sold"], audit["remaining"], audit["ok"]) == (4, 2, 2, True)


def test_ledger_entries_match_orders(client: Api, redis_server: RedisProcess) -> None:
    sale = client.new_sale(stock=10)
    keys = [str(uuid.uuid4()) for _ in range(3)]
    orders = [client.buy(sale, f"buyer{i}", 1, k).json() for i, k in enumerate(keys)]
    r = redis.Redis(port=redis_server.port, decode_responses=True)
    entries = r.xrange(sale_keys(sale).orders)
    assert [e[0] for e in entries] == [o["order_id"] for o in orders]
    assert [e[1]["key"] for e in entries] == keys
    assert [e[1]["buyer"] for e in entries] == ["buyer0", "buyer1", "buyer2"]
    ttl = r.ttl(sale_keys(sale).idem(keys[0]))
    assert 86_000 < ttl <= 86_400
    r.close()


def test_sold_out_memo_answers_without_redis_and_still_replays(client: Api, redis_server: RedisProcess) -> None:
    sale = client.new_sale(stock=2)
    keys = [str(uuid.uuid4()) for _ in range(2)]
    first = [client.buy(sale, f"memo-{i}", 1, k) for i, k in enumerate(keys)]
    assert [r.status_code for r in first] == [201, 201]
    r = redis.Redis(port=redis_server.port)
    purchase_sha = Scripts.load().purchase.sha

    # Only this sale's purchase script calls count: other tests' waiting rooms on this Redis are stepped by the
    # server's admission controller meanwhile (MONITOR sees every command; the sale id picks ours).
    with r.monitor() as monitor:
        assert client.buy(sale, "late", 1).status_code == 409  # Redis says sold out: the memo fills
        answers = [client.buy(sale, f"late-{i}", 1) for i in range(50)]
        r.execute_command("ECHO", "end-of-sample")
        calls = 0
        for command in monitor.listen():
            text = command["command"]
            if "end-of-sample" in text:
                break
            calls += text.startswith(f"EVALSHA {purchase_sha}") and sale in text
    assert {a.status_code for a in answers} == {409}
    assert {a.json()["type"] for a in answers} == {"urn:flashsale:problem:sold-out"}
    assert 1 <= calls < 25, calls  # the first one went to Redis (the count sees calls), most of the rest did not
    for _ in range(3):
        replay = client.buy(sale, "memo-0", 1, keys[0])
        assert replay.status_code == 201
        assert replay.json() == first[0].json()
        assert replay.headers["idempotent-replayed"] == "true"
        conflict = client.buy(sale, "memo-0", 2, keys[0])
        assert conflict.status_code == 422
    assert client.audit(sale)["orders"] == 2
    r.close()


def test_a_503_names_the_route_that_was_called() -> None:
    """Redis not answering: the safe and the unsafe route each answer 503 ``unavailable`` with their own path as
    the problem ``instance``, and so does a hold."""
    redis_server = RedisProcess("--appendonly", "no").start()
    server = start_api(redis_server.url)
    api = Api(server)
    try:
        sale = api.new_sale(stock=5)
        redis_server.freeze()
        answers = {
            path: api.http.post(path, json={"quantity": 1}, headers={"Idempotency-Key": uuid.uuid4().hex, **buyer})
            for path, buyer in (
                (f"/sales/{sale}/purchases", api.as_buyer("a")),
                (f"/demo/sales/{sale}/purchases", api.as_buyer("b")),
                (f"/sales/{sale}/holds", api.as_buyer("c")),
            )
        }
    finally:
        redis_server.thaw()
        api.http.close()
        server.stop()
        redis_server.cleanup()
    for path, answer in answers.items():
        assert answer.status_code == 503, answer.text
        assert answer.json()["type"] == "urn:flashsale:problem:unavailable"
        assert answer.json()["instance"] == path
