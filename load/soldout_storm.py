"""soldout-storm: everyone keeps pressing after the stock is gone.

A sale of K units (--stock, default 50, one per buyer) meets every user (default 200) at once; each presses
buy every 10-50 ms for the whole run, whatever the answer. Half-way through, the operator restocks K/2 units
through the admin API: the sold-out memo of the workers must not hide them (it is cleared on restock and
lasts at most FLASHSALE_SOLDOUT_CACHE_MS elsewhere), so those units sell too.
End check: exactly K + K/2 units sold, the audit holds, and the clients were told about every unit sold.
The report also gives the sold-out answer rate and how fast the restocked units went.
"""

from __future__ import annotations

import random
import time

import gevent
from locust import task
from locust.env import Environment

try:
    from load import common
    from load.checks import AdminError, Slo, check_sale
except ModuleNotFoundError:  # the compose stack mounts ./load alone (at /mnt/load)
    import common  # type: ignore[no-redef]
    from checks import AdminError, Slo, check_sale  # type: ignore[no-redef]

DEFAULT_RUN_TIME_S = 20.0


def _restock_units(environment: Environment) -> int:
    return max(1, common.stock(environment) // 2)


def setup(run: common.Run, environment: Environment) -> None:
    assert run.api is not None
    sale = f"storm-{run.tag}"
    run.api.create_sale(sale, common.stock(environment), per_buyer_limit=1, name="soldout storm")
    run.sales["main"] = sale
    run_time = float(common.option(environment, "run_time", DEFAULT_RUN_TIME_S))
    api, units = run.api, _restock_units(environment)

    def restock() -> None:
        try:
            api.restock(sale, units)
        except AdminError as exc:
            run.notes["restock_error"] = str(exc)
            return
        run.notes["restocked_units"] = units
        run.notes["_restocked_at"] = time.time()

    gevent.spawn_later(run_time / 2, restock)


def verify(run: common.Run, environment: Environment) -> list[str]:
    assert run.api is not None
    sale = run.sales["main"]
    view = run.api.sale(sale)
    audit = run.api.audit(sale) if run.api.admin_token else None
    restocked = int(run.notes.get("restocked_units", 0))
    failures = check_sale(
        "storm", view, audit, run.tallies.get(sale), expected_sold=common.stock(environment) + restocked
    )
    if "restock_error" in run.notes or not restocked:
        failures.append(f"the restock did not happen: {run.notes.get('restock_error', 'run too short')}")
    tally = run.tallies.get(sale)
    refusals = tally.outcomes.get("sold-out", 0) if tally else 0
    elapsed = max(time.time() - run.started, 1e-9)
    run.notes.update(
        {"sold": view["sold"], "sold_out_answers": refusals, "sold_out_answers_per_s": round(refusals / elapsed, 1)}
    )
    run.notes.pop("_restocked_at", None)
    return failures


class StormBuyer(common.Buyer):
    def wait_time(self) -> float:
        return random.uniform(0.01, 0.05)

    @task
    def press(self) -> None:
        sale = common.RUN.sale()
        if sale is None:
            gevent.sleep(0.2)
            return
        outcome = self.buy(sale)
        restocked_at = common.RUN.notes.get("_restocked_at")
        if outcome == "sold-out" and restocked_at and "restock_sold_out_after_s" not in common.RUN.notes:
            common.RUN.notes["restock_sold_out_after_s"] = round(time.time() - float(restocked_at), 3)


CAMPAIGN = common.Campaign("soldout-storm", Slo(error_ratio=0.001, p99_ms=500), setup, verify, stock=50)
common.install(CAMPAIGN)
