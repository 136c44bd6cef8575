"""Telemetry: spans per attempt, OTLP export leaving the process, one JSON log line per attempt, metrics."""

from __future__ import annotations

import json
import re
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient
from load.bench.receiver import OtlpReceiver

from flashsale.app import create_app
from flashsale.local import LocalServer
from flashsale.settings import Settings
from flashsale.telemetry import SPANS_DROPPED, SPANS_EXPORTED, SpanPipe, parse_traceparent
from flashsale.telemetry import spans as spans_module
from flashsale.telemetry.config import exporter_from_env
from tests.conftest import ADMISSION_KEY, LOG_DIR, Api, DemoBuyers, start_api
from tests.servers import RedisProcess


def _admin(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _until(predicate: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout_s`` passes (a bounded wait, never a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))


def test_every_attempt_is_one_span_at_a_real_otlp_receiver(redis_server: RedisProcess) -> None:
    """Spans leave the worker through its exporter process and arrive, decoded, at an OTLP/HTTP receiver: one
    per attempt (sold, sold out, replayed, refused), with the attempt's attributes, an incoming W3C
    traceparent honoured, and the log line carrying the same trace and span ids."""
    with OtlpReceiver(keep=True) as receiver:
        server = start_api(
            redis_server.url,
            FLASHSALE_LOG_LEVEL="INFO",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_SERVICE_NAME="flashsale-test",
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        log_file = LOG_DIR / f"api-{server.port}.log"
        try:
            api = Api(server)
            sale = api.new_sale(stock=1)
            key = str(uuid.uuid4())
            parent_trace, parent_span = uuid.uuid4().hex, secrets.token_hex(8)
            sold = api.http.post(
                f"/sales/{sale}/purchases",
                json={"quantity": 1},
                headers={
                    "Idempotency-Key": key,
                    "traceparent": f"00-{parent_trace}-{parent_span}-01",
                    **api.as_buyer("tr-a"),
                },
            )
            assert sold.status_code == 201
            assert api.buy(sale, "tr-b").status_code == 409
            assert api.buy(sale, "tr-a", key=key).status_code == 201
            assert (
                api.http.post(
                    f"/sales/{sale}/purchases",
                    json={"quantity": "1"},
                    headers={
                        "Idempotency-Key": str(uuid.uuid4()),
                        "traceparent": "00-not-a-valid-header-01",
                        **api.as_buyer("tr-c"),
                    },
                ).status_code
                == 400
            )
            assert _until(lambda: receiver.span_count >= 4)
            assert _until(lambda: _metric(api.http.get("/metrics").text, "flashsale_spans_exported_total") >= 4)
            metrics = api.http.get("/metrics").text
            api.http.close()
        finally:
            server.stop()
        spans = list(receiver.spans)
    assert len(spans) == 4
    assert _metric(metrics, "flashsale_spans_dropped_total") == 0
    assert [s.attributes["flashsale.outcome"] for s in spans] == ["sold", "sold_out", "replayed", "invalid"]
    for span in spans[:3]:
        assert span.name == "purchase attempt"
        assert span.kind == 2  # SPAN_KIND_SERVER: the attempt span is the request's server span
        assert span.attributes["flashsale.sale"] == sale
        assert span.attributes["flashsale.path"] == "safe"
        assert span.attributes["flashsale.quantity"] == 1
        assert 0 < span.attributes["flashsale.redis_script_ms"] <= (span.end_ns - span.start_ns) / 1e6
        assert span.resource["service.name"] == "flashsale-test"
    assert (spans[0].trace_id, spans[0].parent_span_id) == (parent_trace, parent_span)
    assert spans[1].parent_span_id == "" and spans[1].trace_id != parent_trace
    assert spans[3].attributes["flashsale.sale"] == "" and spans[3].parent_span_id == ""
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    attempts = [e for e in lines if e.get("event") == "purchase_attempt" and e.get("sale") == sale]
    assert [(e["trace_id"], e["span_id"]) for e in attempts] == [(s.trace_id, s.span_id) for s in spans[:3]]


def test_no_exporter_configured_means_no_tracing() -> None:
    assert exporter_from_env({}) is None
    assert exporter_from_env({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}) is None
    assert exporter_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}) == "otlp"
    assert exporter_from_env({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}) is None


def test_traceparent_parsing() -> None:
    trace, span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    expected = (int(trace[:16], 16), int(trace[16:], 16), int(span, 16))
    assert parse_traceparent(f"00-{trace}-{span}-01".encode()) == expected
    assert parse_traceparent(f"01-{trace}-{span}-00-future") == expected
    for bad in (
        None,
        b"",
        b"00-xyz",
        f"00-{'0' * 32}-{span}-01",
        f"00-{trace}-{'0' * 16}-01",
        f"ff-{trace}-{span}-01",
        f"00-{trace}-{span}-01-extra",
        f"00-{trace[:-1]}g-{span}-01",
        b"\xff",
    ):
        assert parse_traceparent(bad) is None, bad


# A stand-in exporter process that waits for a go file, then reads every frame and reports it exported.
SLOW_EXPORTER = """
import os, sys, time
import msgspec
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.01)
data = sys.stdin.buffer
while True:
    header = data.read(4)
    if len(header) < 4:
        break
    spans = msgspec.msgpack.decode(data.read(int.from_bytes(header, "big")))
    print(len(spans), 0, flush=True)
"""


def test_spans_that_do_not_fit_are_counted_as_dropped(tmp_path: Path) -> None:
    """An exporter process that does not read yet: the pipe and the worker's buffer fill, and every span that
    does not fit is counted in flashsale_spans_dropped_total; the rest are exported once it reads. Nothing is
    lost without being counted: exported + dropped == made."""
    go = tmp_path / "go"
    pipe = SpanPipe(command=[sys.executable, "-c", SLOW_EXPORTER, str(go)], max_pending_bytes=64 * 1024)
    exported0, dropped0 = SPANS_EXPORTED._value.get(), SPANS_DROPPED._value.get()
    pipe.start()
    made = 50_000
    try:
        for i in range(made):
            pipe.add(("purchase", 2**64 - 1, i + 1, i + 1, 0, 1, 2, "s", "safe", "sold", 1, 1000, "", None))
        pipe.flush()
        dropped_while_blocked = SPANS_DROPPED._value.get() - dropped0
        go.touch()
    finally:
        pipe.close(timeout_s=30)
    exported, dropped = SPANS_EXPORTED._value.get() - exported0, SPANS_DROPPED._value.get() - dropped0
    assert dropped_while_blocked > 0
    assert exported > 0
    assert exported + dropped == made


def test_one_json_log_line_per_attempt_without_secrets(redis_server: RedisProcess) -> None:
    server = start_api(redis_server.url, FLASHSALE_LOG_LEVEL="INFO")
    log_file = LOG_DIR / f"api-{server.port}.log"
    api = Api(server)
    try:
        sale = api.new_sale(stock=1)
        keys = [f"secret-key-{uuid.uuid4().hex}" for _ in range(3)]
        statuses = [api.buy(sale, f"log-buyer-{i}", 1, key).status_code for i, key in enumerate(keys)]
        assert api.buy(sale, "log-buyer-0", 1, keys[0]).status_code == 201
        assert statuses == [201, 409, 409]
    finally:
        api.http.close()
        server.stop()
    text = log_file.read_text()
    for secret in (*keys, server.admin_token):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    attempts = [e for e in lines if e.get("event") == "purchase_attempt" and e.get("sale") == sale]
    assert [e["outcome"] for e in attempts] == ["sold", "sold_out", "sold_out", "replayed"]
    assert all(e["level"] == "info" and e["path"] == "safe" and "duration_ms" in e for e in attempts)
    assert attempts[0]["key_digest"] == attempts[3]["key_digest"]
    assert re.fullmatch(r"[0-9a-f]{16}", attempts[0]["key_digest"])


def test_metrics_count_every_attempt_across_two_workers(redis_server: RedisProcess) -> None:
    LOG_DIR.mkdir(exist_ok=True)
    server = LocalServer(redis_server.url, workers=2, env={"FLASHSALE_DEMO": "true"})
    server.start(log_path=str(LOG_DIR / f"api-2w-{server.port}.log"))
    try:
        api = Api(server)
        sale = api.new_sale(stock=5)
        for i in range(40):
            api.http.close()  # a new connection each time, so both workers take requests
            api.http = httpx.Client(base_url=server.url, timeout=10.0)
            api.buy(sale, f"m{i}", 1)
        text = api.http.get("/metrics").text
        api.http.close()
    finally:
        server.stop()

    def value(name: str, **labels: str) -> float:
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{"):
                got = ",".join(sorted(line[line.index("{") + 1 : line.rindex("}")].split(",")))
                if all(part in got.split(",") for part in want.split(",")):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    assert value("flashsale_purchase_attempts_total", sale=sale, path="safe", outcome="sold") == 5
    assert value("flashsale_purchase_attempts_total", sale=sale, path="safe", outcome="sold_out") == 35
    assert value("flashsale_units_sold_total", sale=sale, path="safe") == 5
    assert value("flashsale_stock_remaining", sale=sale) == 0
    assert value("flashsale_stock_added", sale=sale) == 5
    assert value("flashsale_stock_sold", sale=sale) == 5
    assert value("flashsale_oversold_units", sale=sale) == 0
    assert value("flashsale_purchase_duration_seconds_count", path="safe", outcome="sold") >= 5
    route = "/sales/{sale_id}/purchases"
    assert value("flashsale_http_requests_total", method="POST", route=route, status_code="201") == 5
    assert value("flashsale_http_requests_total", method="POST", route=route, status_code="409") == 35


def test_refused_attempts_are_counted_as_invalid(redis_server: RedisProcess, demo_buyers: DemoBuyers) -> None:
    token = secrets.token_urlsafe(32)
    app = create_app(
        Settings(redis_url=redis_server.url, admin_token=token, admission_key=ADMISSION_KEY, **demo_buyers.settings)
    )
    buyer = demo_buyers.header("a")  # signed in: each request is refused for its input, not its identity

    def invalid_count(text: str) -> float:
        for line in text.splitlines():
            if (
                line.startswith("flashsale_purchase_attempts_total{")
                and 'outcome="invalid"' in line
                and 'path="safe"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    with TestClient(app) as client:
        before = invalid_count(client.get("/metrics").text)
        assert (
            client.post(
                "/sales/x/purchases",
                content=b"{bad",
                headers={"Idempotency-Key": "k" * 10, "Content-Type": "application/json", **buyer},
            ).status_code
            == 400
        )
        assert client.post("/sales/x/purchases", json={}, headers=buyer).status_code == 400
        assert (
            client.post("/sales/BAD_ID/purchases", json={}, headers={"Idempotency-Key": "k" * 10, **buyer}).status_code
            == 400
        )
        assert (
            client.post(
                "/sales/x/purchases", json={"buyer_id": "a"}, headers={"Idempotency-Key": "k" * 11, **buyer}
            ).status_code
            == 400
        )
        after = invalid_count(client.get("/metrics").text)
    assert after - before == 4


# A stand-in exporter process that takes one frame, reports it exported, and dies.
ONE_FRAME_EXPORTER = """
import sys
import msgspec
data = sys.stdin.buffer
header = data.read(4)
if len(header) == 4:
    print(len(msgspec.msgpack.decode(data.read(int.from_bytes(header, "big")))), 0, flush=True)
"""


def test_a_dead_exporter_process_is_restarted_and_nothing_is_lost_uncounted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each exporter process takes one frame and dies; frames it had in its pipe unread are counted as dropped,
    the next frames go to its replacement: exported + dropped == made, and more than one process exported."""
    monkeypatch.setattr(spans_module, "RESTART_EVERY_S", 0.05)
    pipe = SpanPipe(command=[sys.executable, "-c", ONE_FRAME_EXPORTER])
    exported0, dropped0 = SPANS_EXPORTED._value.get(), SPANS_DROPPED._value.get()

    def counted() -> float:
        return SPANS_EXPORTED._value.get() - exported0 + SPANS_DROPPED._value.get() - dropped0

    pipe.start()
    made = 0
    try:
        for batch in range(3):
            for i in range(100):
                made += 1
                pipe.add(("purchase", 1, batch, i + 1, 0, 1, 2, "s", "safe", "sold", 1, 1000, "", None))
            pipe.flush()
            assert _until(lambda n=made: (pipe.flush(), counted() >= n)[1], timeout_s=15)  # type: ignore[misc]
    finally:
        pipe.close(timeout_s=10)
    exported = SPANS_EXPORTED._value.get() - exported0
    assert exported >= 200  # the dead process was replaced, twice
    assert counted() == made
