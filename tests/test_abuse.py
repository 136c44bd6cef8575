"""Bad input and abuse against a real server process: quiet logs, bounded metrics and memory.

A bot sending garbage must cost one log line per request at most, no traceback, and no metric series or
in-memory entry per value it makes up.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flashsale.local import LocalServer
from tests.conftest import LOG_DIR, Api, start_api
from tests.servers import RedisProcess

BAD_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/no/such/route", {}),
    ("DELETE", "/sales/demo", {}),  # 405
    ("PUT", "/admin/sales", {}),  # 405
    ("GET", "/admin/sales", {}),  # 401, no token
    ("GET", "/admin/sales", {"headers": {"Authorization": "Bearer wrong-wrong-wrong-wrong"}}),
    ("POST", "/admin/sales", {"json": {"sale_id": "Bad_Id", "name": "n", "stock": 1}, "admin": True}),
    ("POST", "/admin/sales", {"content": b"{not json", "admin": True}),
    ("POST", "/admin/sales", {"json": {"sale_id": "ok-id", "name": "n", "stock": 1, "closes_at": 0}, "admin": True}),
    ("POST", "/admin/sales/no-such-sale/restock", {"json": {"units": 1}, "admin": True}),  # 404
    ("POST", "/admin/sales/no-such-sale/restock", {"json": {"units": "many"}, "admin": True}),
    ("GET", "/admin/sales/BAD_ID/audit", {"admin": True}),
    ("GET", "/sales/no-such-sale", {}),
    ("GET", "/sales/UPPER_case", {}),
    ("POST", "/sales/demo/purchases", {"json": {"quantity": "1"}, "key": True, "buyer": True}),
    ("POST", "/sales/demo/purchases", {"json": {"buyer_id": "a", "quantity": 1}, "key": True, "buyer": True}),
    ("POST", "/sales/demo/purchases", {"json": {}, "buyer": True}),  # no Idempotency-Key
    ("POST", "/sales/demo/purchases", {"json": {}, "headers": {"Idempotency-Key": "short"}, "buyer": True}),
    ("POST", "/sales/no-such-sale/purchases", {"json": {}, "key": True, "buyer": True}),  # 404 without raising
    ("POST", "/sales/demo/purchases", {"content": b"x" * 10_000, "key": True, "buyer": True}),  # 413
    ("POST", "/demo/sales/demo/purchases", {"json": [1, 2], "buyer": True}),
    ("POST", "/demo/sales/Bad/purchases", {"json": {}, "buyer": True}),
    # No token, or not one the server can verify: 401, never a traceback.
    ("POST", "/sales/demo/purchases", {"json": {}, "key": True}),
    ("POST", "/sales/demo/purchases", {"json": {}, "key": True, "headers": {"Authorization": "Bearer x.y.z"}}),
    ("POST", "/sales/demo/purchases", {"json": {}, "key": True, "headers": {"Authorization": "Bearer " + "A" * 9000}}),
    ("POST", "/sales/demo/holds", {"json": {}, "key": True, "headers": {"Authorization": "Basic YTpi"}}),
    ("GET", "/sales/demo/holds/" + "0" * 32, {"headers": {"Authorization": "Bearer ...."}}),
    ("POST", "/sales/demo/queue", {"key": True}),
    ("GET", "/sales/demo/orders", {"headers": {"Authorization": "Bearer e30.e30.e30"}}),
]


def _log_lines(path: Path) -> list[dict[str, Any]]:
    """The app's JSON lines; uvicorn's own lines (JSON with ``logger: uvicorn...``, or any line that is not JSON)
    as ``{"uvicorn": text}``."""
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            line = None
        if not isinstance(line, dict) or str(line.get("logger", "")).startswith("uvicorn"):
            line = {"uvicorn": raw}
        lines.append(line)
    return lines


@pytest.fixture
def info_server(redis_server: RedisProcess) -> Iterator[LocalServer]:
    server = start_api(redis_server.url, FLASHSALE_LOG_LEVEL="INFO")
    yield server
    server.stop()


def _hang_up_mid_body(server: LocalServer) -> None:
    """Headers announcing a body (a signed-in buyer's: without a token the 401 comes before the body is read),
    half of it, then close: the handler is waiting for the rest."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(
            b"POST /sales/demo/purchases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {server.token('a')}\r\n".encode()
            + b'Idempotency-Key: 0123456789abcdef\r\nContent-Length: 100\r\n\r\n{"quantity":'
        )
        time.sleep(0.05)  # not synchronisation: gives the server a chance to start reading the body


def test_bad_request_burst_logs_no_traceback(info_server: LocalServer) -> None:
    log = LOG_DIR / f"api-{info_server.port}.log"
    start = len(log.read_text(errors="replace").splitlines())
    auth = {"Authorization": f"Bearer {info_server.admin_token}"}
    statuses: Counter[int] = Counter()
    rounds = 10
    with httpx.Client(base_url=info_server.url, timeout=10) as http:
        http.post("/admin/sales", json={"sale_id": "demo", "name": "demo", "stock": 10}, headers=auth)
        for _ in range(rounds):
            for method, path, spec in BAD_REQUESTS:
                headers = dict(spec.get("headers", {}))
                if spec.get("admin"):
                    headers.update(auth)
                if spec.get("buyer"):
                    headers.update(info_server.buyer("a"))
                if spec.get("key"):
                    headers["Idempotency-Key"] = str(uuid.uuid4())
                r = http.request(method, path, json=spec.get("json"), content=spec.get("content"), headers=headers)
                statuses[r.status_code] += 1
                assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
            _hang_up_mid_body(info_server)
    sent = rounds * (len(BAD_REQUESTS) + 1) + 1  # + the set-up create: a 409 (one line) when the sale exists
    info_server.stop()  # flushes the buffered log
    lines = _log_lines(log)[start:]
    tracebacks = sum("Traceback" in json.dumps(line) for line in lines)
    errors = [line for line in lines if line.get("level") in {"error", "critical"}]
    events = Counter(str(line.get("event", "uvicorn")) for line in lines)
    print(f"\n{sent} bad requests {dict(statuses)}: {len(lines)} log lines {dict(events)}, {tracebacks} tracebacks")
    assert tracebacks == 0, [line for line in lines if "Traceback" in json.dumps(line)][:2]
    assert errors == []
    assert len(lines) - events["uvicorn"] <= sent  # at most one line per request
    assert events["uvicorn"] <= 12  # start-up and shutdown
    refused = [line for line in lines if line.get("event") == "request_refused"]
    assert refused
    assert all(line["problem"].startswith("urn:flashsale:problem:") for line in refused)
    assert all(line["level"] in {"info", "warning"} for line in refused)


STRICT_ADMIN_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("number for a date-time", {"closes_at": 0}),
    ("float for a date-time", {"opens_at": 1.7e12}),
    ("date without time", {"opens_at": "2000-01-01"}),
    ("date-time without offset", {"opens_at": "2000-01-01T00:00:00"}),
    ("instant in year 10000", {"closes_at": "9999-12-31T23:59:59-01:00"}),
    ("instant before year 1", {"opens_at": "0001-01-01T00:00:00+01:00"}),
    ("string for an integer", {"stock": "5"}),
    ("boolean for an integer", {"per_buyer_limit": True}),
    ("fraction for an integer", {"stock": 2.5}),
    ("null name", {"name": None}),
]


@pytest.mark.parametrize(("case", "extra"), STRICT_ADMIN_BODIES, ids=[c for c, _ in STRICT_ADMIN_BODIES])
def test_admin_bodies_are_decoded_strictly(client: Api, case: str, extra: dict[str, Any]) -> None:
    sale = f"strict-{uuid.uuid4().hex[:8]}"
    r = client.http.post("/admin/sales", json={"sale_id": sale, "name": "n", "stock": 5, **extra}, headers=client.auth)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "urn:flashsale:problem:invalid-request"
    assert client.http.get(f"/sales/{sale}").status_code == 404  # nothing written


def test_admin_leniency_kept_where_the_schema_allows_it(client: Api) -> None:
    """Integers written 5.0 are JSON Schema integers; undeclared fields are ignored, never assigned."""
    sale = f"lenient-{uuid.uuid4().hex[:8]}"
    r = client.http.post(
        "/admin/sales",
        headers=client.auth,
        json={
            "sale_id": sale,
            "name": "n",
            "stock": 5.0,
            "per_buyer_limit": 2,
            "sold": 99,
            "opens_at": "2000-01-01T01:00:00+01:00",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["stock"] == 5
    assert r.json()["sold"] == 0
    assert r.json()["opens_at"] == "2000-01-01T00:00:00.000Z"
    restock = client.http.post(f"/admin/sales/{sale}/restock", json={"units": "3"}, headers=client.auth)
    assert restock.status_code == 400
    assert client.http.post(f"/admin/sales/{sale}/restock", json={"units": 3.0}, headers=client.auth).status_code == 200


def test_options_lists_every_method_of_the_path(client: Api) -> None:
    schema = client.http.get("/schema/openapi.json").json()
    for path, operations in schema["paths"].items():
        concrete = path.replace("{sale_id}", "some-sale")
        r = client.http.options(concrete, headers=client.auth)
        assert r.status_code == 204, path
        allowed = {m.strip() for m in r.headers["allow"].split(",")}
        documented = {m.upper() for m in operations if m in {"get", "post", "put", "patch", "delete"}}
        assert documented <= allowed, (path, allowed)
        assert allowed - documented <= {"OPTIONS", "HEAD"}, (path, allowed)


FLOOD = 10_000
BUYERS_TRACKED = 50


def _series(metrics_text: str) -> dict[str, int]:
    """Series per metric family in a /metrics answer (sample lines; histograms count their bucket lines)."""
    counts: Counter[str] = Counter()
    for line in metrics_text.splitlines():
        if line and not line.startswith("#"):
            counts[line.split("{", 1)[0].split(" ", 1)[0]] += 1
    return dict(counts)


@pytest.fixture
def limited_server(redis_server: RedisProcess) -> Iterator[LocalServer]:
    server = start_api(
        redis_server.url,
        FLASHSALE_RATE_LIMIT_PER_BUYER="2",
        FLASHSALE_RATE_LIMIT_PER_IP="5",
        FLASHSALE_RATE_LIMIT_BUYERS_TRACKED=str(BUYERS_TRACKED),
    )
    yield server
    server.stop()


async def _raw_request(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> int:
    """One HTTP/1.1 request on a kept-alive connection; returns the status. httpx costs the client about 5 ms
    of CPU per request, which made a 10,000-request flood take minutes on a busy 2-core machine."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    )
    writer.write(head.encode() + body)
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def _flood(server: LocalServer, count: int, connections: int = 32) -> Counter[tuple[str, int]]:
    """``count`` requests with made-up sale and buyer ids, spread over every refusal path, on ``connections``
    kept-alive connections.

    Each request but the per-address ones comes "from" a fresh address (``X-Forwarded-For``, trusted from
    loopback as uvicorn does by default), so the per-address limit does not hide the other paths. A made-up
    buyer is a new account: a token of its own, minted before the flood starts; ``bad_token`` sends made-up
    tokens the server cannot verify.
    """
    kinds = ("unknown_sale", "invalid_body", "per_buyer", "per_address", "unknown_route", "bad_token")
    seen: Counter[tuple[str, int]] = Counter()
    accounts = {
        i: f"b{uuid.uuid4().hex[:20]}"
        for i in range(count)
        if kinds[i % len(kinds)] in ("unknown_sale", "invalid_body")
    }
    tokens = {i: server.token(buyer) for i, buyer in accounts.items()}
    flooder = server.token("flooder")
    jobs = iter(range(count))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            for i in jobs:
                kind = kinds[i % len(kinds)]
                sale, buyer = f"s{uuid.uuid4().hex[:20]}", accounts.get(i, f"b{uuid.uuid4().hex[:20]}")
                address = "198.51.100.7" if kind == "per_address" else f"10.{i % 250}.{i // 250 % 250}.{i % 7 + 1}"
                token = tokens.get(i, flooder)
                if kind == "bad_token":
                    token = f"{uuid.uuid4().hex}.{uuid.uuid4().hex}.{uuid.uuid4().hex}"
                headers = {
                    "Idempotency-Key": uuid.uuid4().hex,
                    "X-Forwarded-For": address,
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {token}",
                }
                body: dict[str, Any] = {"quantity": "lots"} if kind == "invalid_body" else {}
                if kind == "unknown_route":
                    status = await _raw_request(reader, writer, "GET", f"/{sale}/{buyer}", headers)
                else:
                    status = await _raw_request(
                        reader, writer, "POST", f"/sales/{sale}/purchases", headers, json.dumps(body).encode()
                    )
                seen[(kind, status)] += 1
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(connections))), timeout=300)
    return seen


@pytest.mark.slow
def test_flood_of_made_up_ids_leaves_series_and_memory_bounded(limited_server: LocalServer) -> None:
    with httpx.Client(base_url=limited_server.url, timeout=10) as http:
        asyncio.run(_flood(limited_server, 100))  # every route, status and outcome seen once
        before = _series(http.get("/metrics").text)
        seen = asyncio.run(_flood(limited_server, FLOOD))
        after_text = http.get("/metrics").text
    after = _series(after_text)
    grown = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    tracked = next(
        float(line.split()[-1])
        for line in after_text.splitlines()
        if line.startswith("flashsale_rate_limit_buyers_tracked")
    )
    print(
        f"\n{FLOOD} requests {dict(sorted(seen.items()))}\nseries before {sum(before.values())}, after "
        f"{sum(after.values())}; grown: {grown}; buyers tracked at most {tracked:.0f} (cap {BUYERS_TRACKED})"
    )
    assert all(400 <= status < 500 for _, status in seen), seen
    statuses = {kind: {s for k, s in seen if k == kind} for kind, _ in seen}
    assert 429 in statuses["per_buyer"] and 429 in statuses["per_address"]
    assert 404 in statuses["unknown_sale"] and 400 in statuses["invalid_body"]
    assert 401 in statuses["bad_token"] and statuses["bad_token"] <= {401, 429}, statuses
    # Every route, status and outcome was seen in the warm-up: not one series per made-up id since.
    assert sum(max(0, n) for n in grown.values()) <= 2, grown
    assert tracked <= BUYERS_TRACKED


def test_address_store_is_purged() -> None:
    """The per-address limiter's memory store (Redis Cluster deployments) forgets expired addresses."""
    from litestar.stores.memory import MemoryStore

    from flashsale.api.limits import purge_expired

    async def go() -> int:
        store = MemoryStore()
        for i in range(FLOOD):
            await store.set(f"10.0.{i // 250}.{i % 250}", b"1", expires_in=1)
        purger = asyncio.create_task(purge_expired(store, every_s=0.1))
        deadline = time.monotonic() + 5
        while store._store and time.monotonic() < deadline:  # noqa: ASYNC110  (bounded poll of a plain dict)
            await asyncio.sleep(0.05)
        purger.cancel()
        return len(store._store)

    assert asyncio.run(go()) == 0
