"""Issue 18: expected conditions are quiet in the logs (a reconcile without a database is one WARNING line)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flashsale.local import LocalServer
from tests.conftest import LOG_DIR, Api, start_api
from tests.servers import RedisProcess


def log_lines(path: Path, start: int = 0) -> list[dict[str, Any]]:
    """Every line of the server's output from ``start``; a line that is not JSON is kept as ``{"raw": text}``
    so a test can both count and show it."""
    lines: list[dict[str, Any]] = []
    for raw in path.read_text(errors="replace").splitlines()[start:]:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        lines.append(parsed if isinstance(parsed, dict) else {"raw": raw})
    return lines


@pytest.fixture
def no_database_server(redis_server: RedisProcess) -> Iterator[LocalServer]:
    server = start_api(redis_server.url, FLASHSALE_LOG_LEVEL="INFO")
    yield server
    server.stop()


def test_reconcile_without_a_database_is_a_clean_503_and_one_warning(no_database_server: LocalServer) -> None:
    log = LOG_DIR / f"api-{no_database_server.port}.log"
    start = len(log.read_text(errors="replace").splitlines())
    api = Api(no_database_server)
    sale = api.new_sale(stock=3)
    answers = [
        api.http.get(f"/admin/sales/{sale}/reconcile", headers=api.auth),
        api.http.post(f"/admin/sales/{sale}/reconcile/repair", headers=api.auth),
    ]
    api.http.close()
    no_database_server.stop()  # flushes the buffered log
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["type"] == "urn:flashsale:problem:database-not-configured"
        assert answer.headers["Retry-After"] == "1"
    lines = log_lines(log, start)
    assert not [line for line in lines if "Traceback" in json.dumps(line)]
    assert not [line for line in lines if line.get("level") in {"error", "critical", "exception"}]
    warnings = [line for line in lines if line.get("event") == "database_not_configured"]
    assert [(w["level"], w["method"], w["route"], w["status"]) for w in warnings] == [
        ("warning", "GET", "/admin/sales/{sale_id}/reconcile", 503),
        ("warning", "POST", "/admin/sales/{sale_id}/reconcile/repair", 503),
    ]
    assert all(w["problem"] == "urn:flashsale:problem:database-not-configured" for w in warnings)


def test_a_refused_request_writes_one_line_on_every_buyer_route(no_database_server: LocalServer) -> None:
    """A request refused before its handler decided it (a bad body, a bad Idempotency-Key) is one log line: on a
    route that records attempts (the purchase, each hold step) its attempt line with outcome ``invalid``, and no
    ``request_refused`` beside it; on any other route (the join) one ``request_refused`` line."""
    log = LOG_DIR / f"api-{no_database_server.port}.log"
    start = len(log.read_text(errors="replace").splitlines())
    api = Api(no_database_server)
    sale = api.new_sale(stock=3)
    queued = api.new_sale(stock=3, limit=1, queue={"mode": "fifo"})
    key = {"Idempotency-Key": "0123456789abcdef"}
    bad_key = {"Idempotency-Key": "short"}
    refused = [
        api.http.post(f"/sales/{sale}/purchases", json={"quantity": "1"}, headers={**key, **api.as_buyer("a")}),
        api.http.post(f"/sales/{sale}/holds", json={"quantity": "1"}, headers={**key, **api.as_buyer("b")}),
        api.http.post(f"/sales/{sale}/holds", json={}, headers={**bad_key, **api.as_buyer("c")}),
        api.http.post(f"/sales/{sale}/holds/h-1/confirm", json={"nope": 1}, headers=api.as_buyer("d")),
        api.http.post(f"/sales/{queued}/queue", headers={**bad_key, **api.as_buyer("e")}),
    ]
    api.http.close()
    no_database_server.stop()  # flushes the buffered log
    assert [r.status_code for r in refused] == [400] * len(refused), [r.text for r in refused]
    lines = log_lines(log, start)
    attempts = sorted(
        (line["event"], line.get("path") or line.get("step"), line["status"])
        for line in lines
        if line.get("event") in {"purchase_attempt", "hold_attempt"} and line.get("outcome") == "invalid"
    )
    assert attempts == [
        ("hold_attempt", "confirm", 400),
        ("hold_attempt", "hold", 400),
        ("hold_attempt", "hold", 400),
        ("purchase_attempt", "safe", 400),
    ]
    routes = [line["route"] for line in lines if line.get("event") in {"request_refused", "client_disconnected"}]
    assert routes == ["/sales/{sale_id}/queue"]
