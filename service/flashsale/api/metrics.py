"""The /metrics route: Litestar's PrometheusController, with sale gauges read from Redis at scrape time.

Stock and oversold units are facts of Redis, not of any one process, so they are read when Prometheus asks
(one script call per sale, concurrently) instead of being tracked on the purchase path.
"""

from __future__ import annotations

import asyncio

from litestar import Response, get
from litestar.plugins.prometheus import PrometheusController

from flashsale.api.deps import InventoryDep, RecorderDep
from flashsale.inventory import Unavailable


async def refresh_sale_gauges(inventory: InventoryDep, recorder: RecorderDep) -> None:
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


class MetricsController(PrometheusController):
    path = "/metrics"

    @get(include_in_schema=False)
    async def get(self, inventory: InventoryDep, recorder: RecorderDep) -> Response[bytes]:
        await refresh_sale_gauges(inventory, recorder)
        return await PrometheusController.get.fn(self)  # type: ignore[no-any-return]
