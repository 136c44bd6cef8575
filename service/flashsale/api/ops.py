"""Operations routes: liveness and readiness, the Prometheus scrape, and the benchmark's reference route (the
framework ceiling; the purchase route's unverified twin is in api/purchases.py).

Load balancers route by readiness, which checks the purchase script itself: a Redis that answers PING but
lost its script cache would otherwise look healthy. Liveness needs nothing but the process, so a shared
dependency failing never gets a healthy process replaced.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins.prometheus import PrometheusController

from flashsale.api import problems as p
from flashsale.api.deps import InventoryDep, RecorderDep
from flashsale.api.limits import BUYERS_TRACKED
from flashsale.inventory import Unavailable, sale_keys
from flashsale.telemetry import holds as hold_metrics
from flashsale.telemetry import skus as sku_metrics


class Health(msgspec.Struct):
    status: Literal["ok", "unavailable"]
    detail: str = ""


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get(
        "/live",
        operation_id="getLiveness",
        operation_class=p.DocumentedOperation,
        summary="The process is up",
        cache_control=None,
    )
    async def live(self) -> Health:
        return Health(status="ok")

    @get(
        "/ready",
        operation_id="getReadiness",
        operation_class=p.DocumentedOperation,
        summary="Redis answers, the purchase script is loaded and the buyer token keys are known",
        responses={503: ResponseSpec(data_container=Health, description="Not ready; see Retry-After.")},
    )
    async def ready(self, inventory: InventoryDep, request: Request[Any, Any, Any]) -> Response[Health]:
        if not request.app.state.verifier.ready:
            detail = "the identity provider's signing keys are not loaded yet"
            return Response(
                Health(status="unavailable", detail=detail), status_code=503, headers=p.unavailable_headers()
            )
        try:
            if await inventory.ready():
                return Response(Health(status="ok"))
            detail = "purchase script not loaded"
        except Unavailable as exc:
            detail = f"redis {exc.kind}: {exc}"
        return Response(Health(status="unavailable", detail=detail), status_code=503, headers=p.unavailable_headers())


async def refresh_sale_gauges(inventory: InventoryDep, recorder: RecorderDep) -> None:
    """Stock and oversold units are facts of Redis, not of any one process, so they are read when Prometheus
    asks (one script call per sale, concurrently) instead of being tracked on the purchase path."""
    try:
        sale_ids = await inventory.sale_ids()
        snapshots = await asyncio.gather(*(inventory.read(s) for s in sale_ids), return_exceptions=True)
    except Unavailable as exc:
        recorder.redis_error(exc.kind)
        return
    for snapshot in snapshots:
        if isinstance(snapshot, Unavailable):
            recorder.redis_error(snapshot.kind)
        elif snapshot is not None and not isinstance(snapshot, BaseException):
            recorder.prepare_sale(snapshot.sale_id)
            recorder.sale_state(snapshot)
            hold_metrics.prepare_sale(snapshot.sale_id)
            hold_metrics.sale_state(snapshot)
            sku_metrics.sale_state(snapshot)


class MetricsController(PrometheusController):
    path = "/metrics"

    @get(include_in_schema=False)
    async def get(
        self, inventory: InventoryDep, recorder: RecorderDep, request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        await refresh_sale_gauges(inventory, recorder)
        limiter = request.app.state.buyer_limiter
        if limiter is not None:
            BUYERS_TRACKED.set(max(limiter.peak, limiter.tracked))
        return await PrometheusController.get.fn(self)  # type: ignore[no-any-return]


class BareController(Controller):
    """The benchmark's reference route: the framework ceiling. Mounted only with FLASHSALE_BENCH_ROUTES=true.

    It makes the very script call of the purchase route and nothing else (no body validation, no outcome
    mapping, no telemetry), so ``make bench`` can say how close the real purchase path comes to it.
    """

    path = "/bench/bare/{sale_id:str}"
    include_in_schema = False

    @post("/", status_code=200)
    async def bare(self, sale_id: str, request: Request[Any, Any, Any], inventory: InventoryDep) -> Response[bytes]:
        await request.body()
        key = request.headers.get("idempotency-key", "bench-key")
        k = sale_keys(sale_id)
        reply = await inventory.scripts.purchase.run(
            inventory.client,
            (k.sale, k.buyers, k.orders, k.idem(key), k.holds, k.hold_expiry, k.admissions, k.buyer_orders(key)),
            (key, 1, key, "60", "16", "", ""),
        )
        return Response(str(reply[0]).encode(), media_type="text/plain")
