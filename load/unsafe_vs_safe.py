"""unsafe-vs-safe: the same rush on the atomic purchase route and on the demo's read-modify-write route.

Two sales of K units each (--stock, default 100, no per-buyer limit). Half of the users buy on
/sales/{id}/purchases (one Lua script), the other half on /demo/sales/{id}/purchases (read the stock,
await, write it back: mounted only with FLASHSALE_DEMO=true). Everyone presses until the run ends.
End check: the atomic route sold exactly K and its audit holds. The unsafe route's sales and oversell are
counted and reported (that is the demo's point), not judged: how much it oversells depends on timing.
The SLOs judge the atomic route only: the demo route makes five round trips under the same 250 ms Redis
deadline and answers 503 when the box is saturated, which is not what this campaign measures.
"""

from __future__ import annotations

import random

import gevent
from locust import task
from locust.env import Environment

try:
    from load import common
    from load.checks import AdminError, Slo, check_sale
except ModuleNotFoundError:  # the compose stack mounts ./load alone (at /mnt/load)
    import common  # type: ignore[no-redef]
    from checks import AdminError, Slo, check_sale  # type: ignore[no-redef]


def setup(run: common.Run, environment: Environment) -> None:
    assert run.api is not None
    # The probe signs in as the run's first buyer: without a token every buyer route answers 401.
    probe = run.buyer_header(run.listed[0])
    status, body = run.api.call("POST", "/demo/sales/no-such-sale/purchases", {"quantity": 1}, headers=probe)
    if status != 404 or not str((body or {}).get("type", "")).endswith("unknown-sale"):
        raise AdminError("the target has no demo route: start it with FLASHSALE_DEMO=true")
    units = common.stock(environment)
    for role in ("safe", "unsafe"):
        sale = f"{role}-{run.tag}"
        run.api.create_sale(sale, units, name=f"{role} path")
        run.sales[role] = sale


def verify(run: common.Run, environment: Environment) -> list[str]:
    assert run.api is not None
    units = common.stock(environment)
    failures: list[str] = []
    for role, sale in run.sales.items():
        view = run.api.sale(sale)
        audit = run.api.audit(sale) if run.api.admin_token else None
        unsafe = role == "unsafe"
        failures += check_sale(
            role, view, audit, run.tallies.get(sale), expected_sold=None if unsafe else units, oversell_allowed=unsafe
        )
        run.notes[f"{role}: sold / stock"] = f"{view['sold']} / {units}"
        run.notes[f"{role}: oversold units"] = audit["oversold"] if audit else max(0, view["sold"] - units)
    return failures


class _Presser(common.Buyer):
    abstract = True
    role = "safe"

    def wait_time(self) -> float:
        return random.uniform(0.01, 0.1)

    @task
    def press(self) -> None:
        sale = common.RUN.sale(self.role)
        if sale is None:
            gevent.sleep(0.2)
            return
        self.buy(sale, unsafe=self.role == "unsafe")


class SafeBuyer(_Presser):
    role = "safe"


class UnsafeBuyer(_Presser):
    role = "unsafe"


CAMPAIGN = common.Campaign(
    "unsafe-vs-safe", Slo(error_ratio=0.001, p99_ms=500), setup, verify, stock=100, judged=(common.PURCHASE,)
)
common.install(CAMPAIGN)
