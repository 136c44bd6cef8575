"""Holds through the HTTP API: hold, confirm, release, read, the admin cancel, metrics; the audit after each."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from load.bench.receiver import OtlpReceiver

from flashsale.local import LocalServer
from tests.conftest import LOG_DIR, Api, start_api
from tests.servers import RedisProcess

HOLD = "urn:flashsale:problem:"


def hold(client: Api, sale: str, buyer: str = "alice", quantity: int = 1, key: str | None = None) -> httpx.Response:
    return client.http.post(
        f"/sales/{sale}/holds",
        json={"quantity": quantity},
        headers={"Idempotency-Key": key or str(uuid.uuid4()), **client.as_buyer(buyer)},
    )


def confirm(client: Api, sale: str, hold_id: str, body: Any = None, buyer: str = "alice") -> httpx.Response:
    url, headers = f"/sales/{sale}/holds/{hold_id}/confirm", client.as_buyer(buyer)
    if body is None:
        return client.http.post(url, headers=headers)
    return client.http.post(url, json=body, headers=headers)


def read(client: Api, sale: str, hold_id: str, buyer: str = "alice") -> httpx.Response:
    return client.http.get(f"/sales/{sale}/holds/{hold_id}", headers=client.as_buyer(buyer))


def release(client: Api, sale: str, hold_id: str, buyer: str = "alice") -> httpx.Response:
    return client.http.delete(f"/sales/{sale}/holds/{hold_id}", headers=client.as_buyer(buyer))


def audited(client: Api, sale: str) -> dict[str, Any]:
    audit = client.audit(sale)
    assert audit["ok"] and audit["oversold"] == 0, audit
    return audit


def poll(check: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        time.sleep(0.05)


def test_hold_confirm_and_replays(client: Api) -> None:
    sale = client.new_sale(stock=5)
    key = str(uuid.uuid4())
    r = hold(client, sale, "alice", 2, key)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"hold_id", "sale_id", "buyer_id", "quantity", "expires_at"}
    assert (body["sale_id"], body["buyer_id"], body["quantity"]) == (sale, "alice", 2)
    assert r.headers["cache-control"] == "no-store" and "idempotent-replayed" not in r.headers
    again = hold(client, sale, "alice", 2, key)
    assert again.status_code == 201 and again.json() == body and again.headers["idempotent-replayed"] == "true"
    conflict = hold(client, sale, "alice", 1, key)
    assert conflict.status_code == 422 and conflict.json()["type"] == HOLD + "idempotency-key-reused"
    view = client.sale(sale)
    assert (view["remaining"], view["held"], view["sold"], view["hold_ttl_s"]) == (3, 2, 0, 600)

    hold_id = body["hold_id"]
    state = read(client, sale, hold_id).json()
    assert (state["state"], state["expires_at"], state["order_id"]) == ("held", body["expires_at"], None)
    # Another buyer's hold is as unknown to them as a hold that never existed, whatever the step.
    for step in (read, confirm, release):
        theirs = step(client, sale, hold_id, buyer="mallory")
        assert theirs.status_code == 404 and theirs.json()["type"] == HOLD + "unknown-hold", theirs.text
    order = confirm(client, sale, hold_id, {"payment_ref": "psp-123"})
    assert order.status_code == 201, order.text
    assert (order.json()["buyer_id"], order.json()["quantity"]) == ("alice", 2)
    replay = confirm(client, sale, hold_id)
    assert replay.status_code == 201 and replay.json() == order.json()
    assert replay.headers["idempotent-replayed"] == "true"
    state = read(client, sale, hold_id).json()
    assert (state["state"], state["order_id"]) == ("confirmed", order.json()["order_id"])
    released = release(client, sale, hold_id)
    assert released.status_code == 409 and released.json()["type"] == HOLD + "hold-confirmed"
    audit = audited(client, sale)
    assert (audit["sold"], audit["held"], audit["orders"], audit["holds"]["confirmed"]) == (2, 0, 1, 1)


def test_release_is_idempotent_and_gives_units_back(client: Api) -> None:
    sale = client.new_sale(stock=1)
    hold_id = hold(client, sale, "bob").json()["hold_id"]
    r = hold(client, sale, "carol")
    assert r.status_code == 409 and r.json()["type"] == HOLD + "sold-out" and r.json()["held"] == 1
    assert release(client, sale, hold_id, "carol").status_code == 404  # not carol's to give up
    assert release(client, sale, hold_id, "bob").status_code == 204
    assert release(client, sale, hold_id, "bob").status_code == 204
    late = confirm(client, sale, hold_id, buyer="bob")
    assert late.status_code == 409 and late.json()["type"] == HOLD + "hold-released"
    assert client.buy(sale, "carol").status_code == 201
    audit = audited(client, sale)
    assert (audit["sold"], audit["holds"]["released"]) == (1, 1)


def test_expired_hold_is_410_and_sells_nothing(client: Api) -> None:
    sale = client.new_sale(stock=1, hold_ttl_s=1)
    hold_id = hold(client, sale, "dave").json()["hold_id"]
    poll(lambda: read(client, sale, hold_id, "dave").json()["state"] == "expired")
    r = confirm(client, sale, hold_id, buyer="dave")
    assert r.status_code == 410 and r.json()["type"] == HOLD + "hold-expired"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert release(client, sale, hold_id, "dave").status_code == 204
    assert client.sale(sale)["remaining"] == 1
    audit = audited(client, sale)
    assert (audit["sold"], audit["holds"]["expired"]) == (0, 1)


def test_limit_counts_held_units(client: Api) -> None:
    sale = client.new_sale(stock=10, limit=1)
    assert hold(client, sale, "erin").status_code == 201
    r = client.buy(sale, "erin")
    assert r.status_code == 409 and r.json()["type"] == HOLD + "limit-reached"
    audited(client, sale)


def test_bad_input_is_4xx(client: Api) -> None:
    sale = client.new_sale(stock=2)
    assert read(client, sale, "0" * 32).status_code == 404
    assert confirm(client, sale, "0" * 32).json()["type"] == HOLD + "unknown-hold"
    assert read(client, sale, "not-a-hold").status_code == 400
    hold_id = hold(client, sale).json()["hold_id"]
    assert confirm(client, sale, hold_id, {"payment_ref": "x", "extra": 1}).status_code == 400
    assert confirm(client, sale, hold_id, {"payment_ref": "has space"}).status_code == 400
    assert hold(client, "no-such-sale").status_code == 404
    x = client.as_buyer("x")
    wrong = client.http.post(
        f"/sales/{sale}/holds", json={"quantity": "1"}, headers={"Idempotency-Key": str(uuid.uuid4()), **x}
    )
    assert wrong.status_code == 400 and wrong.json()["detail"].startswith("invalid hold body")
    # The buyer is the token's: a body naming one is an unknown field.
    named = client.http.post(
        f"/sales/{sale}/holds",
        json={"buyer_id": "x", "quantity": 1},
        headers={"Idempotency-Key": str(uuid.uuid4()), **x},
    )
    assert named.status_code == 400 and "buyer_id" in named.json()["detail"], named.text
    assert client.http.post(f"/sales/{sale}/holds", json={}, headers=x).status_code == 400  # no key
    # Without a token every step is a 401 challenge, and the hold is left as it was.
    anonymous = [
        client.http.post(f"/sales/{sale}/holds", json={"quantity": 1}, headers={"Idempotency-Key": uuid.uuid4().hex}),
        client.http.get(f"/sales/{sale}/holds/{hold_id}"),
        client.http.post(f"/sales/{sale}/holds/{hold_id}/confirm"),
        client.http.delete(f"/sales/{sale}/holds/{hold_id}"),
    ]
    for r in anonymous:
        assert r.status_code == 401, r.text
        assert r.json()["type"] == HOLD + "buyer-unauthenticated"
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert read(client, sale, hold_id).json()["state"] == "held"
    for ttl in (0, 86_401, "60", 1.5, None):
        r = client.http.post(
            "/admin/sales",
            headers=client.auth,
            json={"sale_id": f"t-{uuid.uuid4().hex[:8]}", "name": "x", "stock": 1, "hold_ttl_s": ttl},
        )
        assert r.status_code == 400, r.text
    audited(client, sale)


def test_cancel_is_exactly_once(client: Api) -> None:
    sale = client.new_sale(stock=3)
    order_id = client.buy(sale, "fay", 2).json()["order_id"]
    url = f"/admin/sales/{sale}/orders/{order_id}/cancel"
    assert client.http.post(url, json={"restock": True}).status_code == 401
    first = client.http.post(url, json={"restock": True}, headers=client.auth)
    assert first.status_code == 200, first.text
    assert (first.json()["restock"], first.json()["quantity"]) == (True, 2)
    second = client.http.post(url, json={"restock": False}, headers=client.auth)
    assert second.status_code == 200 and second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    view = client.sale(sale)
    assert (view["remaining"], view["sold"]) == (3, 0)
    missing = client.http.post(f"/admin/sales/{sale}/orders/1-1/cancel", json={"restock": True}, headers=client.auth)
    assert missing.status_code == 404 and missing.json()["type"] == HOLD + "unknown-order"
    bad = client.http.post(f"/admin/sales/{sale}/orders/x/cancel", json={"restock": True}, headers=client.auth)
    assert bad.status_code == 400
    audit = audited(client, sale)
    assert (audit["cancels"], audit["restocked"], audit["ledger_length"]) == (1, 2, 2)


def test_hold_metrics(client: Api) -> None:
    sale = client.new_sale(stock=2)
    hold_id = hold(client, sale).json()["hold_id"]
    confirm(client, sale, hold_id)
    hold(client, sale, "x", 5)
    text = client.http.get("/metrics").text

    def value(name: str, **labels: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} {labels} not in /metrics")

    assert value("flashsale_hold_attempts_total", sale=sale, step="hold", outcome="held") == 1
    assert value("flashsale_hold_attempts_total", sale=sale, step="hold", outcome="sold_out") == 1
    assert value("flashsale_hold_attempts_total", sale=sale, step="confirm", outcome="confirmed") == 1
    assert value("flashsale_hold_attempts_total", sale=sale, step="cancel", outcome="cancelled") == 0
    assert value("flashsale_holds", sale=sale, state="confirmed") == 1
    assert value("flashsale_stock_held", sale=sale) == 0
    assert not re.search(r'flashsale_purchase_attempts_total\{[^}]*outcome="held"', text)
    audited(client, sale)


@pytest.mark.slow
def test_http_confirms_racing_expiry(client: Api) -> None:
    """200 holds with a 5 s TTL, each confirmed close to its own expiry (Redis clock), 200 connections:
    every 201 was decided before its hold's expires_at, every other answer is a 410, the audit balances."""
    n = 200
    sale = client.new_sale(stock=n, hold_ttl_s=5)
    buyers = {f"r{i}": client.as_buyer(f"r{i}") for i in range(n)}  # minted before the race

    async def race() -> tuple[list[dict[str, Any]], list[httpx.Response]]:
        limits = httpx.Limits(max_connections=n + 8, max_keepalive_connections=n + 8)
        async with httpx.AsyncClient(base_url=client.url, limits=limits, timeout=30.0) as http:

            async def retried(method: str, url: str, **kwargs: Any) -> httpx.Response:
                """A 503 means "outcome unknown": send the same request again (same key), a few times."""
                for _ in range(5):
                    r = await http.request(method, url, **kwargs)
                    if r.status_code != 503:
                        return r
                return r

            gate = asyncio.Semaphore(20)  # the holds are the set-up: made quickly, 20 at a time

            async def make(i: int) -> httpx.Response:
                async with gate:
                    return await retried(
                        "POST",
                        f"/sales/{sale}/holds",
                        json={},
                        headers={"Idempotency-Key": uuid.uuid4().hex, **buyers[f"r{i}"]},
                    )

            made = await asyncio.gather(*(make(i) for i in range(n)))
            holds = [r.json() for r in made]
            assert {r.status_code for r in made} == {201}
            # The test Redis runs on this machine: its TIME is this clock (time.time()).

            async def confirm_at(h: dict[str, Any], shift_ms: int) -> httpx.Response:
                expires = datetime_ms(h["expires_at"])
                await asyncio.sleep(max(0.0, (expires + shift_ms) / 1000 - time.time()))  # aiming, not waiting
                url = f"/sales/{sale}/holds/{h['hold_id']}/confirm"
                r = await retried("POST", url, headers=buyers[h["buyer_id"]])
                return r

            # Sent 100 ms before to 20 ms after each expiry: through HTTP under this burst a request takes tens
            # of ms to reach Redis, so this spreads the arrivals across the boundary.
            results = await asyncio.gather(*(confirm_at(h, i % 121 - 100) for i, h in enumerate(holds)))
            return holds, results

    holds, results = asyncio.run(race())
    codes = [r.status_code for r in results]
    won = [r.json() for r in results if r.status_code == 201]
    by_id = {h["hold_id"]: h for h in holds}
    assert set(codes) <= {201, 410} and codes.count(201) + codes.count(410) == n
    for r, h in zip(results, holds, strict=True):
        if r.status_code == 201:
            assert datetime_ms(r.json()["created_at"]) < datetime_ms(by_id[h["hold_id"]]["expires_at"])
    audit = audited(client, sale)
    assert (audit["sold"], audit["orders"]) == (len(won), len(won))
    print(
        "http boundary race:",
        json.dumps(
            {
                "confirms": n,
                "won": len(won),
                "hold_expired": codes.count(410),
                "sold": audit["sold"],
                "oversold": audit["oversold"],
            }
        ),
    )


def datetime_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_hold_steps_are_spans_and_log_lines_like_purchases(redis_server: RedisProcess) -> None:
    """Each step is one ``hold attempt`` span at a real OTLP receiver (attribute ``flashsale.step``) and one
    ``hold_attempt`` log line with the same outcome name and ids, through the purchases' Recorder."""
    with OtlpReceiver(keep=True) as receiver:
        server = start_api(
            redis_server.url,
            FLASHSALE_LOG_LEVEL="INFO",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        try:
            api = Api(server)
            sale = api.new_sale(stock=1)
            hold_id = hold(api, sale, "sp-a").json()["hold_id"]
            assert confirm(api, sale, hold_id, buyer="sp-a").status_code == 201
            assert release(api, sale, hold_id, "sp-a").status_code == 409
            assert confirm(api, sale, hold_id, {"nope": 1}, buyer="sp-a").status_code == 400
            assert poll_until(lambda: receiver.span_count >= 4)
            api.http.close()
        finally:
            server.stop()
        spans = [s for s in receiver.spans if s.name == "hold attempt"]
    assert [(s.attributes["flashsale.step"], s.attributes["flashsale.outcome"]) for s in spans] == [
        ("hold", "held"),
        ("confirm", "confirmed"),
        ("release", "hold_confirmed"),
        ("confirm", "invalid"),
    ]
    assert all(s.attributes["flashsale.sale"] == sale for s in spans[:3])
    lines = [
        json.loads(line)
        for line in (LOG_DIR / f"api-{server.port}.log").read_text().splitlines()
        if line.startswith("{")
    ]
    steps = [e for e in lines if e.get("event") == "hold_attempt" and e.get("sale") == sale]
    assert [(e["step"], e["outcome"]) for e in steps] == [
        ("hold", "held"),
        ("confirm", "confirmed"),
        ("release", "hold_confirmed"),
    ]
    assert [(e["trace_id"], e["span_id"]) for e in steps] == [(s.trace_id, s.span_id) for s in spans[:3]]


@pytest.mark.cluster
def test_holds_on_redis_cluster(cluster_api: LocalServer) -> None:
    """Every hold script touches one slot (the sale's hash tag): the same steps work on a 3-master cluster."""
    api = Api(cluster_api)
    sale = api.new_sale(stock=2, hold_ttl_s=1)
    first = hold(api, sale, "cl-a").json()["hold_id"]
    second = hold(api, sale, "cl-b").json()["hold_id"]
    order = confirm(api, sale, first, buyer="cl-a")
    assert order.status_code == 201
    poll(lambda: read(api, sale, second, "cl-b").json()["state"] == "expired")
    assert api.buy(sale, "cl-c").status_code == 201
    url = f"/admin/sales/{sale}/orders/{order.json()['order_id']}/cancel"
    assert api.http.post(url, json={"restock": True}, headers=api.auth).status_code == 200
    audit = audited(api, sale)
    assert (audit["sold"], audit["remaining"], audit["holds"]["expired"]) == (1, 1, 1)
    api.http.close()


def poll_until(check: Any, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def aof_api() -> Iterator[tuple[Api, RedisProcess]]:
    redis_process = RedisProcess("--appendonly", "yes", "--appendfsync", "always").start()
    server = start_api(redis_process.url)
    client = Api(server)
    yield client, redis_process
    client.http.close()
    server.stop()
    redis_process.cleanup()


@pytest.mark.chaos
def test_redis_killed_and_restarted_mid_checkout(aof_api: tuple[Api, RedisProcess]) -> None:
    """40 buyers each hold then confirm, retrying every 503 with the same request (same Idempotency-Key for the
    hold, same hold id for the confirm), while Redis is SIGKILLed and restarted (AOF, fsync always) once 20
    answers were 503s. Every hold a client was told about exists, every confirmed hold is one order, the
    books balance: nothing lost, nothing sold twice."""
    client, redis_process = aof_api
    buyers, stock = 40, 30
    sale = client.new_sale(stock=stock)
    tokens = [client.as_buyer(f"ck{i}") for i in range(buyers)]
    unavailable = 0

    async def checkout(http: httpx.AsyncClient, i: int) -> tuple[str | None, str | None]:
        nonlocal unavailable

        async def settled(method: str, url: str, **kwargs: Any) -> httpx.Response:
            nonlocal unavailable
            deadline = time.monotonic() + 30
            while True:
                try:
                    r = await http.request(method, url, **kwargs)
                    if r.status_code != 503:
                        return r
                except httpx.TransportError:
                    pass
                unavailable += 1
                assert time.monotonic() < deadline, "outcome still unknown after 30 s"
                await asyncio.sleep(0.05)  # pacing retries, not synchronisation

        made = await settled(
            "POST", f"/sales/{sale}/holds", json={}, headers={"Idempotency-Key": uuid.uuid4().hex, **tokens[i]}
        )
        if made.status_code != 201:
            assert made.status_code == 409 and made.json()["type"] == HOLD + "sold-out"
            return None, None
        hold_id = made.json()["hold_id"]
        order = await settled("POST", f"/sales/{sale}/holds/{hold_id}/confirm", headers=tokens[i])
        assert order.status_code == 201, order.text
        return hold_id, order.json()["order_id"]

    async def rush() -> list[tuple[str | None, str | None]]:
        async with httpx.AsyncClient(base_url=client.url, timeout=10.0) as http:
            tasks = [asyncio.create_task(checkout(http, i)) for i in range(buyers)]
            while unavailable < 20 and not all(t.done() for t in tasks):
                if unavailable == 0 and any(t.done() for t in tasks):
                    redis_process.kill()  # some checkouts completed: kill Redis in the middle of the rest
                await asyncio.sleep(0.01)
            if redis_process.pid is None:
                redis_process.start()
            return await asyncio.gather(*tasks)

    results = asyncio.run(rush())
    confirmed = [(i, h, o) for i, (h, o) in enumerate(results) if h is not None]
    assert len(confirmed) == stock
    assert len({o for _, _, o in confirmed}) == stock
    for i, hold_id, order_id in confirmed:
        state = read(client, sale, str(hold_id), f"ck{i}").json()
        assert (state["state"], state["order_id"]) == ("confirmed", order_id)
    audit = audited(client, sale)
    assert (audit["sold"], audit["orders"], audit["holds"]["confirmed"], audit["held"]) == (stock, stock, stock, 0)
    figures = {"buyers": buyers, "confirmed": len(confirmed), "unavailable": unavailable, "oversold": audit["oversold"]}
    print("mid-checkout restart:", json.dumps(figures))
