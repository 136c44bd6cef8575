"""queue: buyers go through a random_at_open waiting room. It fails on an oversell, a failed audit, any 5xx,
or an admitted buyer whose purchase attempt neither bought nor was told sold out.

Timeline: the sale (K units, one per buyer) opens 3 s after the start with a random_at_open room
(admit_rate 50/s, max_active 50, token_ttl_s 30). Every user joins the pre-queue at once (its own buyer, signed
in with its token: a place belongs to the token's buyer; one Idempotency-Key per join), then polls its ticket's
Location with the same token, waiting what Retry-After says (at most
MAX_WAIT_S: right after the open the room answers up to 30 s while its admission rate is still unmeasured, and
a run lasts 25 s). Admitted, it buys with the Admission-Token header; a 503 is retried with the same
Idempotency-Key on the next round. ``waitlisted``/``closed``/``expired`` polls end the user's part.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import gevent
from locust import task
from locust.env import Environment

from flashsale.timefmt import format_instant

try:
    from load import common
    from load.checks import Slo, check_sale
except ModuleNotFoundError:  # the compose stack mounts ./load alone (at /mnt/load)
    import common  # type: ignore[no-redef]
    from checks import Slo, check_sale  # type: ignore[no-redef]

LEAD_S = 3.0
MAX_WAIT_S = 5.0
JOIN = "POST /sales/[sale]/queue"
POLL = "GET /sales/[sale]/queue/[ticket]"
ADMITTED_PURCHASE = "POST /sales/[sale]/purchases (admitted)"
ENDED = frozenset({"sold_out", "waitlisted", "closed", "expired"})
"""Poll states that end a user's part: the campaign never puts units back, so a waitlisted place stays so."""
SETTLED = frozenset({"sold", "replayed", "sold-out", "limit-reached", "sale-closed"})

server_errors: list[str] = []
"""Every 5xx any request got (the campaign allows none)."""
tried: set[str] = set()
"""Buyers who were admitted and sent a purchase."""
settled: set[str] = set()
"""Of those, the ones whose purchase bought or was told sold out (or limit reached, closed)."""


def setup(run: common.Run, environment: Environment) -> None:
    assert run.api is not None
    server_errors.clear()
    tried.clear()
    settled.clear()
    units = common.stock(environment)
    opens = datetime.now(UTC) + timedelta(seconds=LEAD_S)
    sale = f"queue-{run.tag}"
    body: dict[str, Any] = {
        "sale_id": sale,
        "name": "queue",
        "stock": units,
        "per_buyer_limit": 1,
        "opens_at": format_instant(opens),
        "queue": {"mode": "random_at_open", "admit_rate": 50, "max_active": 50, "token_ttl_s": 30},
    }
    run.api._expect(*run.api.call("POST", "/admin/sales", body, admin=True), 201, f"create sale {sale}")
    run.sales["main"] = sale
    run.notes.update({"stock": units, "per_buyer_limit": 1, "opens_at": format_instant(opens)})


def verify(run: common.Run, environment: Environment) -> list[str]:
    assert run.api is not None
    sale = run.sales["main"]
    view = run.api.sale(sale)
    audit = run.api.audit(sale) if run.api.admin_token else None
    _, room = run.api.call("GET", f"/admin/sales/{sale}/queue", admin=True)
    unsettled = sorted(tried - settled)
    run.notes.update(
        {
            "sold": view["sold"],
            "remaining": view["remaining"],
            "oversold": audit["oversold"] if audit else None,
            "joined": room.get("queue", {}).get("joined") if isinstance(room, dict) else None,
            "admitted_buyers_who_tried": len(tried),
            "settled": len(settled),
            "server_errors": len(server_errors),
        }
    )
    failures = check_sale("queue", view, audit, run.tallies.get(sale))
    if server_errors:
        failures.append(f"queue: {len(server_errors)} 5xx answers, first: {server_errors[0]}")
    if unsettled:
        failures.append(f"queue: {len(unsettled)} admitted buyers tried and neither bought nor got sold_out")
    if not tried:
        failures.append("queue: no buyer was admitted and tried to buy: the room never admitted")
    return failures


class QueueBuyer(common.Buyer):
    def on_start(self) -> None:
        super().on_start()
        self.location: str | None = None
        self.done = False
        self.pause = 0.0

    def wait_time(self) -> float:
        return self.pause

    def _note_5xx(self, what: str, code: int) -> None:
        if code >= 500:
            server_errors.append(f"{what}: HTTP {code}")

    @task
    def step(self) -> None:
        sale = common.RUN.sale()
        if sale is None or self.done:
            self.pause = 1.0
            return
        if self.location is None:
            self.join(sale)
        else:
            self.poll(sale)

    def join(self, sale: str) -> None:
        headers = {"Idempotency-Key": uuid.uuid4().hex, **self.auth}
        with self.client.post(f"/sales/{sale}/queue", headers=headers, name=JOIN, catch_response=True) as response:
            code = response.status_code
            self._note_5xx(JOIN, code)
            if code in (200, 201):
                self.location = response.headers["Location"]
                response.success()
                self.pause = 0.0
            elif code == 409 and common.problem_slug(response) == "queue-ended":
                response.success()
                self.done = True
            else:
                response.failure(f"join: HTTP {code}")
                self.pause = 1.0

    def poll(self, sale: str) -> None:
        assert self.location is not None
        with self.client.get(self.location, headers=self.auth, name=POLL, catch_response=True) as response:
            code = response.status_code
            self._note_5xx(POLL, code)
            retry = float(response.headers.get("Retry-After", "1") or 1)
            self.pause = min(retry, MAX_WAIT_S)
            if code != 200:
                response.failure(f"poll: HTTP {code}")
                return
            response.success()
            place = response.json()
        if place["state"] == "admitted":
            self.purchase(sale, place["admission_token"])
        elif place["state"] in ENDED:
            self.done = True

    def purchase(self, sale: str, token: str) -> None:
        """One admitted purchase; a 503 keeps the key for the next round (as common.Buyer.buy does)."""
        retry = self.pending_key is not None
        key = self.pending_key or uuid.uuid4().hex
        tally = common.RUN.tally(sale)
        tried.add(self.buyer_id)
        headers = {"Content-Type": "application/json", "Idempotency-Key": key, "Admission-Token": token, **self.auth}
        body = b'{"quantity":1}'
        with self.client.post(
            f"/sales/{sale}/purchases", data=body, headers=headers, name=ADMITTED_PURCHASE, catch_response=True
        ) as response:
            code = response.status_code
            self._note_5xx(ADMITTED_PURCHASE, code)
            if code == 201:
                outcome = common.REPLAYED if response.headers.get("Idempotent-Replayed") == "true" else common.SOLD
                response.success()
                tally.sold += 1
            elif code == 409:
                outcome = common.problem_slug(response)
                if outcome in common.EXPECTED_REFUSALS:
                    response.success()
                else:
                    response.failure(f"409 {outcome}")
            elif code in (0, 503):
                outcome = common.UNKNOWN
                response.failure(f"outcome unknown (HTTP {code or 'no response'})")
            else:
                outcome = f"http-{code}"
                response.failure(f"unexpected HTTP {code}")
        if retry and outcome != common.UNKNOWN:
            tally.unknown -= 1
        if outcome == common.UNKNOWN:
            if not retry:
                tally.unknown += 1
            self.pending_key = key
            self.pause = 0.5
        else:
            self.pending_key = None
            self.done = True
            if outcome in SETTLED:
                settled.add(self.buyer_id)
        tally.count(outcome)
        gevent.sleep(0)


CAMPAIGN = common.Campaign("queue", Slo(error_ratio=0.001, p99_ms=1000), setup, verify, stock=100)
common.install(CAMPAIGN)
