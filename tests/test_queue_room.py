"""The waiting room's holds (issue 23), each reproduction against a real server on a real Redis: units per
admission, no stalls after pauses, room identity, keys, bounds, the waitlist after sell-out."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from flashsale.inventory.keys import queue_keys, sale_keys
from flashsale.local import LocalServer, LocalServerError
from tests.conftest import Api
from tests.servers import RedisProcess
from tests.test_queue_api import PROBLEM, buy, join, poll, queued_sale, room_of, until
from tests.test_queue_fair import _audit_permute


def figures(client: Api, sale: str) -> dict[str, Any]:
    r = client.http.get(f"/admin/sales/{sale}/queue", headers=client.auth)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_one_admission_buys_at_most_its_units_and_the_cap_counts_units(client: Api) -> None:
    """Before: per_buyer_limit 0 with a queue, one admitted buyer bought 1,000 units while 50 waited. Now a queue
    needs a bound, the token admits at most N units (checked in the Lua step) and admission stops at
    ceil(units left / N) active admissions."""
    unbounded = client.http.post(
        "/admin/sales",
        json={"sale_id": f"u-{uuid.uuid4().hex[:8]}", "name": "u", "stock": 1000, "queue": {"mode": "fifo"}},
        headers=client.auth,
    )
    assert (unbounded.status_code, unbounded.json()["type"]) == (400, PROBLEM + "invalid-request"), unbounded.text
    assert "units_per_admission" in unbounded.json()["detail"]

    sale = queued_sale(client, stock=10, limit=0, units_per_admission=4, admit_rate=1000)
    locations = [join(client, sale, f"n{i}").headers["Location"] for i in range(20)]
    until(lambda: figures(client, sale)["queue"]["serving"] >= 3, "three admissions")
    seen = [figures(client, sale)["queue"]["serving"] for _ in range(10)]  # ten later controller snapshots
    assert seen == [3] * 10, seen  # ceil(10 units / 4 per admission) = 3, not 10 (one per unit) nor 20

    token = poll(client, locations[0])["admission_token"]
    too_many = buy(client, sale, "n0", token, quantity=5)
    assert (too_many.status_code, too_many.json()["type"]) == (409, PROBLEM + "admission-units-exceeded")
    assert too_many.json()["limit"] == 4
    assert buy(client, sale, "n0", token, quantity=4).status_code == 201
    again = buy(client, sale, "n0", token, quantity=1)
    assert (again.status_code, again.json()["type"]) == (409, PROBLEM + "admission-used")
    hold_token = poll(client, locations[1])["admission_token"]
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Admission-Token": hold_token, **client.as_buyer("n1")}
    held = client.http.post(f"/sales/{sale}/holds", json={"quantity": 5}, headers=headers)
    assert (held.status_code, held.json()["type"]) == (409, PROBLEM + "admission-units-exceeded"), held.text
    audit = client.audit(sale)
    assert audit["ok"] is True and audit["sold"] == 4 and audit["remaining"] == 6, audit


def test_a_re_created_sale_refuses_the_old_rooms_tickets_and_tokens(client: Api) -> None:
    """Before: after deleting and re-creating sale q4, bob's old ticket polled "admitted, position 0" in the new
    room and bought, and carol, who held place 0 there, got 409. Now the room id in tickets, tokens and the spent
    record tells the rooms apart: the old ticket is 404 unknown-ticket, the old token 403 admission-invalid."""
    sale = queued_sale(client, stock=5)
    old_room = room_of(client, sale)
    bob = join(client, sale, "bob")
    assert bob.json()["room"] == old_room
    bob_place = until(lambda: (v := poll(client, bob.headers["Location"]))["state"] == "admitted" and v, "bob admitted")
    assert client.http.delete(f"/admin/sales/{sale}", headers=client.auth).status_code == 204

    settings = {"mode": "fifo", "admit_rate": 1, "max_active": 1, "token_ttl_s": 60}
    again = client.http.post(
        "/admin/sales",
        json={"sale_id": sale, "name": "again", "stock": 5, "per_buyer_limit": 1, "queue": settings},
        headers=client.auth,
    )
    assert again.status_code == 201, again.text
    assert client.http.post(f"/admin/sales/{sale}/queue/pause", headers=client.auth).status_code == 200
    new_room = until(lambda: (r := room_of(client, sale)) != old_room and r, "the worker's view of the new room")
    old_ticket = client.http.get(
        bob.headers["Location"], headers=client.as_buyer("bob")
    )  # the very next poll after the view changed
    assert (old_ticket.status_code, old_ticket.json()["type"]) == (404, PROBLEM + "unknown-ticket"), old_ticket.text
    old_token = buy(client, sale, "bob", bob_place["admission_token"])  # nobody is admitted in the new room yet
    assert (old_token.status_code, old_token.json()["type"]) == (403, PROBLEM + "admission-invalid"), old_token.text

    carol = join(client, sale, "carol")
    assert carol.status_code == 201 and carol.json()["room"] == new_room and carol.json()["joined_index"] == 0
    assert client.http.post(f"/admin/sales/{sale}/queue/resume", headers=client.auth).status_code == 200
    carol_place = until(lambda: (v := poll(client, carol.headers["Location"]))["state"] == "admitted" and v, "carol")
    assert carol_place["position"] == 0
    assert buy(client, sale, "carol", carol_place["admission_token"]).status_code == 201
    audit = client.audit(sale)
    assert audit["ok"] is True and audit["sold"] == 1, audit


def _refused(redis_url: str, tmp_path: Path, **env: str) -> str:
    """Start a production-mode server that must refuse to start; its one-line reason."""
    log = tmp_path / f"refused-{uuid.uuid4().hex[:6]}.log"
    server = LocalServer(redis_url, env={"FLASHSALE_DEMO": "false", "FLASHSALE_LOG_LEVEL": "WARNING", **env})
    with pytest.raises(LocalServerError, match="exited with 2"):
        server.start(log_path=str(log))
    lines = [line for line in log.read_text().splitlines() if line.startswith("flashsale: ")]
    assert len(lines) == 1, log.read_text()
    return lines[0]


def test_replicas_with_different_admission_keys_are_refused_at_start(redis_node: RedisProcess, tmp_path: Path) -> None:
    """Before: without FLASHSALE_ADMISSION_KEY each replica derived its key from the admin token (or made one up),
    and only workers > 1 warned. Now, outside demo mode: no key, the admin token as key, or another key than the
    fleet's on this Redis stop the server at start (exit 2, one line naming the variable); a rotation passes."""
    k1, k2 = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    assert "FLASHSALE_ADMISSION_KEY is unset" in _refused(redis_node.url, tmp_path, FLASHSALE_ADMISSION_KEY="")
    same = secrets.token_urlsafe(32)
    line = _refused(redis_node.url, tmp_path, FLASHSALE_ADMISSION_KEY=same, FLASHSALE_ADMIN_TOKEN=same)
    assert "must differ from FLASHSALE_ADMIN_TOKEN" in line
    first = LocalServer(redis_node.url, env={"FLASHSALE_DEMO": "false", "FLASHSALE_ADMISSION_KEY": k1})
    first.start(log_path=str(tmp_path / "first.log"))
    try:
        line = _refused(redis_node.url, tmp_path, FLASHSALE_ADMISSION_KEY=k2)
        assert line.startswith("flashsale: FLASHSALE_ADMISSION_KEY differs from the key the servers on this Redis")
        rotated = LocalServer(
            redis_node.url,
            env={"FLASHSALE_DEMO": "false", "FLASHSALE_ADMISSION_KEY": k2, "FLASHSALE_ADMISSION_KEYS_PREVIOUS": k1},
        )
        rotated.start(log_path=str(tmp_path / "rotated.log"))
        rotated.stop()
        assert "differs" in _refused(redis_node.url, tmp_path, FLASHSALE_ADMISSION_KEY=k1)  # the old key, after
    finally:
        first.stop()


def test_a_restart_with_another_key_does_not_buy_a_place_twice(redis_node: RedisProcess, tmp_path: Path) -> None:
    """Before: after a restart with a rotated admin token (so another derived key, another jti for the same
    place) alice re-joined and bought again with the same place: admissions_spent 2, joined 1. Now a place is
    spent by (room, place) whatever key signed its token. Demo mode, no FLASHSALE_ADMISSION_KEY: each start makes
    up its own key, the worst case."""

    def start(name: str) -> Api:
        server = LocalServer(redis_node.url, env={"FLASHSALE_DEMO": "true", "FLASHSALE_ADMISSION_KEY": ""})
        server.start(log_path=str(tmp_path / f"{name}.log"))
        return Api(server)

    first = start("first")
    try:
        sale = queued_sale(first, stock=10)
        alice = join(first, sale, "alice")
        place = until(lambda: (v := poll(first, alice.headers["Location"]))["state"] == "admitted" and v, "admitted")
        assert buy(first, sale, "alice", place["admission_token"]).status_code == 201
    finally:
        first.server.stop()
        first.http.close()
    second = start("second")
    try:
        stale = second.http.get(
            alice.headers["Location"], headers=second.as_buyer("alice")
        )  # signed with the first start's key
        assert (stale.status_code, stale.json()["type"]) == (404, PROBLEM + "unknown-ticket")
        again = join(second, sale, "alice")
        assert again.status_code == 200 and again.json()["joined_index"] == alice.json()["joined_index"]
        token = until(lambda: (v := poll(second, again.headers["Location"]))["state"] == "admitted" and v, "again")
        twice = buy(second, sale, "alice", token["admission_token"])
        assert (twice.status_code, twice.json()["type"]) == (409, PROBLEM + "admission-used"), twice.text
        spent = asyncio.run(_hget(redis_node.url, sale_keys(sale).sale, "admissions_spent"))
        assert spent == "1" and figures(second, sale)["queue"]["joined"] == 1
        assert second.audit(sale)["sold"] == 1
    finally:
        second.server.stop()
        second.http.close()


async def _hget(url: str, key: str, field: str) -> str | None:
    client = Redis.from_url(url, decode_responses=True)
    try:
        return await client.hget(key, field)  # type: ignore[no-any-return]
    finally:
        await client.aclose()


def test_a_fill_attack_ends_in_429_and_409_while_purchases_are_served(redis_node: RedisProcess, tmp_path: Path) -> None:
    """Before: 659 B per join (64-character ids, 255-character keys), ~578 joins/s from one sequential client,
    no cap, no TTL on the room's keys, join limits off: about 1.6 M joins filled 1 GiB, and with noeviction Redis
    then refused every purchase. Now, with the defaults: one address gets 10 joins/s (429 past it), a room gives
    max_places places (409 queue-full past it), a place costs about 100 bytes, the room's keys expire, and a
    purchase made between the attack's joins is a 201 throughout."""
    server = LocalServer(redis_node.url, env={"FLASHSALE_DEMO": "true", "FLASHSALE_LOG_LEVEL": "WARNING"})
    server.start(log_path=str(tmp_path / "fill.log"))
    client = Api(server)
    redis = SyncRedis.from_url(redis_node.url)
    try:
        sale = queued_sale(client, stock=100, max_places=1500)
        plain = client.new_sale(stock=10_000)
        purchases: list[int] = []

        def attack(count: int, address: Callable[[int], str] | None, seconds: float) -> dict[int, int]:
            codes: dict[int, int] = {}
            end = time.monotonic() + seconds
            for i in range(count):
                if time.monotonic() > end:
                    break
                buyer = secrets.token_hex(32)  # 64 characters, as in the reproduction
                headers = {"Idempotency-Key": (buyer * 4)[:255], **client.as_buyer(buyer)}
                if address is not None:  # loopback is a trusted proxy by default: X-Forwarded-For gives the client
                    headers["X-Forwarded-For"] = address(i)
                r = client.http.post(f"/sales/{sale}/queue", headers=headers)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                if r.status_code not in (201, 429):
                    assert r.json()["type"] == PROBLEM + "queue-full", r.text
                if i % 10 == 0:
                    purchases.append(client.buy(plain, f"p{len(purchases)}").status_code)
            return codes

        started = time.monotonic()
        one_address = attack(10_000, None, 3.0)
        one_address_s = time.monotonic() - started
        redis.execute_command("MEMORY", "PURGE")
        before = int(redis.info("memory")["used_memory"])
        # Every join from another address: only the room's cap stops them.
        many = attack(1_700, lambda i: f"10.7.{i // 250}.{i % 250}", 120.0)
        redis.execute_command("MEMORY", "PURGE")
        grown = int(redis.info("memory")["used_memory"]) - before
        joined = figures(client, sale)["queue"]["joined"]
        per_join = grown / max(1, many.get(201, 0))
        ttls = [redis.pttl(key) for key in queue_keys(sale).fixed[:2]]
        print(
            f"fill attack: one address {one_address} in {one_address_s:.1f} s; many addresses {many}; "
            f"{joined} places; {per_join:.0f} B per join; purchases {sorted(set(purchases))} x {len(purchases)}"
        )
        assert one_address.get(201, 0) <= 10 * (one_address_s + 1) and one_address.get(429, 0) > 0, one_address
        assert joined == 1500 and many.get(201, 0) == 1500 - one_address.get(201, 0), many
        assert many.get(409, 0) == sum(many.values()) - many.get(201, 0) > 0, many
        assert per_join < 160, per_join
        assert all(ttl > 0 for ttl in ttls), ttls  # the room's keys expire with it
        assert purchases and set(purchases) == {201}, purchases
    finally:
        redis.close()
        client.http.close()
        server.stop()


def test_a_stock_0_room_opens_later_and_a_restock_admits(client: Api) -> None:
    """Before: a queued sale created with stock 0 was sold_out at once and for good: restocked to 100, a join an
    hour before the open got 409 queue-ended, and its purchases needed tokens nobody would get. Now the room is
    open until its open, then a waitlist until units come, a restock admits the line in order, and only the
    sale's close ends it (every waiter then polls closed)."""
    opens = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    sale = queued_sale(client, stock=0, opens_at=opens)
    early = [join(client, sale, f"z{i}") for i in range(3)]
    assert [r.status_code for r in early] == [201] * 3, [r.text for r in early]
    assert poll(client, early[0].headers["Location"])["state"] == "waiting"
    until(lambda: poll(client, early[2].headers["Location"])["state"] == "waitlisted", "the open, sold out")
    restocked = client.http.post(f"/admin/sales/{sale}/restock", json={"units": 2}, headers=client.auth)
    assert restocked.status_code == 200, restocked.text
    tokens = [
        until(lambda r=r: (v := poll(client, r.headers["Location"]))["state"] == "admitted" and v, "admitted")
        for r in early[:2]
    ]
    assert [buy(client, sale, f"z{i}", t["admission_token"]).status_code for i, t in enumerate(tokens)] == [201] * 2
    until(lambda: poll(client, early[2].headers["Location"])["state"] == "waitlisted", "sold out again")
    assert client.http.post(f"/admin/sales/{sale}/close", headers=client.auth).status_code == 200
    until(lambda: poll(client, early[2].headers["Location"])["state"] == "closed", "every waiter learns closed")
    late = join(client, sale, "after-close")
    assert (late.status_code, late.json()["type"], late.json()["state"]) == (409, PROBLEM + "queue-ended", "closed")
    audit = client.audit(sale)
    assert audit["ok"] is True and audit["sold"] == 2, audit


def test_the_waitlist_gives_returning_units_to_the_next_places_in_order(client: Api) -> None:
    """Before: a room was final at sold_out, so units of expired holds went to nobody in line. Now: 100 units,
    300 waiters; the first 100 are admitted, 60 buy and 40 hold for 6 s; the sale sells out and every other place
    is waitlisted; the 40 holds expire, and exactly places 100-139 are admitted (in place order) and buy; nobody
    else can; the audit balances; the room counts 40 units re-offered and 40 bought from the waitlist."""
    sale = queued_sale(client, stock=100, admit_rate=1000, hold_ttl_s=6)
    locations = [join(client, sale, f"w{i}").headers["Location"] for i in range(300)]
    until(lambda: figures(client, sale)["queue"]["serving"] == 100, "the first 100 admissions")
    for i, location in enumerate(locations[:100]):
        token = poll(client, location)["admission_token"]
        headers = {"Idempotency-Key": str(uuid.uuid4()), "Admission-Token": token, **client.as_buyer(f"w{i}")}
        if i < 60:
            r = buy(client, sale, f"w{i}", token)
        else:
            r = client.http.post(f"/sales/{sale}/holds", json={}, headers=headers)
        assert r.status_code == 201, r.text
    assert client.sale(sale)["remaining"] == 0
    # Within a tick: sold out, the waiting places waitlisted (a sample: the holds run out within seconds).
    sample = [*locations[100:105], *locations[-5:]]
    until(lambda: {poll(client, loc)["state"] for loc in sample} == {"waitlisted"}, "the waitlist")

    until(lambda: figures(client, sale)["queue"]["serving"] == 140, "the 40 returned units admitted", 30.0)
    seen = [figures(client, sale) for _ in range(10)]  # ten later snapshots: nobody beyond the 40
    assert {f["queue"]["serving"] for f in seen} == {140}, seen
    polled = [poll(client, loc) for loc in locations[100:]]
    admitted = [i + 100 for i, v in enumerate(polled) if v["state"] == "admitted"]
    assert admitted == list(range(100, 140)), admitted
    assert {v["state"] for v in polled[40:]} == {"waiting"}  # 40 units left, promised to the 40 admitted
    for i in admitted:
        assert buy(client, sale, f"w{i}", polled[i - 100]["admission_token"]).status_code == 201
    sample = [*locations[140:145], *locations[-5:]]
    until(lambda: {poll(client, loc)["state"] for loc in sample} == {"waitlisted"}, "sold out again")
    assert [poll(client, loc)["position"] for loc in locations[140:145]] == list(range(140, 145))
    refused = buy(client, sale, "w140", None)
    assert (refused.status_code, refused.json()["type"]) == (403, PROBLEM + "admission-required")
    audit = client.audit(sale)
    assert audit["ok"] is True and audit["sold"] == 100 and audit["holds"]["expired"] == 40, audit
    final = until(lambda: (f := figures(client, sale))["waitlist_bought_units"] == 40 and f, "the waitlist figures")
    assert final["waitlist_from"] == 100 and final["reoffered_units"] == 40, final
    print(f"waitlist: {final['reoffered_units']} units re-offered, {final['waitlist_bought_units']} bought")


def _audit_root(leaves: list[bytes]) -> bytes:
    """An auditor's Merkle root written from docs/queue.md (RFC 9162's recursive split), not calling flashsale."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _audit_root(leaves[:k]) + _audit_root(leaves[k:])).digest()


def _audit_verify(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """The proof check of docs/queue.md, step by step."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def test_an_open_nobody_can_steer_and_everyone_can_check(client: Api, redis_server: RedisProcess) -> None:
    """Before: the seed sat in Redis from creation (HGET fs:{sale:q}:conf seed), so a Redis reader who controls
    join timing could put a chosen id at a chosen place, and the joiners were never published. Now the secret
    is derived from the admission key and stored nowhere before the open; the open fixes the join log, whose
    Merkle root is mixed into the seed; reveal, root and seed are published together; the join log is public
    (as digests) and each buyer gets an inclusion proof. Everything is recomputed here from docs/queue.md."""
    n = 40
    opens = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    sale = queued_sale(client, stock=100, mode="random_at_open", opens_at=opens, admit_rate=1000)
    tickets = [join(client, sale, f"s{i}").json() for i in range(n)]
    before = client.http.get(f"/sales/{sale}/queue").json()
    room = before["room"]
    secret = hmac.new(client.server.admission_key.encode(), b"flashsale seed\x00" + room.encode(), hashlib.sha256)
    reveal = secret.digest()
    assert hashlib.sha256(reveal).hexdigest() == before["commitment"]
    assert before["seed"] is None and before["reveal"] is None and before["join_root"] is None
    stored = asyncio.run(_room_values(redis_server.url, sale))
    assert reveal.hex() not in stored and "seed" not in stored and "reveal" not in stored, stored  # nowhere yet
    admin = client.http.get(f"/admin/sales/{sale}/queue", headers=client.auth).text
    assert reveal.hex() not in admin
    early = client.http.get(f"/sales/{sale}/queue/{tickets[0]['ticket']}/proof", headers=client.as_buyer("s0"))
    assert (early.status_code, early.json()["type"]) == (409, PROBLEM + "no-draw")

    sealed = until(lambda: (v := client.http.get(f"/sales/{sale}/queue").json())["seed"] and v, "the sealed draw")
    assert sealed["reveal"] == reveal.hex() and sealed["pre_count"] == n
    log = client.http.get(f"/sales/{sale}/queue/joins")
    assert log.status_code == 200 and len(log.content) == 16 * n
    leaves = [
        hashlib.sha256(b"\x00" + i.to_bytes(8, "big") + log.content[16 * i : 16 * i + 16]).digest() for i in range(n)
    ]
    root = _audit_root(leaves)
    assert root.hex() == sealed["join_root"]
    seed = hmac.new(reveal, root, hashlib.sha256).digest()
    assert seed.hex() == sealed["seed"]
    assert (
        client.http.get(f"/sales/{sale}/queue/joins", params={"start": 30, "count": 5}).content
        == log.content[16 * 30 : 16 * 35]
    )

    positions = [poll(client, f"/sales/{sale}/queue/{t['ticket']}")["position"] for t in tickets]
    assert positions == [_audit_permute(seed, n, t["joined_index"]) for t in tickets]
    assert sorted(positions) == list(range(n)) and positions != list(range(n))
    for i, t in enumerate(tickets):
        proof = client.http.get(f"/sales/{sale}/queue/{t['ticket']}/proof", headers=client.as_buyer(t["buyer_id"]))
        assert proof.status_code == 200, proof.text
        body = proof.json()
        index = body["join_index"]
        assert index == t["joined_index"] and body["position"] == positions[i]
        salt = bytes.fromhex(body["buyer_salt"])
        digest = hashlib.sha256(salt + f"s{i}".encode()).digest()[:16]  # the buyer recomputes their own digest
        assert digest.hex() == body["buyer_digest"] == log.content[16 * index : 16 * index + 16].hex()
        path = [bytes.fromhex(h) for h in body["path"]]
        assert _audit_verify(index, n, leaves[index], path, root)
        assert not _audit_verify(index, n, leaves[(index + 1) % n], path, root)  # another join does not pass
    later = join(client, sale, "after-open").json()
    assert poll(client, f"/sales/{sale}/queue/{later['ticket']}")["position"] == n  # FIFO behind the pre-queue
    late_proof = client.http.get(f"/sales/{sale}/queue/{later['ticket']}/proof", headers=client.as_buyer("after-open"))
    assert (late_proof.status_code, late_proof.json()["type"]) == (409, PROBLEM + "no-draw")


async def _room_values(url: str, sale: str) -> str:
    """Every field and value of the room's hash and of the sale's hash, as one text to search."""
    client = Redis.from_url(url, decode_responses=True)
    try:
        conf = await client.hgetall(queue_keys(sale).conf)
        sale_hash = await client.hgetall(sale_keys(sale).sale)
        return " ".join(f"{k}={v}" for k, v in (*conf.items(), *sale_hash.items()))
    finally:
        await client.aclose()
