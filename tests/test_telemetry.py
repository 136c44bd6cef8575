"""Telemetry: spans per attempt, OTLP export leaving the process, one JSON log line per attempt, metrics."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from litestar.testing import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flashsale.app import create_app
from flashsale.local import LocalServer
from flashsale.settings import Settings
from flashsale.tracing import exporter_from_env
from tests.conftest import LOG_DIR, Api, start_api
from tests.servers import RedisProcess


def _admin(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_attempt_has_a_span_with_a_redis_child(redis_server: RedisProcess) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    token = secrets.token_urlsafe(32)
    app = create_app(Settings(redis_url=redis_server.url, admin_token=token), tracer_provider=provider)
    sale = f"tr-{uuid.uuid4().hex[:8]}"
    with TestClient(app) as client:
        assert client.post("/admin/sales", json={"sale_id": sale, "name": "t", "stock": 1},
                           headers=_admin(token)).status_code == 201
        exporter.clear()
        for buyer in ("a", "b"):
            client.post(f"/sales/{sale}/purchases", json={"buyer_id": buyer, "quantity": 1},
                        headers={"Idempotency-Key": str(uuid.uuid4())})
    spans = exporter.get_finished_spans()
    attempts = [s for s in spans if s.name == "purchase attempt"]
    assert [s.attributes["flashsale.outcome"] for s in attempts] == ["sold", "sold_out"]
    for attempt in attempts:
        assert attempt.attributes["flashsale.sale"] == sale
        assert attempt.attributes["flashsale.quantity"] == 1
        children = [s for s in spans if s.parent is not None and s.parent.span_id == attempt.context.span_id]
        assert [c.name for c in children] == ["redis purchase.lua"]
        assert children[0].attributes["db.system"] == "redis"
        server_span = next(s for s in spans if s.context.span_id == attempt.parent.span_id)
        assert server_span.kind.name == "SERVER"


def test_no_exporter_configured_means_no_tracing() -> None:
    assert exporter_from_env({}) is None
    assert exporter_from_env({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}) is None
    assert exporter_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}) == "otlp"
    assert exporter_from_env({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}) is None
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", admin_token=secrets.token_urlsafe(32)))
    assert app.state.recorder.tracer is None


class _Collector(BaseHTTPRequestHandler):
    received: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        type(self).received.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def otlp_collector() -> Iterator[ThreadingHTTPServer]:
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_otlp_export_leaves_the_process(redis_server: RedisProcess, otlp_collector: ThreadingHTTPServer) -> None:
    endpoint = f"http://127.0.0.1:{otlp_collector.server_address[1]}"
    server = start_api(redis_server.url, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_SERVICE_NAME="flashsale-test",
                       OTEL_BSP_SCHEDULE_DELAY="100")
    try:
        api = Api(server)
        sale = api.new_sale(stock=3)
        assert api.buy(sale, "otlp-buyer").status_code == 201
        deadline = time.monotonic() + 15
        names: set[str] = set()
        while time.monotonic() < deadline and "purchase attempt" not in names:
            names = {span.name for req in list(_Collector.received) for rs in req.resource_spans
                     for ss in rs.scope_spans for span in ss.spans}
            time.sleep(0.05)
        assert {"purchase attempt", "redis purchase.lua"} <= names
        services = {attr.value.string_value for req in _Collector.received for rs in req.resource_spans
                    for attr in rs.resource.attributes if attr.key == "service.name"}
        assert services == {"flashsale-test"}
        api.http.close()
    finally:
        server.stop()


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
                got = ",".join(sorted(line[line.index("{") + 1: line.rindex("}")].split(",")))
                if all(part in got.split(",") for part in want.split(",")):
                    total += float(line.rsplit(" ", 1)[1])
        return total

    assert value("flashsale_purchase_attempts_total", sale=sale, path="safe", outcome="sold") == 5
    assert value("flashsale_purchase_attempts_total", sale=sale, path="safe", outcome="sold_out") == 35
    assert value("flashsale_units_sold_total", sale=sale, path="safe") == 5
    assert value("flashsale_stock_remaining", sale=sale) == 0
    assert value("flashsale_stock_total", sale=sale) == 5
    assert value("flashsale_stock_sold", sale=sale) == 5
    assert value("flashsale_oversold_units", sale=sale) == 0
    assert value("flashsale_purchase_duration_seconds_count", path="safe", outcome="sold") >= 5
    route = "/sales/{sale_id}/purchases"
    assert value("flashsale_http_requests_total", method="POST", path=route, status_code="201") == 5
    assert value("flashsale_http_requests_total", method="POST", path=route, status_code="409") == 35


def test_refused_attempts_are_counted_as_invalid(redis_server: RedisProcess) -> None:
    token = secrets.token_urlsafe(32)
    app = create_app(Settings(redis_url=redis_server.url, admin_token=token))

    def invalid_count(text: str) -> float:
        for line in text.splitlines():
            if line.startswith("flashsale_purchase_attempts_total{") and 'outcome="invalid"' in line \
                    and 'path="safe"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    with TestClient(app) as client:
        before = invalid_count(client.get("/metrics").text)
        assert client.post("/sales/x/purchases", content=b"{bad", headers={"Idempotency-Key": "k" * 10,
                                                                           "Content-Type": "application/json"}
                           ).status_code == 400
        assert client.post("/sales/x/purchases", json={"buyer_id": "a"}).status_code == 400
        assert client.post("/sales/BAD_ID/purchases", json={"buyer_id": "a"},
                           headers={"Idempotency-Key": "k" * 10}).status_code == 400
        after = invalid_count(client.get("/metrics").text)
    assert after - before == 3
