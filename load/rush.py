"""rush: a spike of buyers when a sale of K units opens. It fails unless exactly K units were sold.

Timeline (fitted into --run-time, peaking at --users):
  0 .. 3 s   a tenth of the users (the early birds) poll the sale and press buy: 409 sale-not-open
  3 s        the sale opens (opens_at = test start + 3 s, judged by the Redis server's clock) and every
             other user arrives at once (spawned within about 0.2 s)
  .. end     buyers press until they hold their per-buyer limit or the stock is gone, then refresh the page
The per-buyer limit is chosen so that demand is at least twice the stock: the sale must sell out.
End check: GET /sales/{id} shows sold == K (remaining 0), the admin audit holds (nothing oversold, stock and
ledger balance), and the units the clients were told they bought equal what the server sold.
"""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, datetime, timedelta

import gevent
from locust import LoadTestShape, task
from locust.env import Environment

from flashsale.timefmt import format_instant

try:
    from load import common
    from load.checks import Slo, check_sale
except ModuleNotFoundError:  # the compose stack mounts ./load alone (at /mnt/load)
    import common  # type: ignore[no-redef]
    from checks import Slo, check_sale  # type: ignore[no-redef]

LEAD_S = 3.0
DEFAULT_USERS = 300
DEFAULT_RUN_TIME_S = 20.0
STOP_MARGIN_S = 0.5
DONE = frozenset({"sold-out", "limit-reached", "sale-closed"})


def _users(environment: Environment) -> int:
    return max(1, int(common.option(environment, "num_users", DEFAULT_USERS)))


def setup(run: common.Run, environment: Environment) -> None:
    assert run.api is not None
    units = common.stock(environment)
    limit = max(2, math.ceil(2 * units / _users(environment)))
    opens = datetime.now(UTC) + timedelta(seconds=LEAD_S)
    sale = f"rush-{run.tag}"
    run.api.create_sale(sale, units, per_buyer_limit=limit, opens_at=format_instant(opens), name="rush")
    run.sales["main"] = sale
    run.notes.update({"stock": units, "per_buyer_limit": limit, "opens_at": format_instant(opens)})
    run.notes["_opens_epoch"] = opens.timestamp()


def verify(run: common.Run, environment: Environment) -> list[str]:
    assert run.api is not None
    sale = run.sales["main"]
    view = run.api.sale(sale)
    audit = run.api.audit(sale) if run.api.admin_token else None
    units = int(run.notes["stock"])
    run.notes.update(
        {"sold": view["sold"], "remaining": view["remaining"], "oversold": audit["oversold"] if audit else None}
    )
    run.notes.pop("_opens_epoch", None)
    return check_sale("rush", view, audit, run.tallies.get(sale), expected_sold=units)


class RushBuyer(common.Buyer):
    def on_start(self) -> None:
        super().on_start()
        self.done = False

    def wait_time(self) -> float:
        return random.uniform(0.5, 1.5) if self.done else random.uniform(0.02, 0.2)

    @task
    def press(self) -> None:
        sale = common.RUN.sale()
        if sale is None:
            gevent.sleep(0.2)
            return
        if self.done:
            self.read_sale(sale)
            return
        outcome = self.buy(sale)
        if outcome == "sold-out" and "sold_out_after_s" not in common.RUN.notes:
            opened = float(common.RUN.notes.get("_opens_epoch", time.time()))
            common.RUN.notes["sold_out_after_s"] = round(time.time() - opened, 2)
        if outcome in DONE:
            self.done = True


class RushShape(LoadTestShape):
    """Early birds before the opening, then every user at once; stops just before --run-time."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        environment = self.runner.environment
        users = _users(environment)
        run_time = float(common.option(environment, "run_time", DEFAULT_RUN_TIME_S))
        now = self.get_run_time()
        if now >= run_time - STOP_MARGIN_S:
            return None
        if now < LEAD_S:
            return max(1, users // 10), float(users)
        return users, float(users * 5)


CAMPAIGN = common.Campaign("rush", Slo(error_ratio=0.001, p99_ms=1000), setup, verify, stock=500)
common.install(CAMPAIGN)
