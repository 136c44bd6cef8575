"""The waiting room's holds (issue 23), each reproduction against a real server on a real Redis: units per
admission, no stalls after pauses, room identity, keys, bounds, the waitlist after sell-out."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Api
from tests.test_queue_api import PROBLEM, buy, join, poll, queued_sale, room_of, until


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
    headers = {"Idempotency-Key": str(uuid.uuid4()), "Admission-Token": hold_token}
    held = client.http.post(f"/sales/{sale}/holds", json={"buyer_id": "n1", "quantity": 5}, headers=headers)
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
    old_ticket = client.http.get(bob.headers["Location"])  # the very next poll after the view changed
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
