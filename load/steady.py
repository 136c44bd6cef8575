"""steady: a steady mix of reads and purchases over several sales.

Four sales: three large ones (a million units, per-buyer limit 5) that never run out, and a small one
(--stock, default 100) that sells out during the run, so sold-out answers are part of the mix. Every user
keeps a steady pace of about 4 tasks per second (random pauses of 0.1-0.4 s): 60 % reads of a sale page,
35 % purchases (a user buys as one of its 3 buyer accounts, each signed in with its own token, so per-buyer
limits are reached too), 5 %
retries of the user's last order with its Idempotency-Key, which must come back as a replay of that order
and never buy again.
End check, for every sale: the server sold exactly what the clients were told they bought (give or take the
unknown outcomes of 503s), the audit holds, and once a client was told the small sale is sold out, it sold
exactly its stock.
"""

from __future__ import annotations

import random

import gevent
from locust import between, task
from locust.env import Environment

try:
    from load import common
    from load.checks import Slo, check_sale
except ModuleNotFoundError:  # the compose stack mounts ./load alone (at /mnt/load)
    import common  # type: ignore[no-redef]
    from checks import Slo, check_sale  # type: ignore[no-redef]

LARGE_SALES = 3
LARGE_STOCK = 1_000_000
LIMIT = 5
IDENTITIES = 3


def setup(run: common.Run, environment: Environment) -> None:
    assert run.api is not None
    for n in range(1, LARGE_SALES + 1):
        sale = f"steady-{run.tag}-{n}"
        run.api.create_sale(sale, LARGE_STOCK, per_buyer_limit=LIMIT, name=f"steady {n}")
        run.sales[f"large-{n}"] = sale
    small = f"steady-{run.tag}-small"
    run.api.create_sale(small, common.stock(environment), per_buyer_limit=LIMIT, name="steady small")
    run.sales["small"] = small


def verify(run: common.Run, environment: Environment) -> list[str]:
    assert run.api is not None
    failures: list[str] = []
    sold = {}
    for role, sale in run.sales.items():
        view = run.api.sale(sale)
        audit = run.api.audit(sale) if run.api.admin_token else None
        tally = run.tallies.get(sale)
        # Once a client heard "sold out", the small sale must have sold exactly its stock: none left, none over.
        saw_sold_out = tally is not None and tally.outcomes.get("sold-out", 0) > 0
        expected = common.stock(environment) if role == "small" and saw_sold_out else None
        failures += check_sale(role, view, audit, tally, expected_sold=expected)
        sold[role] = view["sold"]
    run.notes["sold"] = sold
    return failures


class Shopper(common.Buyer):
    wait_time = between(0.1, 0.4)  # about 4 tasks a second, at random moments (no synchronised bursts)

    def on_start(self) -> None:
        super().on_start()
        self.identities = [self.buyer_id, *(common.RUN.next_buyer() for _ in range(IDENTITIES - 1))]

    def _sale(self) -> str | None:
        sales = list(common.RUN.sales.values())
        if not sales:
            gevent.sleep(0.2)
            return None
        return random.choice(sales)

    @task(12)
    def browse(self) -> None:
        sale = self._sale()
        if sale:
            self.read_sale(sale)

    @task(7)
    def purchase(self) -> None:
        sale = self._sale()
        if sale:
            self.buyer_id = random.choice(self.identities)
            self.buy(sale)

    @task(1)
    def retry_last_order(self) -> None:
        self.replay_last()


CAMPAIGN = common.Campaign(
    "steady", Slo(error_ratio=0.001, p99_ms=50), setup, verify, stock=100, buyers_per_user=IDENTITIES
)
common.install(CAMPAIGN)
