"""Issue 18: every line ``flashsale serve`` writes (its own, uvicorn's start-up, access and shutdown lines, the
app's) is one JSON object; access lines say method, path and status, never a query string or a header."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flashsale.digest import key_digest
from tests.conftest import LOG_DIR, Api, start_api
from tests.servers import RedisProcess

INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
"""The one date format (timefmt.py): RFC 3339, UTC, milliseconds, Z."""


def test_every_line_of_serve_is_json(redis_server: RedisProcess) -> None:
    server = start_api(redis_server.url, FLASHSALE_LOG_LEVEL="INFO", FLASHSALE_ACCESS_LOG="true")
    log = Path(LOG_DIR / f"api-{server.port}.log")
    api = Api(server)
    try:
        sale = api.new_sale(stock=2)
        assert api.buy(sale).status_code == 201
        assert api.http.get(f"/sales/{sale}?token=secret-query-token").status_code == 200
        assert api.http.get("/no/such/route").status_code == 404
    finally:
        api.http.close()
        server.stop()
    raw = log.read_text(errors="replace").splitlines()
    not_json = []
    lines = []
    for text in raw:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            lines.append(parsed)
        else:
            not_json.append(text)
    assert not_json == []
    assert [line for line in lines if not INSTANT.match(str(line.get("timestamp")))] == []
    events = [line.get("event") for line in lines]
    assert "serving" in events
    assert any(line.get("logger") == "uvicorn.error" for line in lines)  # start-up and shutdown lines
    access = [line for line in lines if line.get("event") == "http_access"]
    assert {(a["method"], a["url_path"], a["status"]) for a in access} >= {
        ("POST", f"/sales/{sale}/purchases", 201),
        ("GET", f"/sales/{sale}", 200),
        ("GET", "/no/such/route", 404),
    }
    assert "secret-query-token" not in log.read_text()
    assert server.admin_token not in log.read_text()


def test_hold_ids_tickets_and_keys_reach_the_logs_as_digests_only(redis_server: RedisProcess) -> None:
    """Issue 23: a hold id and a queue ticket are bearer handles (whoever has one confirms the hold or polls the
    place), the admission key a secret: the access and attempt lines carry digests, the settings line masks."""
    server = start_api(
        redis_server.url, FLASHSALE_LOG_LEVEL="INFO", FLASHSALE_ACCESS_LOG="true", FLASHSALE_DEMO="false"
    )
    log = Path(LOG_DIR / f"api-{server.port}.log")
    api = Api(server)
    try:
        sale = api.new_sale(stock=5)
        hold = api.http.post(
            f"/sales/{sale}/holds", json={}, headers={"Idempotency-Key": "key-hold-1", **api.as_buyer("h1")}
        )
        assert hold.status_code == 201, hold.text
        hold_id = hold.json()["hold_id"]
        assert api.http.post(f"/sales/{sale}/holds/{hold_id}/confirm", headers=api.as_buyer("h1")).status_code == 201
        other = api.http.post(
            f"/sales/{sale}/holds", json={}, headers={"Idempotency-Key": "key-hold-2", **api.as_buyer("h2")}
        )
        released = other.json()["hold_id"]
        assert api.http.delete(f"/sales/{sale}/holds/{released}", headers=api.as_buyer("h2")).status_code == 204
        queued = api.new_sale(stock=5, limit=1, queue={"mode": "fifo"})
        joined = api.http.post(
            f"/sales/{queued}/queue", headers={"Idempotency-Key": "key-join-1", **api.as_buyer("q1")}
        )
        ticket = joined.json()["ticket"]
        assert joined.status_code == 201, joined.text
        assert api.http.get(joined.headers["Location"], headers=api.as_buyer("q1")).status_code == 200
    finally:
        api.http.close()
        server.stop()
    text = log.read_text()
    for handle in (hold_id, released, ticket, server.admission_key):
        assert handle not in text, handle
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    paths = {line["url_path"] for line in lines if line.get("event") == "http_access"}
    assert f"/sales/{sale}/holds/~{key_digest(hold_id)}/confirm" in paths, paths
    assert f"/sales/{queued}/queue/~{key_digest(ticket)}" in paths, paths
    steps = {line.get("hold_digest") for line in lines if line.get("step") in ("confirm", "release")}
    assert steps == {key_digest(hold_id), key_digest(released)}, steps
