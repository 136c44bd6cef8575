"""Liveness and readiness. Load balancers route by readiness, which checks the purchase script itself:
a Redis that answers PING but lost its script cache would otherwise look healthy."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec

from flashsale.api import problems as p
from flashsale.api.deps import InventoryDep
from flashsale.api.responses import DocumentedOperation
from flashsale.api.schemas import Health
from flashsale.inventory import Unavailable


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/live", summary="The process is up", cache_control=None)
    async def live(self) -> Health:
        return Health(status="ok")

    @get(
        "/ready", operation_class=DocumentedOperation,
        summary="Redis answers and the purchase script is loaded",
        responses={503: ResponseSpec(data_container=Health, description="Not ready; see Retry-After.")},
    )
    async def ready(self, inventory: InventoryDep) -> Response[Health]:
        try:
            if await inventory.ready():
                return Response(Health(status="ok"))
            detail = "purchase script not loaded"
        except Unavailable as exc:
            detail = f"redis {exc.kind}: {exc}"
        return Response(Health(status="unavailable", detail=detail), status_code=503,
                        headers=p.unavailable_headers())

