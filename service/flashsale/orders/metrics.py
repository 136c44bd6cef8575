"""The exporter's own Prometheus metrics, served on its own port (it is a separate process from the API).

Names are a contract with the dashboards and alerts (observability/): ``flashsale_orders_exported_total{sale}``,
``flashsale_export_lag_entries{sale}``, ``flashsale_export_lag_seconds{sale}``,
``flashsale_export_errors_total{kind}``. ``sale`` values come only from the sales index (admin-created), and a
deleted sale's series are removed; ``kind`` is one of ERROR_KINDS.
"""

from __future__ import annotations

import contextlib
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, start_http_server

ERROR_KINDS = ("redis", "database", "decode")
"""redis: a Redis call failed; database: a PostgreSQL write or connection failed (the batch is retried);
decode: a ledger entry lacks a buyer or quantity (left pending, never acknowledged)."""


class ExportMetrics:
    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # why: flashsale/telemetry/metrics.py
        self.registry = CollectorRegistry(auto_describe=True)
        self.exported = Counter(
            "flashsale_orders_exported",
            "Orders written to PostgreSQL (first time only)",
            ["sale"],
            registry=self.registry,
        )
        self.lag_entries = Gauge(
            "flashsale_export_lag_entries",
            "Ledger entries not yet acknowledged by the export group",
            ["sale"],
            registry=self.registry,
        )
        self.lag_seconds = Gauge(
            "flashsale_export_lag_seconds",
            "Age of the oldest unexported ledger entry (0 when caught up)",
            ["sale"],
            registry=self.registry,
        )
        self.errors = Counter("flashsale_export_errors", "Export failures by kind", ["kind"], registry=self.registry)
        for kind in ERROR_KINDS:
            self.errors.labels(kind)
        self._sales: set[str] = set()

    def track(self, sales: set[str]) -> None:
        """Follow exactly these sales: series of sales gone from the index are removed."""
        for gone in self._sales - sales:
            for metric in (self.exported, self.lag_entries, self.lag_seconds):
                with contextlib.suppress(KeyError):
                    metric.remove(gone)
        for sale in sales - self._sales:
            self.exported.labels(sale)
        self._sales = set(sales)

    def serve(self, host: str, port: int) -> Any:
        """Start the /metrics HTTP server in a daemon thread; returns (server, thread)."""
        return start_http_server(port, addr=host, registry=self.registry)
