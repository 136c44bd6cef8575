"""The waiting room's holds (issue 23), each reproduction against a real server on a real Redis: units per
admission, no stalls after pauses, room identity, keys, bounds, the waitlist after sell-out."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Api
from tests.test_queue_api import PROBLEM, buy, join, poll, queued_sale, until


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
