"""The smallest ASGI app (``200 ok`` to everything): what a server costs with no framework and no Redis.

``python -m load.bench.starvation`` runs it under each server configuration to tell the server's share of a
stall from the app's.
"""

from __future__ import annotations

from typing import Any

from litestar.types import Receive, Scope, Send

START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
}
BODY = {"type": "http.response.body", "body": b"ok"}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await send(START)  # type: ignore[arg-type]
        await send(BODY)  # type: ignore[arg-type]


def litestar_app() -> Any:
    """The same answer from a one-route Litestar app (``--factory``): the framework's own cost."""
    from litestar import Litestar, get

    @get("/", media_type="text/plain", sync_to_thread=False)
    def hello() -> str:
        return "ok"

    return Litestar([hello])
