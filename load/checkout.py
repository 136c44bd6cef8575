"""checkout: buyers hold a unit, pay, then confirm; some abandon their hold, some confirm too late.

One sale of K units (--stock, default 300) with a short hold TTL (TTL_S). Every buyer loops:
  hold 1 unit (Idempotency-Key, retried with the same key after a 503), then one fate, dealt in turn:
    70 %  confirm within the TTL (after 0-0.5 s of "payment")
    10 %  release it (DELETE)
    10 %  abandon it: never come back; the unit must go back on sale when the hold expires
    10 %  confirm late: wait until the hold expired (by the server's clock), then confirm: must be a 410
  and on 409 sold-out, try again a little later (abandoned units come back).
In the last TTL_S + 4 s of the run every fate is "confirm within the TTL", so the abandoned units are resold
before it ends, and no hold is made in the last second.

End checks (all must hold):
  * sold == units of the holds the clients confirmed (within the outcomes they never learnt: 503s);
  * every abandoned unit was sold to someone else: remaining == held == 0 and sold == K, apart from holds a
    client still had in hand when the run stopped; every abandoned hold reads back ``expired``;
  * no late confirm succeeded (and at least one was tried, and at least one hold was abandoned);
  * the audit holds: stock and ledger balance, hold counts balance, nothing oversold.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import datetime
from typing import Any

import gevent
from locust import task
from locust.env import Environment

try:
    from load import common
    from load.checks import Checkout, Slo, judge_checkout
except ModuleNotFoundError:  # the compose stack mounts ./load alone (at /mnt/load)
    import common  # type: ignore[no-redef]
    from checks import Checkout, Slo, judge_checkout  # type: ignore[no-redef]

TTL_S = 2
FATES = ("confirm", "late", "confirm", "release", "confirm", "abandon", "confirm", "confirm", "confirm", "confirm")
"""The fate of the n-th hold is FATES[n % 10]: 70 % confirmed in time, 10 % each released, abandoned and confirmed
late, dealt in turn (not drawn) so that even a short run has some of each."""
HOLD = "POST /sales/[sale]/holds"
CONFIRM = "POST /sales/[sale]/holds/[hold]/confirm"
RELEASE = "DELETE /sales/[sale]/holds/[hold]"
READ_HOLD = "GET /sales/[sale]/holds/[hold]"
RETRIES = 3
CHECKED_HOLDS = 200
"""At most this many abandoned and late holds are read back at the end (bounded end check)."""


STATE = Checkout()
HOLDERS: dict[str, str] = {}
"""hold id -> its buyer, for the abandoned and late holds read back at the end (a hold answers its buyer only)."""


def setup(run: common.Run, environment: Environment) -> None:
    global STATE
    assert run.api is not None
    STATE = Checkout()
    HOLDERS.clear()
    units = common.stock(environment)
    sale = f"checkout-{run.tag}"
    status, body = run.api.call(
        "POST", "/admin/sales", {"sale_id": sale, "name": "checkout", "stock": units, "hold_ttl_s": TTL_S}, admin=True
    )
    if status != 201:
        raise common.AdminError(f"create sale {sale}: HTTP {status}: {body}")
    run.sales["main"] = sale
    run.notes.update({"stock": units, "hold_ttl_s": TTL_S})
    run.notes["_ends_epoch"] = time.time() + float(common.option(environment, "run_time", 30))


def verify(run: common.Run, environment: Environment) -> list[str]:
    assert run.api is not None
    sale = run.sales["main"]
    units = int(run.notes["stock"])
    # Holds of buyers stopped mid-checkout expire within the TTL: wait for them (bounded), then judge.
    deadline = time.monotonic() + TTL_S + 3
    view = run.api.sale(sale)
    while view["held"] and time.monotonic() < deadline:
        gevent.sleep(0.2)
        view = run.api.sale(sale)
    audit = run.api.audit(sale) if run.api.admin_token else None
    s = STATE
    sold = int(view["sold"])
    states = {}
    for hold_id in (s.abandoned + s.late)[:CHECKED_HOLDS]:
        holder = run.buyer_header(HOLDERS[hold_id])
        status, answer = run.api.call("GET", f"/sales/{sale}/holds/{hold_id}", headers=holder)
        states[hold_id] = answer.get("state") if status == 200 and isinstance(answer, dict) else f"HTTP {status}"
    failures = judge_checkout(s, units, view, audit, states)
    run.notes.pop("_ends_epoch", None)
    run.notes.update(
        {
            "sold": sold,
            "remaining": view["remaining"],
            "held": view["held"],
            "oversold": audit["oversold"] if audit else None,
            "confirmed_units": s.confirmed_units,
            "abandoned": len(s.abandoned),
            "released": s.released,
            "late_confirms": len(s.late),
            "late_confirms_won": s.late_won,
            "late_confirms_410": s.late_expired,
            "prompt_confirms_410": s.prompt_expired,
            "unknown": s.unknown,
            "stranded": s.stranded,
            "holds": audit["holds"] if audit else None,
            "client_outcomes": s.outcomes,
        }
    )
    return failures


def _server_ms(text: str) -> float:
    return datetime.fromisoformat(text).timestamp() * 1000


class CheckoutBuyer(common.Buyer):
    def on_start(self) -> None:
        super().on_start()
        self.sold_out = False

    def wait_time(self) -> float:
        return random.uniform(0.1, 0.3) if self.sold_out else random.uniform(0.0, 0.05)

    def _send(
        self,
        method: str,
        path: str,
        name: str,
        body: bytes | None,
        headers: dict[str, str],
        expected: dict[int, set[str] | None],
    ) -> tuple[int, Any]:
        """One request, retried (same request, so same key) after a 503 or no answer; returns (status, json).

        ``expected``: status -> the problem types that are a normal answer (None: any body)."""
        status, payload = 0, None
        for _ in range(RETRIES):
            with self.client.request(
                method, path, data=body, headers=headers, name=name, catch_response=True
            ) as response:
                status = response.status_code
                try:
                    payload = response.json() if response.content else None
                except ValueError:
                    payload = None
                kind = common.problem_slug(response) if status >= 400 else ""
                allowed = expected.get(status, set())
                if status in expected and (allowed is None or kind in allowed):
                    response.success()
                elif status in (0, 503):
                    response.failure(f"outcome unknown (HTTP {status or 'no response'})")
                else:
                    response.failure(f"unexpected HTTP {status} {kind}")
            if status not in (0, 503):
                return status, payload
        return status, payload

    @task
    def checkout(self) -> None:
        sale = common.RUN.sale()
        ends = float(common.RUN.notes.get("_ends_epoch", 0))
        if sale is None or time.time() > ends - 1:
            gevent.sleep(0.2)
            return
        body = b'{"quantity":1}'
        headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex, **self.auth}
        status, hold = self._send("POST", f"/sales/{sale}/holds", HOLD, body, headers, {201: None, 409: {"sold-out"}})
        self.sold_out = status == 409
        if status != 201:
            STATE.count("hold-sold-out" if status == 409 else f"hold-http-{status}")
            if status in (0, 503):
                STATE.unknown += 1
            return
        STATE.count("held")
        received_ms = time.time() * 1000
        # The server's clock against ours: the hold was made at expires_at - TTL by the server's clock.
        skew_ms = _server_ms(hold["expires_at"]) - TTL_S * 1000 - received_ms
        STATE.dealt += 1
        fate = "confirm" if time.time() > ends - TTL_S - 4 else FATES[STATE.dealt % len(FATES)]
        hold_id = hold["hold_id"]
        path = f"/sales/{sale}/holds/{hold_id}"
        try:
            if fate in ("abandon", "late"):
                HOLDERS[hold_id] = self.buyer_id
            if fate == "abandon":
                STATE.abandoned.append(hold_id)
                STATE.count("abandoned")
                return
            if fate == "release":
                status, _ = self._send("DELETE", path, RELEASE, None, self.auth, {204: None})
                STATE.released += status == 204
                STATE.count(f"release-{status}")
                return
            if fate == "late":
                wait_s = (_server_ms(hold["expires_at"]) - skew_ms) / 1000 - time.time() + 0.3
                gevent.sleep(max(0.0, wait_s))
                STATE.late.append(hold_id)
            else:
                gevent.sleep(random.uniform(0.0, 0.5))
            expected: dict[int, set[str] | None] = {201: None, 410: {"hold-expired"}}
            status, order = self._send("POST", path + "/confirm", CONFIRM, None, self.auth, expected)
            STATE.count(f"{fate}-{status}")
            if status == 201:
                STATE.confirmed_units += int(order["quantity"])
                if fate == "late":
                    STATE.late_won += 1
            elif status == 410:
                if fate == "late":
                    STATE.late_expired += 1
                else:
                    STATE.prompt_expired += 1
            elif status in (0, 503):
                STATE.unknown += 1
        except gevent.GreenletExit:
            STATE.stranded += 1
            raise


CAMPAIGN = common.Campaign("checkout", Slo(error_ratio=0.001, p99_ms=1000), setup, verify, stock=300)
common.install(CAMPAIGN)
