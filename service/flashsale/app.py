"""``create_app(settings)``: plugins, routes and lifespan wired in one place, nothing else."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from litestar import Litestar, Request, Response, Router
from litestar.datastructures import ResponseHeader, State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.problem_details import ProblemDetailsPlugin
from litestar.routes import HTTPRoute
from litestar.stores.memory import MemoryStore
from litestar.types import ASGIApp

from flashsale import __version__
from flashsale.api import overload
from flashsale.api.admin import AdminController, admin_guard
from flashsale.api.attempts import count_refused
from flashsale.api.audit import AuditController
from flashsale.api.deps import dependencies
from flashsale.api.errors import log_exception
from flashsale.api.holds import HoldController
from flashsale.api.limits import RATE_LIMIT_STORE, BuyerRateLimiter, ip_rate_limit, purge_expired
from flashsale.api.ops import BareController, HealthController, MetricsController
from flashsale.api.orders import OrderController
from flashsale.api.overload import InFlightBudget, InFlightLimit
from flashsale.api.page import DemoSignInController, PageController, SignedInController, wait_page
from flashsale.api.problems import problem_details_config
from flashsale.api.purchases import DemoController, PurchaseController, UnverifiedPurchaseController
from flashsale.api.queue import QueueController, make_signer
from flashsale.api.room import AdminQueueController, RoomController
from flashsale.api.sales import SaleController
from flashsale.identity import local_issuer, verifier_for
from flashsale.inventory import Inventory
from flashsale.inventory.board import SaleBoard
from flashsale.inventory.connection import connect, warm_pool
from flashsale.orders.db import OrderStore
from flashsale.queue.controller import admit_forever
from flashsale.queue.view import QueueBoard
from flashsale.security import check_production
from flashsale.settings import Settings
from flashsale.telemetry import HOLD, NO_SALE, Recorder, SpanPipe
from flashsale.telemetry import holds as hold_metrics
from flashsale.telemetry.config import exporter_from_env
from flashsale.telemetry.http import OVERLOADED, HttpMetricsMiddleware
from flashsale.telemetry.logs import AttemptLog, flush_periodically, flush_stdout, structlog_plugin
from flashsale.telemetry.metrics import JWKS_FETCHES, observe_queue

ALLOW_TABLE = "flashsale_allow_table"

SECURITY_HEADERS = [
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="X-Frame-Options", value="DENY"),
    ResponseHeader(name="Referrer-Policy", value="no-referrer"),
]


async def answer_options(request: Request[Any, Any, Any]) -> Response[None] | None:
    """``before_request``: answer OPTIONS with the methods the app's final route table has for the path.

    A coroutine although it awaits nothing: Litestar runs a plain-function hook in a worker thread, on every
    request (the purchase path included): 3.9 % of the traced worker's event-loop samples in ``make bench``'s
    profile (thread-pool submit, futures, ``AsyncCallable``), plus a thread hand-off per request.

    Litestar's automatic OPTIONS handler lists the methods of the route object that existed when the path's
    first handler was registered: ``OPTIONS /admin/sales`` would answer ``Allow: OPTIONS, POST`` without the GET
    that lists sales (schemathesis ST205). The table is built once per app, on the first OPTIONS request.
    """
    if request.method != "OPTIONS":
        return None
    table: dict[str, str] | None = request.app.state.get(ALLOW_TABLE)
    if table is None:
        table = {
            route.path_format: ", ".join(sorted(route.methods))
            for route in request.app.routes
            if isinstance(route, HTTPRoute)
        }
        request.app.state[ALLOW_TABLE] = table
    allow = table.get(request.scope.get("path_template", ""))
    return None if allow is None else Response(None, status_code=204, headers={"Allow": allow})


def create_app(settings: Settings | None = None) -> Litestar:
    """The app. Attempts are traced when an exporter is configured by the standard ``OTEL_*`` variables."""
    settings = settings or Settings.from_env()
    check_production(settings)  # every fail-closed rule (security.py), again in each worker
    count_fetch = (lambda result: JWKS_FETCHES.labels(result).inc()) if settings.telemetry else None
    verifier = verifier_for(settings, count_fetch)
    # Each worker calls create_app, so each gets its own span pipe and exporter process (telemetry/spans.py).
    spans = SpanPipe() if settings.telemetry and exporter_from_env() else None
    recorder = Recorder(
        spans=spans,
        log=AttemptLog(settings.log_level) if settings.telemetry else None,
        metrics=settings.telemetry,
    )
    if settings.telemetry:
        recorder.count_with(HOLD, hold_metrics.count)
        hold_metrics.prepare_sale(NO_SALE)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        inventory = Inventory(connect(settings), settings)
        app.state.inventory = inventory
        board = app.state.sale_board = SaleBoard(inventory)
        # The orders database serves the admin reconcile routes only; connected on first use.
        orders = OrderStore(settings.database_url) if settings.database_url else None
        app.state.orders = orders
        with suppress(Exception):
            await inventory.load_scripts()
        with suppress(Exception):  # a drop's first burst must not wait for connections (connection.warm_pool)
            await warm_pool(inventory.client, settings.redis_max_connections)
        # Objects made at start-up live for the whole process: keep the cyclic GC's full passes off them
        # (they cause a ~40 ms p99 tail otherwise).
        gc.collect()
        gc.freeze()
        if spans is not None:
            spans.start()
        loop = asyncio.get_running_loop()
        flusher = loop.create_task(flush_periodically(recorder.flush))
        reaper = loop.create_task(inventory.reap_forever())
        keys_keeper = loop.create_task(verifier.keys.keep_fresh())
        refresher = loop.create_task(board.refresh_forever())
        admitter = loop.create_task(
            admit_forever(
                inventory,
                app.state.queue_board,
                observe_queue if settings.telemetry else None,
                signer=app.state.signer,
            )
        )
        address_store = stores.get(RATE_LIMIT_STORE)
        purger = loop.create_task(purge_expired(address_store)) if isinstance(address_store, MemoryStore) else None
        try:
            yield
        finally:
            reaper.cancel()
            keys_keeper.cancel()
            refresher.cancel()
            admitter.cancel()
            flusher.cancel()
            if purger is not None:
                purger.cancel()
            flush_stdout()
            if spans is not None:
                spans.close(timeout_s=3.0)
            await inventory.close()
            if orders is not None:
                await orders.close()

    handlers: list[Any] = [
        PurchaseController,
        HoldController,
        OrderController,
        SaleController,
        QueueController,
        RoomController,
        PageController,
        SignedInController,
        HealthController,
    ]
    if settings.telemetry:
        handlers.append(MetricsController)
    if settings.admin_enabled:
        handlers.append(
            Router(
                "/",
                route_handlers=[AdminController, AuditController, AdminQueueController],
                guards=[admin_guard(settings.admin_token)],
            )
        )
    demo_issuer = local_issuer(settings) if (settings.demo or settings.embedded) and not settings.oidc_issuer else None
    if settings.demo:
        handlers.append(DemoController)
    if demo_issuer is not None:
        handlers.append(DemoSignInController)
    if settings.bench_routes:
        handlers.extend([BareController, UnverifiedPurchaseController])

    middleware: list[Any] = [HttpMetricsMiddleware] if settings.telemetry else []

    stores: dict[str, Any] = {}
    ip_limit = ip_rate_limit(settings)
    if ip_limit is not None:
        middleware.append(ip_limit[0])
        stores.update(ip_limit[1])

    plugins: list[Any] = [
        ProblemDetailsPlugin(problem_details_config()),
        structlog_plugin(settings.log_level, log_exception),
    ]

    return Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        state=State(
            {
                "settings": settings,
                "recorder": recorder,
                "signer": make_signer(settings),
                "queue_board": QueueBoard(),
                "verifier": verifier,
                "wait_page": wait_page(settings),
                "demo_issuer": demo_issuer,
                "buyer_limiter": BuyerRateLimiter(settings.rate_limit_per_buyer, settings.rate_limit_buyers_tracked)
                if settings.rate_limit_per_buyer
                else None,
                "join_limiter": BuyerRateLimiter(settings.join_rate_per_address, settings.rate_limit_buyers_tracked)
                if settings.join_rate_per_address
                else None,
            }
        ),
        dependencies=dependencies(),
        plugins=plugins,
        middleware=middleware,
        after_exception=[count_refused],
        before_request=answer_options,
        stores=stores or None,
        response_headers=SECURITY_HEADERS,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Flash-sale engine",
            version=__version__,
            description="Sells exactly the stock there is, once per request. Errors are RFC 9457 problem details.",
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", description="FLASHSALE_ADMIN_TOKEN"),
                    "buyer": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="JWT",
                        description="A buyer's token from the shop's OpenID Connect provider (FLASHSALE_OIDC_ISSUER)",
                    ),
                }
            ),
            render_plugins=[ScalarRenderPlugin()],
            path="/schema",
        ),
        debug=False,
    )


IN_FLIGHT_TARGET_SHARE = 1.0
"""Requests let in should take, on average, at most the Redis deadline (250 ms) from arrival to answer: their
Redis call is only part of that (measured: 256 in flight at 400 purchases/s, 640 ms each, missed the deadline;
200 at 900/s, 220 ms each, did not), so the deadline keeps a margin of about two."""


def create_served_app() -> ASGIApp:
    """What ``flashsale serve`` runs: the app inside the worker's in-flight budget (api/overload.py), which
    sits outside Litestar so that a refusal costs no routing, no middleware and no body read."""
    settings = Settings.from_env()
    app = create_app(settings)
    if not settings.max_in_flight:
        return app
    limit = InFlightLimit(settings.max_in_flight, target_s=settings.redis_timeout_s * IN_FLIGHT_TARGET_SHARE)
    budget = InFlightBudget(app, limit, OVERLOADED.inc if settings.telemetry else None)
    overload.ACTIVE = budget
    return budget
