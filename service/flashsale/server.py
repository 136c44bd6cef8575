"""uvicorn's httptools protocol with a deadline on reading each request: slow clients cannot hold a worker.

Why hand-written: uvicorn (0.54) has no header or body read timeout. Its only timer is the keep-alive one,
armed after a response; a connection that sends its headers one byte at a time, or headers and then never its
body, is held forever (checked here: 300 such connections stayed open for the whole test), and each one that
reached the app holds a task awaiting ``receive()``. ``limit_concurrency`` does not help: it counts those very
connections, so a flood past it makes uvicorn answer 503 to every real buyer. An ASGI middleware cannot
help either: the app is called only once the headers are complete.

So this protocol arms one timer per request:

- ``header_timeout_s`` from the connection's start (or from the first byte of the next request on a
  keep-alive connection) until its headers are complete;
- ``body_timeout_s`` from then until the whole body is in.

When it fires and no response has started, the client gets a ``408`` problem (``urn:flashsale:problem:
request-timeout``) with ``Connection: close`` (a connection that never sent a byte is just closed), and the
connection is closed; a handler awaiting the body sees a disconnect (logged as one INFO line, errors.py).
Timeouts come from ``FLASHSALE_HEADER_TIMEOUT_S`` and ``FLASHSALE_BODY_TIMEOUT_S``, read once per worker.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from flashsale.api.problems import REQUEST_TIMEOUT
from flashsale.settings import Settings


def _timeout_response() -> bytes:
    problem = REQUEST_TIMEOUT
    body = json.dumps(
        {
            "type": problem.uri,
            "title": problem.title,
            "status": problem.status,
            "detail": "the request's headers or body arrived too slowly",
        }
    ).encode()
    head = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
        b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return head + body


TIMEOUT_RESPONSE = _timeout_response()


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` plus the per-request read deadline described in the module docstring."""

    header_timeout_s: float | None = None
    body_timeout_s: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cls = type(self)
        if cls.header_timeout_s is None or cls.body_timeout_s is None:
            settings = Settings.from_env()
            cls.header_timeout_s, cls.body_timeout_s = settings.header_timeout_s, settings.body_timeout_s
        self._read_deadline: asyncio.TimerHandle | None = None
        self._phase = "idle"
        """idle (no byte of a request yet), headers, or body."""

    def _arm(self, seconds: float | None) -> None:
        self._disarm()
        if seconds is not None:
            self._read_deadline = self.loop.call_later(seconds, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "headers"
        if self._read_deadline is None:  # the next request on a keep-alive connection
            self._arm(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._phase = "body"
        self._arm(self.body_timeout_s)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._phase = "idle"
        super().on_message_complete()

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        # No 408 over a response being written, nor once the handler answered this very request (say a 413
        # before its body came): then only close.
        cycle = self.cycle
        started = cycle is not None and cycle.response_started
        if (self._phase == "headers" and not (started and not cycle.response_complete)) or (
            self._phase == "body" and not started
        ):
            self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()
