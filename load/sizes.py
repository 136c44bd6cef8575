"""sizes: a sneaker drop of 12 sizes under two quotas (issue 26). It fails on an oversell of any size or quota, a
failed audit, a 201 the ledger does not hold as answered, any 5xx, or the p99/error-ratio SLO.

The sale: 12 sizes (us-4 .. us-15), --stock units spread evenly (default 240, 20 a size), an ``all-sizes`` quota
of 90 % of the stock and a ``big`` quota (us-13 .. us-15) of half those sizes' units; two pairs per buyer across
sizes. Demand is skewed: sizes us-9 and us-10 draw 40 % of the buyers, the other ten share the rest. A buyer tries
its size, and if that is sold out (the size or one of its quotas) a neighbouring size; one buyer in ten asks for
its size and the neighbour in one request (both or neither). Every user arrives at once and buys at most once; a
503 `overloaded` (the worker's in-flight budget refused it unread) is asked again after its Retry-After and
counted (`refused_early`); any other 503 (outcome unknown) is retried with the same Idempotency-Key.

End checks: the audit (every SKU's and quota's stock_added == remaining + held + sold + withdrawn, nothing
oversold, the SKUs add up to the sale); the units clients were told they bought, per SKU, against what the
server sold per SKU (unknown outcomes allowed for); and, when the run knows the Redis URL (the local stack of
``make load``, LOAD_LEDGER_REDIS_URL), every 201 against the ledger: an entry with its order id, buyer and lines,
and the ledger's lines per SKU adding up to the server's sold per SKU.
"""

from __future__ import annotations

import os
import random
import uuid
from collections import Counter
from typing import Any

import gevent
from locust import task
from locust.env import Environment

try:
    from load import common
    from load.checks import Slo, check_sale
except ModuleNotFoundError:  # the compose stack mounts ./load alone (at /mnt/load)
    import common  # type: ignore[no-redef]
    from checks import Slo, check_sale  # type: ignore[no-redef]

SIZES = tuple(f"us-{n}" for n in range(4, 16))
POPULAR = ("us-9", "us-10")
"""The two sizes that draw 40 % of the buyers."""
BIG = SIZES[-3:]
PAIR_SHARE = 0.1
"""Buyers who ask for their size and its neighbour in one request."""
PURCHASE = "POST /sales/[sale]/purchases (lines)"
LEDGER_URL_ENV = "LOAD_LEDGER_REDIS_URL"

answered: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {}
"""order id -> (buyer, lines) of every 201 a client got."""
client_units: Counter[str] = Counter()
"""Units per SKU the clients were told they bought."""
unknown_units: Counter[str] = Counter()
"""Units per SKU of attempts whose outcome is still unknown."""
OVERLOADED = "overloaded"
server_errors: list[str] = []
refused_early: list[float] = []
"""Retry-After of each 503 `overloaded`: the worker's in-flight budget refused the request before reading it
(nothing happened), so the buyer waits what it says and asks again; counted, not an error."""
rng = random.Random(26)


def weights() -> list[float]:
    others = (1 - 0.4) / (len(SIZES) - len(POPULAR))
    return [0.2 if s in POPULAR else others for s in SIZES]


def neighbour(size: str) -> str:
    i = SIZES.index(size)
    return SIZES[i + 1] if i + 1 < len(SIZES) else SIZES[i - 1]


def setup(run: common.Run, environment: Environment) -> None:
    assert run.api is not None
    for table in (answered, client_units, unknown_units):
        table.clear()
    server_errors.clear()
    refused_early.clear()
    units = common.stock(environment)
    per_size = max(1, units // len(SIZES))
    total = per_size * len(SIZES)
    quotas = [
        {"name": "all-sizes", "cap": total * 9 // 10, "skus": list(SIZES)},
        {"name": "big", "cap": per_size * len(BIG) // 2, "skus": list(BIG)},
    ]
    sale = f"sizes-{run.tag}"
    body: dict[str, Any] = {
        "sale_id": sale,
        "name": "sneaker drop",
        "per_buyer_limit": 2,
        "items": [{"sku": s, "stock": per_size} for s in SIZES],
        "quotas": quotas,
    }
    run.api._expect(*run.api.call("POST", "/admin/sales", body, admin=True), 201, f"create sale {sale}")
    run.sales["main"] = sale
    run.notes.update({"sizes": len(SIZES), "units_per_size": per_size, "quotas": {q["name"]: q["cap"] for q in quotas}})


def _ledger(sale: str) -> list[tuple[str, dict[str, str]]] | None:
    url = os.environ.get(LEDGER_URL_ENV)
    if not url:
        return None
    import redis

    from flashsale.inventory.keys import sale_keys

    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
    try:
        return list(client.xrange(sale_keys(sale).orders))
    finally:
        client.close()


def _lines(text: str) -> tuple[tuple[str, int], ...]:
    return tuple((s, int(q)) for s, _, q in (part.rpartition(":") for part in text.split(",") if part))


def verify(run: common.Run, environment: Environment) -> list[str]:
    assert run.api is not None
    sale = run.sales["main"]
    view = run.api.sale(sale)
    audit = run.api.audit(sale) if run.api.admin_token else None
    failures = check_sale("sizes", view, audit, run.tallies.get(sale))
    sold = {i["sku"]: i["sold"] for i in view["items"]}
    if audit is not None:
        for entry in (*audit.get("items", []), *audit.get("quotas", [])):
            if entry["oversold"] or not entry["balanced"]:
                failures.append(f"sizes: {entry['name']} oversold {entry['oversold']} or unbalanced: {entry}")
    for sku in SIZES:
        if not client_units[sku] <= sold[sku] <= client_units[sku] + unknown_units[sku]:
            failures.append(
                f"sizes: {sku} sold {sold[sku]} but clients were told {client_units[sku]} "
                f"(+ {unknown_units[sku]} unknown)"
            )
    if server_errors:
        kinds = ", ".join(f"{n} x {kind}" for kind, n in Counter(server_errors).most_common())
        failures.append(f"sizes: {len(server_errors)} 5xx answers to {PURCHASE}: {kinds}")
    ledger = _ledger(sale)
    checked = "not read (no LOAD_LEDGER_REDIS_URL)"
    if ledger is not None:
        entries = {entry_id: fields for entry_id, fields in ledger}
        wrong = [
            order_id
            for order_id, (buyer, lines) in answered.items()
            if order_id not in entries
            or entries[order_id].get("buyer") != buyer
            or _lines(entries[order_id].get("lines", "")) != lines
        ]
        if wrong:
            failures.append(f"sizes: {len(wrong)} orders answered 201 are not in the ledger as answered: {wrong[:3]}")
        in_ledger: Counter[str] = Counter()
        for fields in entries.values():
            in_ledger.update(dict(_lines(fields.get("lines", ""))))
        if {s: in_ledger[s] for s in SIZES} != sold:
            failures.append(f"sizes: the ledger's lines per SKU {dict(in_ledger)} differ from sold per SKU {sold}")
        checked = f"{len(answered)} of {len(entries)} entries answered 201, all as answered" if not wrong else "failed"
    quotas = {q["name"]: q["remaining"] for q in view.get("quotas", [])}
    run.notes.update(
        {
            "sold": view["sold"],
            "sold_per_size": sold,
            "remaining_per_size": {i["sku"]: i["remaining"] for i in view["items"]},
            "quota_remaining": quotas,
            "status": view["status"],
            "oversold": audit["oversold"] if audit else None,
            "orders_answered_201": len(answered),
            "pair_requests_sold": sum(1 for _, lines in answered.values() if len(lines) == 2),
            "ledger_check": checked,
            "refused_early": len(refused_early),
            "server_errors": len(server_errors),
            "server_errors_by_kind": dict(Counter(server_errors)),
        }
    )
    return failures


class SizeBuyer(common.Buyer):
    def on_start(self) -> None:
        super().on_start()
        size = rng.choices(SIZES, weights())[0]
        pair = rng.random() < PAIR_SHARE
        self.attempts: list[tuple[tuple[str, int], ...]] = (
            [((size, 1), (neighbour(size), 1))] if pair else [((size, 1),), ((neighbour(size), 1),)]
        )
        self.done = False

    def wait_time(self) -> float:
        return 1.0 if self.done else 0.0

    @task
    def step(self) -> None:
        sale = common.RUN.sale()
        if sale is None or self.done or not self.attempts:
            self.done = True
            return
        outcome = self.buy_lines(sale, self.attempts[0])
        if outcome in (common.SOLD, common.REPLAYED, "limit-reached", "sale-closed"):
            self.done = True
        elif outcome == OVERLOADED:  # refused before it was read: the same request after Retry-After
            gevent.sleep(refused_early[-1])
        elif outcome != common.UNKNOWN:  # sold out (the size or a quota): the next size
            self.attempts.pop(0)
        gevent.sleep(0)

    def buy_lines(self, sale: str, lines: tuple[tuple[str, int], ...]) -> str:
        retry = self.pending_key is not None
        key = self.pending_key or uuid.uuid4().hex
        tally = common.RUN.tally(sale)
        units = sum(q for _, q in lines)
        body = {"lines": [{"sku": s, "quantity": q} for s, q in lines]}
        headers = {"Content-Type": "application/json", "Idempotency-Key": key, **self.auth}
        with self.client.post(
            f"/sales/{sale}/purchases", json=body, headers=headers, name=PURCHASE, catch_response=True
        ) as response:
            code = response.status_code
            overloaded = code == 503 and common.problem_slug(response) == OVERLOADED
            if code >= 500 and not overloaded:
                server_errors.append(f"HTTP {code} {common.problem_slug(response)}")
            if code == 201:
                order = response.json()
                replayed = response.headers.get("Idempotent-Replayed") == "true"
                outcome = common.REPLAYED if replayed else common.SOLD
                got = tuple((line["sku"], line["quantity"]) for line in order.get("lines", []))
                if got != lines or (replayed and not retry):
                    response.failure(f"201 with lines {got} for {lines} (replayed {replayed}, retry {retry})")
                else:
                    response.success()
                answered[order["order_id"]] = (self.buyer_id, got)
                tally.sold += units
                client_units.update(dict(lines))
            elif code == 409:
                outcome = common.problem_slug(response)
                if outcome in common.EXPECTED_REFUSALS:
                    response.success()
                else:
                    response.failure(f"409 {outcome}")
            elif overloaded:
                outcome = OVERLOADED
                refused_early.append(min(5.0, float(response.headers.get("Retry-After", "1") or 1)))
                response.success()
            elif code in (0, 503):
                outcome = common.UNKNOWN
                response.failure(f"outcome unknown (HTTP {code or 'no response'})")
            else:
                outcome = f"http-{code}"
                response.failure(f"unexpected HTTP {code}")
        if outcome == OVERLOADED:  # nothing happened: a pending key stays pending, a new one is not kept
            return outcome
        if retry and outcome != common.UNKNOWN:
            tally.unknown -= units
            unknown_units.subtract(dict(lines))
        if outcome == common.UNKNOWN:
            if not retry:
                tally.unknown += units
                unknown_units.update(dict(lines))
            self.pending_key = key
        else:
            self.pending_key = None
        tally.count(outcome)
        return outcome


CAMPAIGN = common.Campaign("sizes", Slo(error_ratio=0.001, p99_ms=1000), setup, verify, stock=240)
common.install(CAMPAIGN)
