"""The locust side shared by every campaign.

* ``RUN``: the one shared place of a run: the sale ids the campaign created at test start (shapes and users
  read them from here), the buyers' tokens, what the clients saw per sale, and the end-check results.
* ``Buyer``: a FastHttpUser that presses "buy" with ``catch_response``: a 201 and the expected 409s
  (sold-out, limit-reached, sale-not-open, sale-closed) are successes; anything else is a failure. A 503 or a
  dropped request leaves the outcome unknown, so the next press retries with the same Idempotency-Key.
* ``install(campaign)``: the listeners: make the buyers' tokens and create the sales at ``test_start``, run the
  campaign's end checks at ``test_stop``, and at ``quitting`` judge the SLOs, write the JSON report and set
  the exit code (0 pass, 1 an end check or an SLO failed, 2 the run could not be set up).

A buyer is who the server's identity provider signed: every buyer request carries ``Authorization: Bearer``.
The tokens exist before the load starts (a signature costs the load generator ~1-5 ms, which would pace the
load): LOAD_BUYER_TOKENS names a file of ``<buyer>\\t<token>`` lines, one per simulated buyer, read at test
start. ``python -m load.run`` writes it, minted with the demo issuer key of the server under test; for another
server, a shop's identity provider issues them. (This process does not import flashsale to mint them: locust
puts load/ first on sys.path, where queue.py shadows the standard library's ``queue`` that redis-py needs.)

Campaigns run in one locust process (no master/worker): a worker would create its own sales.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, events
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import StatsEntry

try:
    from load.checks import AdminError, Api, Slo, Tally, check_slo, refuse_target
except ModuleNotFoundError:  # the compose stack mounts ./load alone (at /mnt/load) and runs locust there
    from checks import AdminError, Api, Slo, Tally, check_slo, refuse_target  # type: ignore[no-redef]

log = logging.getLogger("flashsale.load")

PURCHASE = "POST /sales/[sale]/purchases"
UNSAFE_PURCHASE = "POST /demo/sales/[sale]/purchases"
READ = "GET /sales/[sale]"
PROBLEM_PREFIX = "urn:flashsale:problem:"
EXPECTED_REFUSALS = frozenset({"sold-out", "limit-reached", "sale-not-open", "sale-closed"})
"""409 problem types that are a normal answer in a flash sale, not an error."""
SOLD, REPLAYED, UNKNOWN = "sold", "replayed", "unknown"

EXIT_OK, EXIT_FAILED, EXIT_SETUP = 0, 1, 2
TOKENS_ENV = "LOAD_BUYER_TOKENS"
NO_TOKENS = (
    f"no buyer tokens: set {TOKENS_ENV} to a file of '<buyer>\\t<token>' lines the server accepts "
    "(python -m load.run writes one from the server's demo issuer key)"
)


@dataclass
class Campaign:
    name: str
    slo: Slo
    setup: Callable[[Run, Environment], None]
    """Create the sales (admin API) and put their ids into ``run.sales``."""
    verify: Callable[[Run, Environment], list[str]]
    """The end checks; returns the failures."""
    stock: int
    """Default units of the campaign's main sale (``--stock`` overrides)."""
    judged: tuple[str, ...] = ()
    """Request names the SLOs judge (empty: all requests)."""
    buyers_per_user: int = 1
    """Buyer accounts each user signs in as (their tokens are made at test start)."""


@dataclass
class Run:
    campaign: Campaign | None = None
    api: Api | None = None
    tag: str = ""
    sales: dict[str, str] = field(default_factory=dict)
    """role -> sale id, set at test start."""
    tallies: dict[str, Tally] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    """Figures the campaign wants in its report (e.g. the unsafe path's oversell)."""
    check_failures: list[str] = field(default_factory=list)
    checked: bool = False
    setup_error: str | None = None
    started: float = 0.0
    _buyers: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    """buyer -> its token, made at test start."""
    listed: list[str] = field(default_factory=list)
    """The buyers of LOAD_BUYER_TOKENS in file order: each new user signs in as the next."""

    def reset(self, campaign: Campaign) -> None:
        self.__dict__.update(Run(campaign=campaign).__dict__)
        self.tag = f"{int(time.time()) % 100_000:05d}{uuid.uuid4().hex[:6]}"
        self.started = time.time()

    def sale(self, role: str = "main") -> str | None:
        return self.sales.get(role)

    def tally(self, sale_id: str) -> Tally:
        found = self.tallies.get(sale_id)
        if found is None:
            found = self.tallies[sale_id] = Tally()
        return found

    def next_buyer(self) -> str:
        """The next buyer account of the run (each user signs in as its own)."""
        self._buyers += 1
        if self._buyers > len(self.listed):
            raise RuntimeError(f"{TOKENS_ENV} has {len(self.listed)} buyers; this run started more users")
        return self.listed[self._buyers - 1]

    def buyer_header(self, buyer: str) -> dict[str, str]:
        """``buyer``'s ``Authorization`` header."""
        return {"Authorization": f"Bearer {self.tokens[buyer]}"}

    def prepare_buyers(self, count: int) -> None:
        """Read the buyers' tokens (LOAD_BUYER_TOKENS); at least ``count`` of them."""
        listed = os.environ.get(TOKENS_ENV)
        if not listed:
            raise ValueError(NO_TOKENS)
        for line in Path(listed).read_text().splitlines():
            buyer, _, token = line.partition("\t")
            if buyer and token.strip():
                self.listed.append(buyer)
                self.tokens[buyer] = token.strip()
        if len(self.listed) < count:
            raise ValueError(f"{TOKENS_ENV} lists {len(self.listed)} buyers; this run needs {count}")


RUN = Run()


def option(environment: Environment, name: str, default: Any) -> Any:
    value = getattr(environment.parsed_options, name, None) if environment.parsed_options else None
    return default if value is None else value


def stock(environment: Environment) -> int:
    assert RUN.campaign is not None
    return int(option(environment, "stock", RUN.campaign.stock))


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser
    group.add_argument(
        "--slo-error-ratio",
        type=float,
        env_var="LOAD_SLO_ERROR_RATIO",
        default=None,
        help="Largest share of failed requests (default: the campaign's)",
    )
    group.add_argument(
        "--slo-p99-ms",
        type=float,
        env_var="LOAD_SLO_P99_MS",
        default=None,
        help="Largest p99 response time in ms over all requests (default: the campaign's)",
    )
    group.add_argument(
        "--stock",
        type=int,
        env_var="LOAD_STOCK",
        default=None,
        help="Units of the campaign's main sale (default: the campaign's)",
    )
    group.add_argument(
        "--allow-remote",
        action="store_true",
        env_var="LOAD_ALLOW_REMOTE",
        default=False,
        help="Allow a target that is neither loopback nor on a private network",
    )
    group.add_argument(
        "--report-json",
        env_var="LOAD_REPORT_JSON",
        default=None,
        include_in_web_ui=False,
        help="Write the campaign's verdict (checks, SLOs, outcomes) to this JSON file",
    )


class Buyer(FastHttpUser):
    """A buyer with its own id; ``buy`` makes one purchase attempt and returns its outcome."""

    abstract = True
    network_timeout = 10.0
    connection_timeout = 5.0
    insecure = False

    def on_start(self) -> None:
        self.buyer_id = RUN.next_buyer()
        self.pending_key: str | None = None
        self.last_order: tuple[str, str, bytes, str] | None = None

    @property
    def auth(self) -> dict[str, str]:
        """The ``Authorization`` header of the buyer this user acts as now."""
        return RUN.buyer_header(self.buyer_id)

    def buy(self, sale_id: str, quantity: int = 1, unsafe: bool = False) -> str:
        retry = self.pending_key is not None and not unsafe
        key = self.pending_key if retry and self.pending_key else uuid.uuid4().hex
        body = b'{"quantity":%d}' % quantity
        path = f"/demo/sales/{sale_id}/purchases" if unsafe else f"/sales/{sale_id}/purchases"
        tally = RUN.tally(sale_id)
        headers = {"Content-Type": "application/json", "Idempotency-Key": key, **self.auth}
        with self.client.post(
            path, data=body, headers=headers, name=UNSAFE_PURCHASE if unsafe else PURCHASE, catch_response=True
        ) as response:
            code = response.status_code
            outcome = f"http-{code}"
            if code == 201:
                replayed = response.headers.get("Idempotent-Replayed") == "true"
                if replayed and not retry:
                    response.failure("a fresh Idempotency-Key was answered as a replay")
                else:
                    response.success()
                    tally.sold += quantity
                    outcome = REPLAYED if replayed else SOLD
                    self.last_order = (sale_id, key, body, self.buyer_id)
            elif code == 409:
                outcome = problem_slug(response)
                if outcome in EXPECTED_REFUSALS:
                    response.success()
                else:
                    response.failure(f"409 {outcome}")
            elif code == 503 or code == 0:
                outcome = UNKNOWN
                response.failure(f"outcome unknown (HTTP {code or 'no response'})")
            else:
                response.failure(f"unexpected HTTP {code}")
        if retry and (outcome in (SOLD, REPLAYED) or outcome in EXPECTED_REFUSALS):
            tally.unknown -= 1  # the retry with the same key settled the earlier attempt
        if outcome == UNKNOWN:
            if not retry:
                tally.unknown += 1
            self.pending_key = None if unsafe else key
        else:
            self.pending_key = None
        tally.count(outcome)
        return outcome

    def replay_last(self) -> None:
        """Send the last order's request again (a client retry): it must come back as a replay of it."""
        if self.last_order is None:
            return
        sale_id, key, body, buyer = self.last_order
        self.last_order = None
        headers = {"Content-Type": "application/json", "Idempotency-Key": key, **RUN.buyer_header(buyer)}
        with self.client.post(
            f"/sales/{sale_id}/purchases", data=body, headers=headers, name=PURCHASE + " (retry)", catch_response=True
        ) as response:
            if response.status_code == 201 and response.headers.get("Idempotent-Replayed") == "true":
                response.success()
                RUN.tally(sale_id).count("replay-of-order")
            else:
                response.failure(f"a retried order was not replayed (HTTP {response.status_code})")

    def read_sale(self, sale_id: str) -> dict[str, Any] | None:
        with self.client.get(f"/sales/{sale_id}", name=READ, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"unexpected HTTP {response.status_code}")
                return None
            response.success()
            return response.json()  # type: ignore[no-any-return]


def problem_slug(response: Any) -> str:
    try:
        kind = str(response.json().get("type", ""))
    except (ValueError, AttributeError):
        return "unparsable-problem"
    return kind.removeprefix(PROBLEM_PREFIX) or "untyped-problem"


# -- listeners ------------------------------------------------------------------------------------------------


def install(campaign: Campaign) -> None:
    """Wire the campaign's setup, end checks and verdict to locust's events (once per process)."""
    if RUN.campaign is not None and RUN.campaign.name != campaign.name:
        raise RuntimeError(f"one campaign per locust process ({RUN.campaign.name} is installed already)")
    RUN.campaign = campaign
    events.test_start.add_listener(_test_start)
    events.test_stop.add_listener(_test_stop)
    events.quitting.add_listener(_quitting)


def _quit_soon(environment: Environment) -> None:
    runner = environment.runner
    if runner is not None:
        gevent.spawn_later(0.1, runner.quit)


def _test_start(environment: Environment, **_: Any) -> None:
    campaign = RUN.campaign
    assert campaign is not None
    RUN.reset(campaign)
    if isinstance(environment.runner, WorkerRunner):
        RUN.setup_error = "run the campaigns in one locust process (no --worker): each worker would make its sales"
        _quit_soon(environment)
        return
    host = environment.host or ""
    refused = refuse_target(host, bool(option(environment, "allow_remote", False)), allow_private=True)
    if refused:
        RUN.setup_error = refused
    else:
        RUN.api = Api(host, os.environ.get("FLASHSALE_ADMIN_TOKEN") or None)
        try:
            RUN.prepare_buyers(max(1, int(option(environment, "num_users", 1))) * campaign.buyers_per_user)
            campaign.setup(RUN, environment)
        except (AdminError, OSError, KeyError, ValueError) as exc:
            RUN.setup_error = f"could not set up {campaign.name}: {exc}"
    if RUN.setup_error:
        log.error(RUN.setup_error)
        _quit_soon(environment)
    else:
        log.info("%s: sales %s", campaign.name, RUN.sales)


def _test_stop(environment: Environment, **_: Any) -> None:
    campaign = RUN.campaign
    if campaign is None or RUN.setup_error or RUN.checked or not RUN.sales:
        return
    RUN.checked = True
    try:
        RUN.check_failures = campaign.verify(RUN, environment)
    except (AdminError, OSError, KeyError, ValueError) as exc:
        RUN.check_failures = [f"end check could not run: {exc}"]


def verdict(environment: Environment) -> dict[str, Any]:
    campaign = RUN.campaign
    assert campaign is not None
    slo = Slo(
        error_ratio=float(option(environment, "slo_error_ratio", campaign.slo.error_ratio)),
        p99_ms=float(option(environment, "slo_p99_ms", campaign.slo.p99_ms)),
    )
    total = environment.stats.total
    judged = total
    if campaign.judged:
        judged = StatsEntry(environment.stats, "judged", "")
        for entry in environment.stats.entries.values():
            if entry.name in campaign.judged:
                judged.extend(entry)
    p99 = float(judged.get_response_time_percentile(0.99) or 0)
    slo_failures = [] if RUN.setup_error else check_slo(slo, judged.num_requests, judged.num_failures, p99)
    per_name = {
        f"{s.method} {s.name}": {
            "requests": s.num_requests,
            "failures": s.num_failures,
            "rps": round(s.total_rps, 1),
            "p50_ms": s.get_response_time_percentile(0.5),
            "p95_ms": s.get_response_time_percentile(0.95),
            "p99_ms": s.get_response_time_percentile(0.99),
            "max_ms": round(s.max_response_time or 0, 1),
        }
        for s in environment.stats.entries.values()
    }
    passed = not RUN.setup_error and not RUN.check_failures and not slo_failures and RUN.checked
    return {
        "campaign": campaign.name,
        "passed": passed,
        "host": environment.host,
        "setup_error": RUN.setup_error,
        "sales": RUN.sales,
        "checks": {"passed": RUN.checked and not RUN.check_failures, "failures": RUN.check_failures},
        "slo": {
            "error_ratio_max": slo.error_ratio,
            "p99_ms_max": slo.p99_ms,
            "failures": slo_failures,
            "judged": list(campaign.judged) or "all requests",
        },
        "requests": judged.num_requests,
        "failures": judged.num_failures,
        "error_ratio": round(judged.fail_ratio, 6),
        "rps": round(total.total_rps, 1),
        "p50_ms": judged.get_response_time_percentile(0.5),
        "p95_ms": judged.get_response_time_percentile(0.95),
        "p99_ms": p99,
        "duration_s": round(time.time() - RUN.started, 1) if RUN.started else 0,
        "outcomes": {
            sale: {"sold_to_clients": t.sold, "unknown": t.unknown, **t.outcomes} for sale, t in RUN.tallies.items()
        },
        "notes": RUN.notes,
        "by_request": per_name,
    }


def _quitting(environment: Environment, **_: Any) -> None:
    if RUN.campaign is None or isinstance(environment.runner, WorkerRunner):
        return
    if not RUN.checked and not RUN.setup_error and RUN.sales:
        _test_stop(environment)
    report = verdict(environment)
    lines = [f"campaign {report['campaign']}: {'PASSED' if report['passed'] else 'FAILED'}"]
    if report["setup_error"]:
        lines.append(f"  setup: {report['setup_error']}")
    lines.append(
        f"  requests {report['requests']}, failures {report['failures']} "
        f"(error ratio {report['error_ratio']:.4%}, SLO {report['slo']['error_ratio_max']:.4%}), "
        f"p99 {report['p99_ms']:.0f} ms (SLO {report['slo']['p99_ms_max']:.0f} ms)"
    )
    for name, value in report["notes"].items():
        lines.append(f"  {name}: {value}")
    lines.extend(f"  CHECK FAILED: {failure}" for failure in report["checks"]["failures"])
    lines.extend(f"  SLO MISSED: {failure}" for failure in report["slo"]["failures"])
    print("\n".join(lines), flush=True)
    path = option(environment, "report_json", None)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(report, indent=2, default=str) + "\n")
    if RUN.setup_error:
        environment.process_exit_code = EXIT_SETUP
    else:
        environment.process_exit_code = EXIT_OK if report["passed"] else EXIT_FAILED
