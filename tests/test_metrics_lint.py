"""The live ``/metrics`` page passes ``promtool check metrics`` and carries no ``_created`` series.

A real server (the ``api`` fixture, and a two-worker one for prometheus-client's multiprocess mode) takes
purchases on both paths, holds through every checkout step, and refused requests, so every metric family
has children when it is scraped; the page is then handed to Prometheus's own linter.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from flashsale.local import LocalServer
from tests.conftest import LOG_DIR, Api
from tests.servers import RedisProcess

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (make system-deps)")


def _traffic(api: Api) -> None:
    """Sold, sold out, replayed and limited purchases on the safe and the unsafe path; holds confirmed,
    released and refused; and client errors (bad body, unknown sale, unknown hold)."""
    sale = api.new_sale(stock=4, limit=2)
    key = str(uuid.uuid4())
    assert api.buy(sale, "lint-a", key=key).status_code == 201
    assert api.buy(sale, "lint-a", key=key).status_code == 201  # replayed
    assert api.buy(sale, "lint-a", quantity=2).status_code == 409  # over the per-buyer limit
    unsafe = api.http.post(
        f"/demo/sales/{sale}/purchases",
        json={"quantity": 1},
        headers={"Idempotency-Key": str(uuid.uuid4()), **api.as_buyer("lint-b")},
    )
    assert unsafe.status_code == 201, unsafe.text
    c, d = api.as_buyer("lint-c"), api.as_buyer("lint-d")
    held = []
    for buyer in (c, d):
        r = api.http.post(
            f"/sales/{sale}/holds", json={"quantity": 1}, headers={"Idempotency-Key": str(uuid.uuid4()), **buyer}
        )
        assert r.status_code == 201, r.text
        held.append(r.json()["hold_id"])
    assert api.http.post(f"/sales/{sale}/holds/{held[0]}/confirm", headers=c).status_code in (200, 201)
    assert api.http.delete(f"/sales/{sale}/holds/{held[1]}", headers=d).status_code in (200, 204)
    assert api.http.post(f"/sales/{sale}/holds/{held[1]}/confirm", headers=d).status_code >= 400
    assert api.buy(sale, "lint-e", quantity=3).status_code == 409  # sold out or over the limit
    bad = api.http.post(f"/sales/{sale}/purchases", json={"quantity": "one"}, headers=api.as_buyer("x"))
    assert bad.status_code == 400
    anonymous = api.http.post(f"/sales/{sale}/purchases", json={}, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert anonymous.status_code == 401  # an attempt refused for its identity: its own outcome
    assert api.buy(f"no-such-{uuid.uuid4().hex[:8]}", "lint-f").status_code == 404
    assert api.http.get(f"/sales/{sale}/holds/{uuid.uuid4()}", headers=c).status_code in (400, 404)  # malformed id


def _scrape_and_lint(api: Api) -> str:
    text = api.http.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("flashsale_purchase_attempts", "flashsale_hold_attempts", "flashsale_http_requests"):
        assert families[name].samples, f"{name} has no samples: the traffic did not reach it"
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, ""), lint.stdout + lint.stderr
    return text


def _created(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.split("{", 1)[0].split(" ", 1)[0].endswith("_created")]


def test_live_metrics_pass_promtool_and_have_no_created_series(api: LocalServer) -> None:
    client = Api(api)
    try:
        _traffic(client)
        text = _scrape_and_lint(client)
    finally:
        client.http.close()
    assert _created(text) == []


def test_multiprocess_metrics_pass_promtool_and_have_no_created_series(redis_server: RedisProcess) -> None:
    LOG_DIR.mkdir(exist_ok=True)
    server = LocalServer(redis_server.url, workers=2, env={"FLASHSALE_DEMO": "true"})
    server.start(log_path=str(LOG_DIR / f"api-lint-2w-{server.port}.log"))
    client = Api(server)
    try:
        for _ in range(3):  # new connections, so both workers take traffic
            client.http.close()
            client.http = httpx.Client(base_url=server.url, timeout=10.0)
            _traffic(client)
        text = _scrape_and_lint(client)
    finally:
        client.http.close()
        server.stop()
    assert _created(text) == []
