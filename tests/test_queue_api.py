"""The waiting room end to end: real server, real Redis. Join, poll, admission tokens spent by the purchase step."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from redis.crc import key_slot

from flashsale.inventory.keys import queue_keys, sale_keys
from flashsale.local import LocalServer
from flashsale.queue import Signer
from tests.conftest import Api, burst

PROBLEM = "urn:flashsale:problem:"


def queued_sale(client: Api, stock: int, limit: int = 1, **queue: Any) -> str:
    settings = {"mode": "fifo", "admit_rate": 200, "max_active": 1000, "token_ttl_s": 60, **queue}
    extra: dict[str, Any] = {"queue": settings}
    for name in ("opens_at", "closes_at", "hold_ttl_s"):
        if name in settings:
            extra[name] = settings.pop(name)
    return client.new_sale(stock=stock, limit=limit, **extra)


BUYER_OF: dict[str, str] = {}
"""Which buyer joined at each place (its Location and its ticket): a poll must come from that buyer."""


def join(client: Api, sale: str, buyer: str, key: str | None = None) -> httpx.Response:
    r = client.http.post(
        f"/sales/{sale}/queue", headers={"Idempotency-Key": key or str(uuid.uuid4()), **client.as_buyer(buyer)}
    )
    if r.status_code in (200, 201):
        BUYER_OF[r.headers["Location"]] = buyer
        BUYER_OF[f"/sales/{sale}/queue/{r.json()['ticket']}"] = buyer
    return r


def until(check: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    """Poll a condition (each poll is a real request) until it holds, bounded in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def poll(client: Api, location: str, buyer: str | None = None) -> dict[str, Any]:
    """The place at ``location`` read by its buyer (by default the one who joined there)."""
    r = client.http.get(location, headers=client.as_buyer(buyer or BUYER_OF[location]))
    assert r.status_code == 200, r.text
    assert int(r.headers["Retry-After"]) >= 1
    return r.json()  # type: ignore[no-any-return]


def buy(
    client: Api, sale: str, buyer: str, token: str | None, key: str | None = None, quantity: int = 1
) -> httpx.Response:
    headers = {"Idempotency-Key": key or str(uuid.uuid4()), **client.as_buyer(buyer)}
    if token is not None:
        headers["Admission-Token"] = token
    return client.http.post(f"/sales/{sale}/purchases", json={"quantity": quantity}, headers=headers)


def signer_of(client: Api) -> Signer:
    """The server's key (LocalServer gives each server one, FLASHSALE_ADMISSION_KEY)."""
    return Signer(client.server.admission_key.encode())


def room_of(client: Api, sale: str) -> str:
    r = client.http.get(f"/sales/{sale}/queue")
    assert r.status_code == 200, r.text
    return str(r.json()["room"])


def test_join_poll_admit_and_buy_once(client: Api) -> None:
    sale = queued_sale(client, stock=5)
    key = str(uuid.uuid4())
    r = join(client, sale, "alice", key)
    assert r.status_code == 201, r.text
    assert r.json()["buyer_id"] == "alice"
    location = r.headers["Location"]
    assert location == f"/sales/{sale}/queue/{r.json()['ticket']}"
    # alice's place is hers alone: bob's poll of her ticket is an unknown ticket, bob's join with her key his own
    # place (joins are idempotent by buyer, the key is not stored: never her ticket), and a poll without a token
    # a 401.
    theirs = client.http.get(location, headers=client.as_buyer("bob"))
    assert (theirs.status_code, theirs.json()["type"]) == (404, PROBLEM + "unknown-ticket")
    copied = join(client, sale, "bob", key)
    assert copied.status_code == 201 and copied.json()["buyer_id"] == "bob", copied.text
    assert copied.json()["ticket"] != r.json()["ticket"]
    anonymous = client.http.get(location)
    assert (anonymous.status_code, anonymous.json()["type"]) == (401, PROBLEM + "buyer-unauthenticated")
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    place = until(lambda: (v := poll(client, location, "alice"))["state"] == "admitted" and v, "admission")
    assert place["position"] == 0 and place["ahead"] == 0
    token = place["admission_token"]

    refused = buy(client, sale, "alice", None)
    assert (refused.status_code, refused.json()["type"]) == (403, PROBLEM + "admission-required")
    stolen = buy(client, sale, "bob", token)
    assert (stolen.status_code, stolen.json()["type"]) == (403, PROBLEM + "admission-invalid")
    forged = buy(client, sale, "alice", token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert (forged.status_code, forged.json()["type"]) == (403, PROBLEM + "admission-invalid")
    other_sale = queued_sale(client, stock=5)
    wrong = buy(client, other_sale, "alice", token)
    assert (wrong.status_code, wrong.json()["type"]) == (403, PROBLEM + "admission-invalid")

    key = str(uuid.uuid4())
    first = buy(client, sale, "alice", token, key)
    assert first.status_code == 201, first.text
    replay = buy(client, sale, "alice", token, key)
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["order_id"] == first.json()["order_id"]
    again = buy(client, sale, "alice", poll(client, location, "alice")["admission_token"])  # a fresh poll, same place
    assert (again.status_code, again.json()["type"]) == (409, PROBLEM + "admission-used")

    audit = client.audit(sale)
    assert audit["ok"] is True and audit["sold"] == 1, audit


def test_expired_and_early_tokens_are_refused_without_an_order(client: Api) -> None:
    sale = queued_sale(client, stock=5)
    signer, room = signer_of(client), room_of(client, sale)
    now = int(time.time() * 1000)
    expired, _ = signer.issue(sale, room, "carol", 0, now - 120_000, now - 60_000)
    early, _ = signer.issue(sale, room, "carol", 0, now + 60_000, now + 120_000)
    for token, kind in ((expired, "admission-expired"), (early, "admission-not-yet-valid")):
        r = buy(client, sale, "carol", token)
        assert (r.status_code, r.json()["type"]) == (403, PROBLEM + kind), r.text
    assert client.audit(sale)["sold"] == 0


def test_one_buyer_on_50_connections_gets_one_place(client: Api) -> None:
    sale = queued_sale(client, stock=5)
    dave = client.as_buyer("dave")
    requests = [(f"/sales/{sale}/queue", {}, {"Idempotency-Key": str(uuid.uuid4()), **dave}) for _ in range(50)]
    answers = asyncio.run(burst(client.url, requests))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 49 + [201], statuses
    assert len({r.json()["ticket"] for r in answers}) == 1
    until(lambda: client.http.get(f"/admin/sales/{sale}/queue", headers=client.auth).json()["queue"]["joined"], "1")
    figures = client.http.get(f"/admin/sales/{sale}/queue", headers=client.auth)  # the next refresh: still 1
    assert figures.status_code == 200 and figures.json()["queue"]["joined"] == 1, figures.text


def test_admission_is_capped_by_stock_and_a_sell_out_waitlists_every_waiting_place(client: Api) -> None:
    sale = queued_sale(client, stock=3, admit_rate=1000, max_active=100)
    locations = [join(client, sale, f"b{i}").headers["Location"] for i in range(20)]

    def figures() -> dict[str, Any]:
        r = client.http.get(f"/admin/sales/{sale}/queue", headers=client.auth)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    until(lambda: figures()["queue"]["serving"] >= 3, "three admissions")
    seen = [figures() for _ in range(10)]  # ten later controller snapshots: nobody bought, still 3 admitted
    assert all(f["queue"]["serving"] == 3 and f["active"] == 3 for f in seen), seen
    states = [poll(client, loc, f"b{i}")["state"] for i, loc in enumerate(locations)]
    assert states.count("admitted") == 3 and states.count("waiting") == 17, states

    for i, loc in enumerate(locations[:3]):
        place = poll(client, loc, f"b{i}")
        assert buy(client, sale, f"b{i}", place["admission_token"]).status_code == 201
    until(
        lambda: all(poll(client, loc, f"b{i}")["state"] == "waitlisted" for i, loc in enumerate(locations) if i >= 3),
        "the waitlist",
    )
    late = join(client, sale, "latecomer")  # a sold-out room still gives places, on its waitlist
    assert late.status_code == 201, late.text
    assert poll(client, late.headers["Location"], "latecomer")["position"] == 20
    audit = client.audit(sale)
    assert audit["ok"] is True and audit["sold"] == 3 and audit["remaining"] == 0, audit


def test_sales_without_a_queue_need_no_token(client: Api) -> None:
    sale = client.new_sale(stock=2)
    assert buy(client, sale, "erin", None).status_code == 201
    r = join(client, sale, "erin")
    assert (r.status_code, r.json()["type"]) == (404, PROBLEM + "no-queue")
    bad = client.http.get(f"/sales/{sale}/queue/not-a-ticket", headers=client.as_buyer("erin"))
    assert (bad.status_code, bad.json()["type"]) == (404, PROBLEM + "unknown-ticket")


def test_a_hold_spends_the_admission_and_its_confirm_needs_none(client: Api) -> None:
    sale = queued_sale(client, stock=2)
    frank = client.as_buyer("frank")
    location = join(client, sale, "frank").headers["Location"]
    place = until(lambda: (v := poll(client, location, "frank"))["state"] == "admitted" and v, "admission")
    token = place["admission_token"]
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Admission-Token": token, **frank}
    hold = client.http.post(f"/sales/{sale}/holds", json={}, headers=headers)
    assert hold.status_code == 201, hold.text
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Admission-Token": token, **frank}
    again = client.http.post(f"/sales/{sale}/holds", json={}, headers=headers)
    assert (again.status_code, again.json()["type"]) == (409, PROBLEM + "admission-used")
    bare = client.http.post(f"/sales/{sale}/holds", json={}, headers={"Idempotency-Key": str(uuid.uuid4()), **frank})
    assert (bare.status_code, bare.json()["type"]) == (403, PROBLEM + "admission-required")
    confirm = client.http.post(f"/sales/{sale}/holds/{hold.json()['hold_id']}/confirm", headers=frank)
    assert confirm.status_code == 201, confirm.text
    audit = client.audit(sale)
    assert audit["ok"] is True and audit["sold"] == 1, audit


@pytest.mark.cluster
def test_the_waiting_room_on_redis_cluster(cluster_api: LocalServer) -> None:
    """The room's keys hash to another slot than the stock's; join, poll and the token-spending purchase work."""
    assert key_slot(queue_keys("drop-1").conf.encode()) != key_slot(sale_keys("drop-1").sale.encode())
    client = Api(cluster_api)
    try:
        sale = queued_sale(client, stock=3)
        location = join(client, sale, "gina").headers["Location"]
        place = until(lambda: (v := poll(client, location, "gina"))["state"] == "admitted" and v, "admission")
        assert buy(client, sale, "gina", place["admission_token"]).status_code == 201
        assert client.audit(sale)["ok"] is True
    finally:
        client.http.close()


def test_pause_stops_admission_and_resume_restarts_it(client: Api) -> None:
    sale = queued_sale(client, stock=50, admit_rate=5)

    def figures() -> dict[str, Any]:
        r = client.http.get(f"/admin/sales/{sale}/queue", headers=client.auth)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    paused = client.http.post(f"/admin/sales/{sale}/queue/pause", headers=client.auth)
    assert paused.status_code == 200 and paused.json() == {"sale_id": sale, "paused": True}
    for i in range(10):
        join(client, sale, f"w{i}")
    until(lambda: figures()["queue"]["joined"] == 10 and figures()["queue"]["paused"], "the joins, paused")
    held_back = [figures()["queue"]["serving"] for _ in range(10)]  # ten later snapshots, admission paused
    assert held_back == [0] * 10, held_back
    assert client.http.post(f"/admin/sales/{sale}/queue/resume", headers=client.auth).json()["paused"] is False
    until(lambda: figures()["queue"]["serving"] > 0, "admission after the resume")
    unknown = client.http.post(f"/admin/sales/{client.new_sale(stock=1)}/queue/pause", headers=client.auth)
    assert (unknown.status_code, unknown.json()["type"]) == (404, PROBLEM + "no-queue")
    assert client.http.post(f"/admin/sales/{sale}/queue/pause").status_code == 401
