"""The load tooling: small, bounded correctness checks on loopback (no timing is asserted anywhere here).

* the rush campaign, headless against its own stack, passes and its end check saw sold == K;
* the queue campaign (buyers through a random_at_open waiting room) passes its end checks;
* the same rush campaign FAILS when the sale no longer sells exactly K (restocked under it), through --host;
* the end-check, SLO and target-guard functions, without locust;
* the wrk Lua script runs against the bare, purchase and hold routes (1 s, 2 connections), nothing is oversold and
  the bench's counter (orders, or holds on the hold route) counts what each run made;
* the benchmark's INFO commandstats parser and snapshot deltas on a real redis-server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from load.bench import measuring, profiling, redis_stats
from load.buyers import mint_file
from load.checks import Slo, Tally, check_sale, check_slo, is_loopback, refuse_target

from flashsale.inventory.keys import buyer_tag, sale_keys
from flashsale.inventory.scripts import LuaScript
from flashsale.local import LocalServer
from tests.conftest import start_api
from tests.servers import RedisProcess

ROOT = Path(__file__).resolve().parents[1]


def run_campaign(reports: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "load.run", *args, "--reports", str(reports)]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


# -- campaigns, end to end ------------------------------------------------------------


def test_rush_campaign_sells_exactly_k(tmp_path: Path) -> None:
    process = run_campaign(tmp_path, "rush", "--users", "20", "--run-time", "7", "--stock", "30")
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 0, output
    verdict = json.loads((tmp_path / "rush.json").read_text())
    assert verdict["passed"] is True
    assert verdict["checks"] == {"passed": True, "failures": []}
    assert verdict["notes"]["sold"] == 30
    assert verdict["notes"]["remaining"] == 0
    assert verdict["notes"]["oversold"] == 0
    sale = verdict["sales"]["main"]
    assert verdict["outcomes"][sale]["sold_to_clients"] == 30
    assert (tmp_path / "rush.html").exists()
    assert (tmp_path / "rush_stats.csv").exists()


def test_queue_campaign(tmp_path: Path) -> None:
    """Buyers through a random_at_open room: no oversell, audit ok, every admitted buyer who tried bought or was
    told sold out, no 5xx (load/queue.py's end checks); 40 buyers for 20 units, so some are left waiting."""
    process = run_campaign(tmp_path, "queue", "--users", "40", "--run-time", "10", "--stock", "20")
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 0, output
    verdict = json.loads((tmp_path / "queue.json").read_text())
    assert verdict["passed"] is True and verdict["checks"] == {"passed": True, "failures": []}, verdict
    notes = verdict["notes"]
    assert notes["sold"] == 20 and notes["oversold"] == 0 and notes["server_errors"] == 0, notes
    assert notes["joined"] == 40 and notes["admitted_buyers_who_tried"] == notes["settled"] == 20, notes


def test_checkout_campaign(tmp_path: Path) -> None:
    """Holds, prompt and late confirms, releases and abandoned holds: every abandoned unit resold, no late
    confirm sold, sold == confirmed holds, the audit balances (load/checkout.py's end checks)."""
    process = run_campaign(tmp_path, "checkout", "--users", "20", "--run-time", "12", "--stock", "40")
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    verdict = json.loads((tmp_path / "checkout.json").read_text())
    assert verdict["passed"] is True and verdict["checks"] == {"passed": True, "failures": []}
    notes = verdict["notes"]
    assert (notes["sold"], notes["oversold"], notes["late_confirms_won"]) == (40, 0, 0)
    assert notes["late_confirms"] > 0 and notes["abandoned"] > 0
    assert notes["holds"]["confirmed"] == notes["confirmed_units"] == 40


@pytest.fixture
def demo_api(redis_server: RedisProcess) -> Iterator[LocalServer]:
    server = start_api(redis_server.url, FLASHSALE_BENCH_ROUTES="true")
    yield server
    server.stop()


def test_rush_fails_when_the_sale_does_not_sell_exactly_k(tmp_path: Path, demo_api: LocalServer) -> None:
    """An operator restocks the rush's sale under it: sold can no longer equal K, so the run must fail."""
    process = run_campaign(
        tmp_path,
        "rush",
        "--host",
        demo_api.url,
        "--users",
        "10",
        "--run-time",
        "7",
        "--stock",
        "20",
        env={
            "FLASHSALE_ADMIN_TOKEN": demo_api.admin_token,
            "FLASHSALE_DEMO_ISSUER_KEY": demo_api.env["FLASHSALE_DEMO_ISSUER_KEY"],  # its buyers' tokens
        },
    )
    auth = {"Authorization": f"Bearer {demo_api.admin_token}"}
    restocked = None
    deadline = time.monotonic() + 20
    while restocked is None and time.monotonic() < deadline and process.poll() is None:
        sales = httpx.get(demo_api.url + "/admin/sales", headers=auth, timeout=5).json()
        rush = [s for s in sales if s.startswith("rush-")]
        if rush:
            restocked = rush[0]
            r = httpx.post(
                f"{demo_api.url}/admin/sales/{restocked}/restock", json={"units": 5}, headers=auth, timeout=5
            )
            assert r.status_code == 200, r.text
        time.sleep(0.05)
    output, _ = process.communicate(timeout=90)
    assert restocked is not None, output
    assert process.returncode == 1, output
    verdict = json.loads((tmp_path / "rush.json").read_text())
    assert verdict["passed"] is False
    assert any("expected exactly 20" in failure for failure in verdict["checks"]["failures"]), verdict["checks"]
    assert "CHECK FAILED" in output


def test_load_run_refuses_a_remote_host(tmp_path: Path) -> None:
    process = run_campaign(
        tmp_path, "rush", "--host", "http://192.0.2.10:8000", env={"FLASHSALE_ADMIN_TOKEN": "x" * 32}
    )
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "--allow-remote" in output


def test_load_run_against_a_host_needs_buyer_tokens(tmp_path: Path) -> None:
    env = {"FLASHSALE_ADMIN_TOKEN": "x" * 32, "FLASHSALE_DEMO_ISSUER_KEY": "", "LOAD_BUYER_TOKENS": ""}
    process = run_campaign(tmp_path, "rush", "--host", "http://127.0.0.1:9", env=env)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "FLASHSALE_DEMO_ISSUER_KEY" in output and "LOAD_BUYER_TOKENS" in output


# -- checkers, without locust ------------------------------------------------------------


def test_end_check_passes_only_when_sold_is_exactly_k() -> None:
    audit = {"oversold": 0, "ok": True}
    assert check_sale("rush", {"sold": 50}, audit, Tally(sold=50), expected_sold=50) == []
    (failure,) = check_sale("rush", {"sold": 49}, audit, Tally(sold=49), expected_sold=50)
    assert "expected exactly 50" in failure
    failures = check_sale("rush", {"sold": 51}, {"oversold": 1, "ok": False}, Tally(sold=51), expected_sold=50)
    assert len(failures) == 3


def test_end_check_compares_server_and_clients() -> None:
    audit = {"oversold": 0, "ok": True}
    assert check_sale("s", {"sold": 10}, audit, Tally(sold=8, unknown=2)) == []  # 2 unknown outcomes sold
    assert check_sale("s", {"sold": 11}, audit, Tally(sold=8, unknown=2))  # one unit nobody was told about
    assert check_sale("s", {"sold": 7}, audit, Tally(sold=8))  # a client was told it bought a unit never sold
    assert check_sale("unsafe", {"sold": 90}, {"oversold": 40, "ok": False}, None, oversell_allowed=True) == []


def test_checkout_end_checks_fail_on_each_breach() -> None:
    from load.checks import Checkout
    from load.checks import judge_checkout as judge

    audit = {"oversold": 0, "ok": True, "holds": {"confirmed": 10}}
    view = {"sold": 10, "remaining": 0, "held": 0}
    seen = Checkout(confirmed_units=10, abandoned=["a"], late=["b"])
    expired: dict[str, str | None] = {"a": "expired", "b": "expired"}
    assert judge(seen, 10, view, audit, expired) == []
    breaches = {
        "after expiry succeeded": judge(
            Checkout(confirmed_units=10, abandoned=["a"], late=["b"], late_won=1), 10, view, audit, expired
        ),
        "not all resold": judge(
            Checkout(confirmed_units=9, abandoned=["a"], late=["b"]),
            10,
            {"sold": 9, "remaining": 1, "held": 0},
            audit | {"holds": {"confirmed": 9}},
            expired,
        ),
        "clients confirmed": judge(seen, 10, {"sold": 11, "remaining": 0, "held": 0}, audit, expired),
        "not expired": judge(seen, 10, view, audit, {"a": "confirmed", "b": "expired"}),
        "too short to judge": judge(Checkout(confirmed_units=10), 10, view, audit, {}),
        "audit failed": judge(seen, 10, view, {**audit, "ok": False}, expired),
    }
    for expected, failures in breaches.items():
        assert len(failures) == 1 and expected in failures[0], (expected, failures)


def test_slo_verdict() -> None:
    slo = Slo(error_ratio=0.001, p99_ms=100)
    assert check_slo(slo, requests=10_000, failures=10, p99_ms=99) == []
    assert len(check_slo(slo, requests=10_000, failures=11, p99_ms=101)) == 2
    assert check_slo(slo, requests=0, failures=0, p99_ms=0) == ["no request completed"]


def test_target_guard() -> None:
    assert is_loopback("http://127.0.0.1:8000")
    assert is_loopback("http://[::1]:8000")
    assert refuse_target("http://localhost:8000", allow_remote=False) is None
    assert refuse_target("http://10.1.2.3:8080", allow_remote=False) is not None
    assert refuse_target("http://10.1.2.3:8080", allow_remote=False, allow_private=True) is None
    assert refuse_target("http://192.0.2.10", allow_remote=True) is None
    assert refuse_target("file:///etc/passwd", allow_remote=True) is not None


# -- the benchmark's pieces ------------------------------------------------------------


def wrk_buyers(server: LocalServer, folder: Path, count: int = 20) -> Path:
    """The FLASHSALE_WRK_BUYERS file of load/wrk/*.lua: ``<buyer>\t<token>`` lines of ``server``'s issuer."""
    path = folder / "wrk-buyers.tsv"
    assert len(mint_file(path, server.env["FLASHSALE_DEMO_ISSUER_KEY"], count, "wrk")) == count
    return path


def test_wrk_script_drives_bare_purchase_and_hold_routes_without_oversell(
    demo_api: LocalServer, redis_server: RedisProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert shutil.which("wrk"), "wrk not installed (make system-deps)"
    monkeypatch.setenv("FLASHSALE_WRK_BUYERS", str(wrk_buyers(demo_api, tmp_path)))  # wrk inherits it
    assert subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout.startswith("wrk")
    http = httpx.Client(base_url=demo_api.url, timeout=10, headers={"Authorization": f"Bearer {demo_api.admin_token}"})
    for route in ("bare", "purchase", "hold"):
        sale = f"wrk-{uuid.uuid4().hex[:8]}"
        body = {"sale_id": sale, "name": "wrk", "stock": 1_000_000, "hold_ttl_s": 86_400}
        assert http.post("/admin/sales", json=body).status_code == 201
        counter = measuring.ROUTE_COUNTER.get(route, "orders")
        _, made0 = redis_stats.snapshot(redis_server.port, sale, counter)
        path = measuring.ROUTE_PATHS[route].format(sale=sale)
        result = measuring.run_wrk(demo_api.url, path, connections=2, duration_s=1)
        assert result["requests"] > 0
        assert result["statuses"] == {measuring.EXPECTED_STATUS[route]: result["requests"]}
        assert result["latency_us"]["p99"] >= result["latency_us"]["p50"] > 0
        time.sleep(0.2)
        audit = http.get(f"/admin/sales/{sale}/audit").json()
        assert audit["oversold"] == 0 and audit["ok"] is True
        # every answered request sold (or held) one unit (at most the 2 in flight when wrk stopped unseen)
        units = audit["held"] if route == "hold" else audit["sold"]
        assert result["requests"] <= units <= result["requests"] + 2
        assert (audit["sold"], audit["holds"]["created"]) == ((0, units) if route == "hold" else (units, 0))
        _, made1 = redis_stats.snapshot(redis_server.port, sale, counter)
        assert made1 - made0 == units  # what the bench divides commands by: holds on the hold route, else orders
    http.close()


def test_commandstats_parser_and_deltas_on_real_redis(redis_server: RedisProcess) -> None:
    port = redis_server.port
    redis_stats.commandstats(port)
    parsed = redis_stats.commandstats(port)  # redis-py parses INFO; the bench keeps the calls
    assert parsed["info"] >= 1
    assert redis_stats.parse_commandstats("cmdstat_config|get:calls=3,usec=9,usec_per_call=3.00") == {"config|get": 3}

    sale = f"cs-{uuid.uuid4().hex[:8]}"
    sha = str(redis_stats.redis_command(port, "SCRIPT", "LOAD", LuaScript.load("purchase").source))
    redis_stats.redis_command(
        port,
        "HSET",
        f"fs:{{{sale}}}:sale",
        "total",
        "100",
        "remaining",
        "100",
        "sold",
        "0",
        "orders",
        "0",
        "limit",
        "0",
        "closed",
        "0",
    )
    before, orders_before = redis_stats.snapshot(port, sale)
    k = sale_keys(sale)
    for n in range(3):
        key, buyer = f"key-{n}-abcdef", f"b{n}"
        keys = (k.sale, k.buyers, k.orders, k.idem(key), k.holds, k.hold_expiry, k.admissions)
        reply = redis_stats.redis_command(
            port,
            "EVALSHA",
            sha,
            "8",
            *keys,
            k.buyer_orders(buyer_tag(buyer)),
            *(buyer, "1", key, "60", "16", "", ""),  # no admission token, no eligibility facts
        )
        assert reply[0] == "sold", reply
    after, orders_after = redis_stats.snapshot(port, sale)
    assert orders_after - orders_before == 3
    deltas = redis_stats.command_deltas(before, after)
    # other tests may share this server: compare only what a purchase runs
    assert deltas["evalsha"] >= 3
    assert deltas["hincrby"] >= 12
    assert "info" not in deltas and "multi" not in deltas and "exec" not in deltas


def test_monitor_and_profile_parsers() -> None:
    clients, scripts = redis_stats.parse_monitor(
        '1700000000.000001 [0 127.0.0.1:5000] "evalsha" "abc" "4"\n'
        '1700000000.000002 [0 lua] "hmget" "fs:{s}:sale"\n'
        '1700000000.000003 [0 lua] "xadd" "fs:{s}:orders"\n'
    )
    assert clients == {"evalsha": 1} and scripts == {"hmget": 1, "xadd": 1}
    named, _ = redis_stats.parse_monitor('1.5 [0 127.0.0.1:5000] "evalsha" "abc" "4"\n', {"abc": "purchase"})
    assert named == {"evalsha purchase": 1}
    summary = profiling.summarise_profile(
        "thread (1): MainThread;Runner.run (asyncio/runners.py:118);PurchaseController.purchase "
        "(flashsale/api/purchases.py:60);Inventory.purchase (flashsale/inventory/engine.py:130);"
        "Redis.execute_command (redis/asyncio/client.py:600) 3\n"
        "thread (1): MainThread;Runner.run (asyncio/runners.py:118) 1\n"
        "thread (2): Thread-1;BatchProcessor.worker (opentelemetry/sdk/_shared_internal/__init__.py:9) 1\n"
        "thread (3): Thread-2;_worker (concurrent/futures/thread.py:80);Queue.get (queue.py:171) 7\n"
    )
    assert summary["samples"] == 5 and summary["main_thread_samples"] == 4  # the waiting thread is not CPU
    assert summary["self_by_component"]["redis-py"] == 75.0
    assert summary["inclusive"]["      Inventory.purchase (deadline + script call)"] == 75.0
