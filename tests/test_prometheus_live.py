"""A real Prometheus server scraping real API replicas: the repository's rules, alert and dashboard queries, live.

One module-scoped stack on free loopback ports: a redis-server, two API replicas (``flashsale serve`` with two
uvicorn workers each, so metrics are aggregated across processes through PROMETHEUS_MULTIPROC_DIR), a
``redis_exporter`` (Debian package), a PostgreSQL server with ``flashsale export`` moving the orders into it (its own
/metrics, job ``exporter``), and ``/usr/bin/prometheus`` (Debian package ``prometheus``; the module is skipped
without it) running a configuration derived from ``observability/prometheus/prometheus.yml`` (same job names)
with the repository's ``rules/*.yml``, scraping and evaluating every second. Every process is stopped by PID.

The tests then attack the API with ``flashsale.attack.run_path`` and read everything back through
Prometheus' HTTP API:

1. after a safe attack, the scraped counters and gauges equal the audit route's figures, and the
   ``FlashSaleOversold`` alert has been evaluated on that data and is not firing;
2. after an unsafe attack (which oversells), the alert fires for that sale only, with the audit's oversold
   units as its value;
3. after both attacks, a short Redis pause (503s), a few late clicks, a sale of two sizes and a small checkout
   (holds confirmed, released and left to expire), every panel query of the dashboard and its ``sale`` variable
   query return data, except the panels listed in NO_DATA_HERE (metrics of processes this stack does not run;
   each with its reason). Those queries still run: one Prometheus rejects fails the test.

No fixed sleeps: every wait polls for a condition, bounded by WAIT_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from flashsale.attack import PURCHASE_ROUTE, run_path
from flashsale.embedded import free_port
from flashsale.local import LocalServer
from tests.conftest import start_api
from tests.export_tools import ExporterProcess
from tests.postgres import PostgresProcess
from tests.servers import RedisProcess

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
OBS = ROOT / "observability"
DASHBOARD = OBS / "grafana" / "dashboards" / "flash-sale.json"
REDIS_EXPORTER = "/usr/bin/prometheus-redis-exporter"  # Debian package prometheus-redis-exporter (make test)

API_JOB = "flashsale-api"  # the job name alerts.yml and the dashboard use (up{job="flashsale-api"})
REDIS_JOB = "redis"
EXPORT_JOB = "exporter"
SELF_JOB = "prometheus"
REPLICAS = 2
WORKERS = 2
BUYERS = 200
STOCK = 20
UNSAFE_TRIES = 3  # the unsafe path oversells under a 200-buyer burst, but it is a race: bounded retries
LATE_CLICKS = 10  # purchases on each attacked sale per wave after the drop (see Stack.late_clicks)
LATE_WAVES = 8  # bounded: each wave is a scrape interval or two; most runs need 1-2
FAULT_REQUESTS = 20
CHECKOUT_HOLDS = 4  # one confirmed, one released, the rest left to expire (hold_ttl_s = 1)
WAIT_S = 90.0  # bound on every wait for Prometheus (scrapes and rule evaluations run every second)
ALERT = "FlashSaleOversold"
REDIS_MAXMEMORY = 256 * 1024 * 1024  # as docker-compose.yml runs it, so the memory panel has a limit to show

# Dashboard panels allowed to be empty here, with the reason. Only "no data" is excused: their queries still
# run, and a panel whose metric does appear is checked like any other. Every title must exist (no stale entry).
# Empty today: the stack runs every process the dashboard reads (API, redis_exporter, the order exporter with
# PostgreSQL) and drives purchases, a Redis pause, holds and exports. A panel for a process or feature this
# test cannot run goes here, with the reason, instead of being silently skipped.
NO_DATA_HERE: dict[str, str] = {}

T = TypeVar("T")


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


live = load("live_prometheus", OBS / "testing" / "live_prometheus.py")
dashboard_check = load("dashboard_check", OBS / "grafana" / "dashboard_check.py")


def wait_until(probe: Callable[[], T], what: str, timeout_s: float = WAIT_S, every_s: float = 0.2) -> T:
    """Poll ``probe`` until it returns something truthy; AssertionError (with the last answer) at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout_s:.0f} s for {what}; last answer: {last!r}")
        time.sleep(every_s)


def rfc3339(text: str) -> float:
    """Prometheus' RFC 3339 timestamps (nanosecond fractions, ``Z``) as Unix seconds."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    assert match, f"not an RFC 3339 timestamp: {text!r}"
    zone = "+00:00" if match[3] == "Z" else match[3]
    return datetime.fromisoformat(match[1] + (match[2] or ".0")[:7] + zone).timestamp()


def samples(data: dict[str, Any]) -> list[float]:
    """Every sample value of an instant-query answer (vector, matrix or scalar)."""
    kind, result = data["resultType"], data["result"]
    if kind == "vector":
        return [float(s["value"][1]) for s in result]
    if kind == "matrix":
        return [float(v[1]) for s in result for v in s["values"]]
    if kind == "scalar":
        return [float(result[1])]
    return []


def by(label: str, vector: dict[frozenset[tuple[str, str]], float]) -> dict[str, float]:
    return {dict(labels)[label]: value for labels, value in vector.items()}


def one(vector: dict[frozenset[tuple[str, str]], float]) -> float:
    assert len(vector) == 1, vector
    return next(iter(vector.values()))


def stop_pid(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def start_redis_exporter(redis_port: int, folder: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """The real redis_exporter (``make test`` installs it); (process, address, its name)."""
    port = free_port()
    assert os.access(REDIS_EXPORTER, os.X_OK), (
        f"{REDIS_EXPORTER} missing: `make test` installs it (Debian package prometheus-redis-exporter)"
    )
    command = [
        REDIS_EXPORTER,
        f"--redis.addr=redis://127.0.0.1:{redis_port}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    which = "redis_exporter"
    with open(folder / "redis-exporter.log", "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"

    def serving() -> bool:
        assert process.poll() is None, f"{which} exited with {process.returncode}"
        with contextlib.suppress(httpx.HTTPError):
            return "redis_up" in httpx.get(f"http://{address}/metrics", timeout=1.0).text
        return False

    try:
        wait_until(serving, f"{which} on {address}", timeout_s=20)
    except BaseException:
        stop_pid(process)
        raise
    return process, address, which


@dataclass
class Stack:
    prom: Any  # live_prometheus.PrometheusServer
    redis: RedisProcess
    replicas: list[LocalServer]
    exporter: str
    order_exporter: ExporterProcess
    attacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    fault_sale: str = ""
    checkout_sale: str = ""
    queue_sale: str = ""
    sizes_sale: str = ""
    clicked_late: bool = False
    last_activity: float = 0.0

    def replica_for(self, path: str) -> LocalServer:
        """Safe attacks go to the first replica, unsafe ones to the second: both are scraped and summed."""
        return self.replicas[0] if path == "safe" else self.replicas[-1]

    def audit(self, sale: str) -> dict[str, Any]:
        server = self.replicas[0]
        r = httpx.get(
            f"{server.url}/admin/sales/{sale}/audit",
            headers={"Authorization": f"Bearer {server.admin_token}"},
            timeout=10.0,
        )
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def attack(self, path: str) -> dict[str, Any]:
        """``flashsale attack`` on one path, once per module (later calls return the same result)."""
        if path not in self.attacks:
            server = self.replica_for(path)
            for _ in range(UNSAFE_TRIES):
                before = unavailable_without_sale(server, path)
                result = asyncio.run(run_path(server.url, path, BUYERS, STOCK, server.admin_token, server.token))
                self.last_activity = result["ended"] = time.time()
                result["unavailable_without_sale"] = unavailable_without_sale(server, path) - before
                if path == "safe" or result["oversold"] > 0:
                    break
            result["path"] = path
            result["statuses"] = Counter(result["statuses"])
            self.attacks[path] = result
        return self.attacks[path]

    def settle(self) -> float:
        """Wait until every API replica has been scraped (successfully) since the last request sent.

        Returns the time of the oldest of those scrapes.
        """
        since = self.last_activity

        def scraped() -> float:
            # timestamp() of a bare selector is the scrape time; of any other expression, the query time.
            stamps = self.prom.vector(f'timestamp(up{{job="{API_JOB}"}})')
            up = self.prom.vector(f'up{{job="{API_JOB}"}}')
            ok = len(stamps) == REPLICAS and min(stamps.values()) > since and set(up.values()) == {1.0}
            return min(stamps.values()) if ok else 0.0

        return wait_until(scraped, f"a scrape of every replica after {since:.3f}")

    def all_rules_evaluated_after(self, moment: float) -> None:
        def evaluated() -> bool:
            groups = self.prom.api("rules")["groups"]
            return bool(groups) and all(rfc3339(g["lastEvaluation"]) > moment for g in groups)

        wait_until(evaluated, f"an evaluation of every rule group after {moment:.3f}")

    def evaluated_after(self, rule: str, moment: float) -> dict[str, Any]:
        """Wait until ``rule`` has been evaluated after ``moment`` (Unix seconds); its /api/v1/rules entry."""

        def evaluated() -> dict[str, Any]:
            found: dict[str, Any] = self.prom.rule(rule)
            return found if rfc3339(found["lastEvaluation"]) > moment else {}

        return wait_until(evaluated, f"an evaluation of {rule} after {moment:.3f}")

    def oversold_alerts(self) -> list[dict[str, Any]]:
        return [a for a in self.prom.alerts() if a["labels"].get("alertname") == ALERT]

    def fault(self) -> None:
        """Pause Redis writes while buyers try a fresh sale: 503s, outcome ``unavailable``, Redis timeouts."""
        if self.fault_sale:
            return
        server = self.replicas[0]
        sale = f"fault-{uuid.uuid4().hex[:10]}"
        created = httpx.post(
            f"{server.url}/admin/sales",
            json={"sale_id": sale, "name": "fault", "stock": 5},
            headers={"Authorization": f"Bearer {server.admin_token}"},
            timeout=10.0,
        )
        assert created.status_code == 201, created.text
        admin = redis.Redis(port=self.redis.port)
        admin.client_pause(3000, all=False)  # CLIENT PAUSE 3000 WRITE
        try:
            statuses = asyncio.run(buy_all(server, sale, FAULT_REQUESTS))
        finally:
            admin.client_unpause()
            admin.close()
        self.last_activity = time.time()
        assert statuses["503"] > 0, f"precondition: a Redis pause must give 503s, got {statuses}"
        for replica in self.replicas:
            wait_until(partial(ready, replica), f"{replica.url} ready again", timeout_s=20)
        self.fault_sale = sale

    def queue(self) -> None:
        """A sale with a waiting room: 20 buyers join, the controller admits 3 at a time (nobody buys), so the
        queue gauges have series and the serving counter grows as admissions expire."""
        if self.queue_sale:
            return
        server = self.replicas[0]
        sale = f"queue-{uuid.uuid4().hex[:10]}"
        with httpx.Client(base_url=server.url, timeout=10.0) as http:
            created = http.post(
                "/admin/sales",
                headers={"Authorization": f"Bearer {server.admin_token}"},
                json={
                    "sale_id": sale,
                    "name": "queue",
                    "stock": 10,
                    "per_buyer_limit": 1,
                    "queue": {"mode": "fifo", "admit_rate": 5, "max_active": 3, "token_ttl_s": 5},
                },
            )
            assert created.status_code == 201, created.text
            for i in range(20):
                r = http.post(
                    f"/sales/{sale}/queue", headers={"Idempotency-Key": str(uuid.uuid4()), **server.buyer(f"q{i}")}
                )
                assert r.status_code == 201, r.text
        self.last_activity = time.time()
        self.queue_sale = sale

    def sizes(self) -> None:
        """A sale of two sizes under one quota: one size sold out (its sell-out time has a series), a unit of the
        other held, so every per-SKU and per-quota panel has series to show."""
        if self.sizes_sale:
            return
        server = self.replicas[0]
        sale = f"sizes-{uuid.uuid4().hex[:10]}"
        with httpx.Client(base_url=server.url, timeout=10.0) as http:
            created = http.post(
                "/admin/sales",
                headers={"Authorization": f"Bearer {server.admin_token}"},
                json={
                    "sale_id": sale,
                    "name": "sizes",
                    "items": [{"sku": "us-8", "stock": 1}, {"sku": "us-9", "stock": 3}],
                    "quotas": [{"name": "pair", "cap": 3, "skus": ["us-8", "us-9"]}],
                },
            )
            assert created.status_code == 201, created.text
            bought = http.post(
                f"/sales/{sale}/purchases",
                json={"lines": [{"sku": "us-8", "quantity": 1}]},
                headers={"Idempotency-Key": str(uuid.uuid4()), **server.buyer("sizes-buyer")},
            )
            held = http.post(
                f"/sales/{sale}/holds",
                json={"lines": [{"sku": "us-9", "quantity": 1}]},
                headers={"Idempotency-Key": str(uuid.uuid4()), **server.buyer("sizes-holder")},
            )
            assert (bought.status_code, held.status_code) == (201, 201), (bought.text, held.text)
        self.last_activity = time.time()
        self.sizes_sale = sale

    def checkout(self) -> None:
        """Holds on a sale with a 1 s hold TTL: one confirmed, one released, the others left to expire.

        Expired holds are reclaimed by the next hold or purchase script on the sale (or the reaper): a
        purchase after the TTL makes the audit (and the gauges read at scrape time) count them as expired.
        """
        if self.checkout_sale:
            return
        server = self.replicas[0]
        admin = {"Authorization": f"Bearer {server.admin_token}"}
        sale = f"checkout-{uuid.uuid4().hex[:10]}"
        with httpx.Client(base_url=server.url, timeout=10.0) as http:
            created = http.post(
                "/admin/sales", headers=admin, json={"sale_id": sale, "name": "checkout", "stock": 10, "hold_ttl_s": 1}
            )
            assert created.status_code == 201, created.text
            holds = []
            holders = [server.buyer(f"holder-{i}") for i in range(CHECKOUT_HOLDS)]
            for holder in holders:
                r = http.post(
                    f"/sales/{sale}/holds",
                    json={"quantity": 1},
                    headers={"Idempotency-Key": str(uuid.uuid4()), **holder},
                )
                assert r.status_code == 201, r.text
                holds.append(r.json()["hold_id"])
            confirmed = http.post(f"/sales/{sale}/holds/{holds[0]}/confirm", headers=holders[0])
            released = http.delete(f"/sales/{sale}/holds/{holds[1]}", headers=holders[1])
            assert (confirmed.status_code, released.status_code) == (201, 204), (confirmed.text, released.text)

            def expired() -> bool:
                states = {
                    http.get(f"/sales/{sale}/holds/{h}", headers=holder).json()["state"]
                    for h, holder in zip(holds[2:], holders[2:], strict=True)
                }
                return states == {"expired"}

            wait_until(expired, "the unpaid holds to expire (hold_ttl_s 1)", timeout_s=15)
            bought = http.post(
                f"/sales/{sale}/purchases",
                json={"quantity": 1},
                headers={"Idempotency-Key": str(uuid.uuid4()), **server.buyer("after-expiry")},
            )
            assert bought.status_code == 201, bought.text
        want = CHECKOUT_HOLDS - 2
        wait_until(
            lambda: self.audit(sale)["holds"]["expired"] == want, f"{want} expired holds in the audit", timeout_s=15
        )
        self.last_activity = time.time()
        self.checkout_sale = sale

    def late_clicks(self) -> None:
        """Buyers still pressing "buy" after the drop, in waves, once the attacks have been scraped.

        The per-sale counters appear with their first increment, and rate() takes a series' first sample as
        its starting point: a burst that starts and ends between two scrapes adds nothing to any rate. Late
        clicks land in later scrape intervals; a wave whose answers were all new label sets (say, the first
        409s of a sale) shows no increase either, so waves go on (at most LATE_WAVES) until both paths and
        both replicas have a rate above 0. The rate panels and latency quantiles then have an increase to
        show (real numbers, not 0 and NaN).
        """
        if self.clicked_late:
            return
        moving = (
            f"count(sum by (path) (rate(flashsale_purchase_attempts_total[1m])) > 0) == 2 and on () "
            f'count(sum by (instance) (rate(flashsale_http_requests_total{{job="{API_JOB}"}}[1m])) > 0)'
            f" == {REPLICAS}"
        )
        for _ in range(LATE_WAVES):
            self.settle()
            for path, result in self.attacks.items():
                server = self.replica_for(path)
                statuses = asyncio.run(buy_all(server, result["sale_id"], LATE_CLICKS, path))
                result["statuses"].update(statuses)
            self.last_activity = time.time()
            self.all_rules_evaluated_after(self.settle())
            if self.prom.vector(moving):
                break
        self.clicked_late = True


def unavailable_without_sale(server: LocalServer, path: str) -> float:
    """Attempts on ``path`` answered 503 and counted under ``sale=""``, as the replica's /metrics says now.

    A worker counts an ``unavailable`` attempt under its sale only once it has seen Redis answer about that sale
    (the recorder keeps made-up sale ids from becoming series): a worker whose first attempts on a new sale all
    time out counts them under ``sale=""``. Read straight from the replica, all its workers added up.
    """
    text = httpx.get(f"{server.url}/metrics", timeout=10.0).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "flashsale_purchase_attempts_total"
        and sample.labels.get("sale") == ""
        and sample.labels.get("path") == path
        and sample.labels.get("outcome") == "unavailable"
    )


def ready(server: LocalServer) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{server.url}/health/ready", timeout=1.0).status_code == 200
    return False


async def buy_all(server: LocalServer, sale: str, n: int, path: str = "safe") -> Counter[str]:
    route = PURCHASE_ROUTE[path].format(sale=sale)
    buyers = [server.buyer(f"late-{i}") for i in range(n)]  # this replica's issuer; minted before the burst
    async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as http:

        async def buy(i: int) -> str:
            r = await http.post(
                route, json={"quantity": 1}, headers={"Idempotency-Key": str(uuid.uuid4()), **buyers[i]}
            )
            return str(r.status_code)

        return Counter(await asyncio.gather(*(buy(i) for i in range(n))))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not os.access(live.PROMETHEUS_BINARY, os.X_OK):
        pytest.skip(f"{live.PROMETHEUS_BINARY} not found: install the Debian package prometheus (`make test` does)")
    folder = tmp_path_factory.mktemp("prometheus-live")
    with contextlib.ExitStack() as cleanup:
        redis_server = RedisProcess("--appendonly", "no", "--maxmemory", str(REDIS_MAXMEMORY)).start()
        cleanup.callback(redis_server.cleanup)
        replicas = []
        for _ in range(REPLICAS):
            server = start_api(redis_server.url, FLASHSALE_WORKERS=str(WORKERS))
            cleanup.callback(server.stop)
            replicas.append(server)
            assert len(server.worker_pids()) >= WORKERS, f"expected {WORKERS} uvicorn workers"
        exporter, exporter_address, which = start_redis_exporter(redis_server.port, folder)
        cleanup.callback(stop_pid, exporter)
        postgres = PostgresProcess()
        cleanup.callback(postgres.cleanup)
        postgres.start()
        order_exporter = ExporterProcess(redis_server.url, postgres.url).start()  # applies the migrations
        cleanup.callback(order_exporter.stop)
        port = free_port()
        targets = {
            API_JOB: [f"127.0.0.1:{s.port}" for s in replicas],
            REDIS_JOB: [exporter_address],
            EXPORT_JOB: [f"127.0.0.1:{order_exporter.metrics_port}"],
            SELF_JOB: [f"127.0.0.1:{port}"],
        }
        config = live.live_config(yaml.safe_load(live.REPO_CONFIG.read_text()), targets)
        prom = live.PrometheusServer(folder / "prometheus", config, port).start()
        cleanup.callback(prom.stop)

        def all_up() -> bool:
            found = prom.targets()
            return len(found) == sum(map(len, targets.values())) and all(t["health"] == "up" for t in found)

        wait_until(all_up, f"every target up ({targets}); log: {prom.log_tail()}")
        yield Stack(prom, redis_server, replicas, which, order_exporter)


def assert_scraped_equals_audit(stack: Stack, result: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """What Prometheus holds for the sale equals the HTTP answers the buyers got and the audit route.

    Counters count answers: each attempt is counted under the outcome its buyer was told (201 sold, 409
    sold out, 503 unavailable), and only units answered 201 count as sold. A 503 means "outcome unknown":
    the Redis call may still have run after the deadline, so Redis (the audit) may hold up to one more unit
    per 503. The stock gauges are read from Redis at scrape time and equal the audit exactly.

    Returns the audit and the time of the (oldest) scrape the comparison used.
    """
    sale, path = result["sale_id"], result["path"]
    statuses = result["statuses"]
    assert set(statuses) <= {"201", "409", "503"} and statuses.total() >= BUYERS, f"precondition: {statuses}"
    scraped = stack.settle()
    stack.all_rules_evaluated_after(scraped)  # the recording rules below must have seen that scrape
    audit = stack.audit(sale)
    prom = stack.prom
    # Series exist at zero before the first attempt (so the opening rush shows in rate()); compare the non-zero.
    attempts = by("outcome", prom.vector(f'sum by (outcome) (flashsale_purchase_attempts_total{{sale="{sale}"}}) > 0'))
    if result["unavailable_without_sale"]:  # 503s of workers that had not yet seen the sale (see the helper)
        attempts["unavailable"] = attempts.get("unavailable", 0.0) + result["unavailable_without_sale"]
    expected = {"sold": statuses["201"], "sold_out": statuses["409"], "unavailable": statuses["503"]}
    assert attempts == {k: float(v) for k, v in expected.items() if v}, statuses
    units = by("path", prom.vector(f'sum by (path) (flashsale_units_sold_total{{sale="{sale}"}}) > 0'))
    assert units == {path: float(statuses["201"])}, statuses
    assert statuses["201"] <= audit["sold"] <= statuses["201"] + statuses["503"], (statuses, audit)
    for metric, value in (
        ("flashsale_stock_remaining", audit["remaining"]),
        ("flashsale_stock_added", audit["stock_added"]),
        ("flashsale_oversold_units", audit["oversold"]),
    ):
        per_replica = prom.vector(f'{metric}{{sale="{sale}"}}')
        # Read from Redis by every replica: one identical series per replica, combined with max.
        assert sorted(per_replica.values()) == [float(value)] * REPLICAS, (metric, per_replica)
        # The recording rule follows the scrapes by up to one evaluation interval: wait for it to catch up.
        recorded = f'sale:{metric}:max{{sale="{sale}"}}'
        # An empty vector (the rule not evaluated since the series appeared) is "not yet", not a failure.
        wait_until(
            lambda: (v := prom.vector(recorded)) and one(v) == float(value),  # noqa: B023
            f"{recorded} == {value}",
        )
    return audit, scraped


def test_safe_attack_is_scraped_exactly_and_does_not_page(stack: Stack) -> None:
    result = stack.attack("safe")
    sale = result["sale_id"]
    audit, scraped = assert_scraped_equals_audit(stack, result)
    assert audit["sold"] == STOCK and audit["oversold"] == 0 and audit["ok"] is True, audit
    assert scraped > result["ended"]

    # The alert must have been evaluated on data scraped after the attack, or "not firing" proves nothing.
    rule = stack.evaluated_after(ALERT, scraped)
    assert rule["type"] == "alerting" and rule["health"] == "ok", rule
    assert one(stack.prom.vector(f'max by (sale) (flashsale_oversold_units{{sale="{sale}"}})')) == 0.0
    assert [a for a in stack.oversold_alerts() if a["labels"].get("sale") == sale] == []
    assert stack.prom.vector(f'ALERTS{{alertname="{ALERT}",sale="{sale}"}}') == {}
    if "unsafe" not in stack.attacks:  # nothing has oversold yet: the alert is silent altogether
        assert rule["state"] == "inactive" and rule["alerts"] == [], rule
        assert stack.oversold_alerts() == []


def test_unsafe_oversell_fires_the_alert_for_that_sale(stack: Stack) -> None:
    safe = stack.attack("safe")
    result = stack.attack("unsafe")
    sale = result["sale_id"]
    audit, scraped = assert_scraped_equals_audit(stack, result)
    assert audit["oversold"] > 0, f"precondition: the unsafe path did not oversell in {UNSAFE_TRIES} tries: {audit}"
    assert audit["ok"] is False and audit["sold"] == STOCK + audit["oversold"], audit

    def firing() -> list[dict[str, Any]]:
        return [a for a in stack.oversold_alerts() if a["labels"].get("sale") == sale and a["state"] == "firing"]

    stack.evaluated_after(ALERT, scraped)  # `for: 0s`: firing from the first evaluation that sees it
    alerts = wait_until(firing, f"{ALERT} firing for {sale}")
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    assert alert["labels"] == {"alertname": ALERT, "sale": sale, "severity": "critical", "service": "flashsale"}
    assert float(alert["value"]) == float(audit["oversold"])
    assert f"Sale {sale} has sold {audit['oversold']} unit(s) more" in alert["annotations"]["summary"]
    assert one(stack.prom.vector(f'max by (sale) (flashsale_oversold_units{{sale="{sale}"}}) > 0')) == float(
        audit["oversold"]
    )  # the alert's own expression
    # Only the oversold sale pages; the safe sale next to it does not.
    paging = {dict(k)["sale"] for k in stack.prom.vector(f'ALERTS{{alertname="{ALERT}",alertstate="firing"}}')}
    assert paging == {sale}
    assert [a for a in stack.oversold_alerts() if a["labels"].get("sale") == safe["sale_id"]] == []


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    attacked = {path: stack.attack(path)["sale_id"] for path in ("safe", "unsafe")}
    stack.fault()
    stack.queue()
    stack.sizes()
    stack.checkout()
    stack.late_clicks()
    dashboard = json.loads(DASHBOARD.read_text())
    queries = dashboard_check.expressions(dashboard)  # panel targets and the sale variable, $sale -> .*
    assert len(queries) >= 15, queries
    titles = {str(p["title"]) for p in dashboard_check.iter_panels(dashboard["panels"])}
    assert set(NO_DATA_HERE) <= titles, f"stale NO_DATA_HERE entries: {sorted(set(NO_DATA_HERE) - titles)}"

    def excused(where: str) -> bool:
        return any(where.startswith(f"panel {title!r} ") for title in NO_DATA_HERE)

    # Everything the buyers did has been scraped, and every recording rule evaluated on it: one query each.
    stack.all_rules_evaluated_after(stack.settle())
    answers = {where: samples(stack.prom.query(expr)) for where, expr in queries}  # a rejected query fails
    print(
        f"\nredis_up from {stack.exporter}; HTTP answers: "
        f"{ {p: dict(r['statuses']) for p, r in stack.attacks.items()} }"
    )
    for where, values in answers.items():
        print(f"{where}: {values}")
    empty = [where for where, values in answers.items() if not values and not excused(where)]
    assert empty == [], f"dashboard queries without data: {empty}"
    print(
        f"excused when empty ({len(NO_DATA_HERE)} panels): { {w: bool(v) for w, v in answers.items() if excused(w)} }"
    )
    # Traffic reached both paths and both replicas in the last minute: no path or replica has a 0/0 answer.
    with_nan = {where: values for where, values in answers.items() if any(math.isnan(v) for v in values)}
    assert with_nan == {}, f"dashboard queries answering NaN: {with_nan}"

    prom = stack.prom
    variable = by("sale", prom.vector(dict(queries)["variable sale"]))
    assert set(attacked.values()) | {stack.fault_sale} <= set(variable), variable

    def panel(fragment: str, ref: str = "A") -> str:
        matches = [e for w, e in queries if fragment in w.lower() and w.endswith(f"target {ref}")]
        assert len(matches) == 1, (fragment, matches)
        return str(matches[0])

    # The stock recording rules (max over the replicas' identical gauges) against the audit, for every sale;
    # the fault sale still has stock left, so a sum instead of a max would show here.
    # The unsafe path writes stock and sold with separate commands, and its requests that answered 503 may
    # still land: its gauges converge on the audit within a few scrapes rather than at once (bounded poll).
    for sale in [*attacked.values(), stack.fault_sale]:
        rules = (
            ("sale:flashsale_stock_remaining:max", "remaining"),
            ("sale:flashsale_stock_added:max", "stock_added"),
            ("sale:flashsale_oversold_units:max", "oversold"),
        )
        deadline = time.monotonic() + 15
        while True:
            audit = stack.audit(sale)
            got = {rule: one(prom.vector(f'{rule}{{sale="{sale}"}}')) for rule, _ in rules}
            if all(got[rule] == float(audit[key]) for rule, key in rules) or time.monotonic() > deadline:
                break
            stack.all_rules_evaluated_after(stack.settle())
        for rule, key in rules:
            assert got[rule] == float(audit[key]), (rule, got, audit)
    assert stack.audit(stack.fault_sale)["remaining"] > 0
    assert one(prom.vector(panel("api replicas up"))) == REPLICAS
    assert one(prom.vector(panel("redis up"))) == 1.0
    oversold = by("sale", prom.vector(panel("oversold units")))
    assert oversold[attacked["safe"]] == 0.0
    assert oversold[attacked["unsafe"]] == float(stack.audit(attacked["unsafe"])["oversold"]) > 0
    # "Sold" is read from Redis (flashsale_stock_sold), so it is the audit's figure, not a sum of the
    # per-process counters (which restart at 0 with a replica).
    sold = by("sale", prom.vector(panel("sold against stock", "A")))
    assert {s: sold[s] for s in attacked.values()} == {s: float(stack.audit(s)["sold"]) for s in attacked.values()}
    # Holds, read from Redis at scrape time: the checkout sale's expiries and (no longer) held units.
    checkout = stack.audit(stack.checkout_sale)
    assert checkout["holds"]["expired"] == CHECKOUT_HOLDS - 2 and checkout["ok"], checkout
    assert by("sale", prom.vector(panel("hold expiries")))[stack.checkout_sale] == CHECKOUT_HOLDS - 2
    assert by("sale", prom.vector(panel("held units")))[stack.checkout_sale] == float(checkout["held"])
    # Orders exported to PostgreSQL by `flashsale export`, scraped as job `exporter`: the safe sale's orders
    # all exported (first time only), nothing left behind, and the exporter's guard alert silent.
    safe_sale = attacked["safe"]
    safe_orders = float(stack.audit(safe_sale)["orders"])

    def exported() -> bool:
        stack.all_rules_evaluated_after(stack.settle())
        done = by("sale", prom.vector(f'sum by (sale) (flashsale_orders_exported_total{{job="{EXPORT_JOB}"}})'))
        return done.get(safe_sale) == safe_orders

    wait_until(exported, f"{safe_orders:.0f} orders of {safe_sale} exported")
    assert by("sale", prom.vector(panel("unexported orders")))[safe_sale] == 0.0
    assert by("sale", prom.vector(panel("export lag per sale")))[safe_sale] == 0.0
    assert set(by("sale", prom.vector(panel("orders exported")))) >= {safe_sale}
    guard = prom.rule("FlashSaleExporterDown")
    assert guard["health"] == "ok" and guard["state"] == "inactive", guard
    # Redis memory against maxmemory, from the real redis_exporter when installed.
    if stack.exporter == "redis_exporter":
        memory = prom.vector(panel("redis memory", "B"))
        assert list(memory.values()) == [float(REDIS_MAXMEMORY)], memory
        assert 0 < one(prom.vector(panel("redis memory", "A"))) < REDIS_MAXMEMORY
    # The SLO burn rates: traffic flowed, so each window has a number; 0 <= burn <= 1 / budget.
    for fragment, budget in (("availability error budget", 0.005), ("latency error budget", 0.01)):
        for ref in "ABC":
            burn = one(prom.vector(panel(fragment, ref)))
            assert 0 <= burn <= 1 / budget, (fragment, ref, burn)
    per_replica = by("instance", prom.vector(panel("requests per second by replica")))
    assert set(per_replica) == {f"127.0.0.1:{s.port}" for s in stack.replicas}
    assert all(v > 0 for v in per_replica.values()), per_replica  # the late clicks reached both replicas
    unavailable = by("path", prom.vector(panel("unavailable share")))
    # A path is present while it had attempts in the last minute (the rule divides by that rate, > 0).
    assert unavailable, "no path has an unavailable share"
    assert set(unavailable) <= {"safe", "unsafe"} and all(0 <= v <= 1 for v in unavailable.values()), unavailable
