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
connection is closed; a handler awaiting the body sees a disconnect (logged as one line, api/errors.py).
Timeouts come from ``FLASHSALE_HEADER_TIMEOUT_S`` and ``FLASHSALE_BODY_TIMEOUT_S``, read once per worker.

The same protocol applies the worker's in-flight budget (api/overload.py) as soon as a request's headers are
in: it counts the request in, or answers ``503 overloaded`` itself without starting the app (``_refuse``).

It also holds the event loop ``flashsale serve`` gives uvicorn (``new_event_loop``): uvloop, except that a
listening socket accepts every connection waiting in its queue each time it is readable (``AcceptAllServer``).
See that class for why.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from flashsale.api import overload
from flashsale.api.problems import REQUEST_TIMEOUT, RETRY_AFTER_S
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
        self._refusing = False
        """The request being parsed was refused by the in-flight budget: its body is dropped."""
        self._refusal_pause: asyncio.TimerHandle | None = None

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
        if self._refusal_pause is not None:
            self._refusal_pause.cancel()
            self._refusal_pause = None
            if overload.ACTIVE is not None:
                overload.ACTIVE.unpark(id(self))
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "headers"
        if self._read_deadline is None:  # the next request on a keep-alive connection
            self._arm(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._phase = "body"
        self._arm(self.body_timeout_s)
        budget = overload.ACTIVE
        if (
            budget is not None
            and not self.url.startswith(overload.RAW_EXEMPT_PREFIXES)
            and not self.parser.should_upgrade()  # an upgrade leaves this protocol: it would never be counted out
        ):
            if not budget.full():
                budget.admit(self.scope)  # type: ignore[arg-type]
            elif self.cycle is None or self.cycle.response_complete:  # never answer ahead of a pipelined request
                self._refuse(budget)
                return
        super().on_headers_complete()

    def _refuse(self, budget: overload.InFlightBudget) -> None:
        """The in-flight budget's refusal (api/overload.py) without a request task, a scope or the app: written
        here, it costs a fraction of the same refusal through the ASGI layer.

        Then the connection is not read until a slot is free or the ``Retry-After`` it was told has passed,
        whichever comes first (``InFlightBudget.park``): a client that sends again at once (wrk, a retry loop)
        waits its turn in its socket buffer, in arrival order, instead of making the worker refuse it over and
        over: with 1,000 connections in a closed loop and no pause, the refusals took every loop iteration and
        the requests inside the budget missed the Redis deadline (load/README.md, "Every buyer answered"). A
        balancer that sends other clients' requests on this connection sees them wait only for a free slot.
        """
        budget.refused()
        self._refusing = True
        if not self.parser.should_keep_alive():
            self.transport.write(overload.RAW_REFUSAL_CLOSE)
            self.transport.close()
            return
        self.transport.write(overload.RAW_REFUSAL)
        self.flow.pause_reading()
        if self._refusal_pause is None:
            self._refusal_pause = self.loop.call_later(RETRY_AFTER_S, self._end_refusal_pause)
            budget.park(id(self), self._end_refusal_pause)

    def _end_refusal_pause(self) -> bool:
        """Read the connection again (a slot was freed, or Retry-After passed); False if it is closed."""
        if self._refusal_pause is None:
            return False
        self._refusal_pause.cancel()
        self._refusal_pause = None
        if overload.ACTIVE is not None:
            overload.ACTIVE.unpark(id(self))
        if self.transport.is_closing():
            return False
        self.flow.resume_reading()
        return True

    def on_body(self, body: bytes) -> None:
        if not self._refusing:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._phase = "idle"
        if self._refusing:
            self._refusing = False
            if not self.transport.is_closing():  # idle from now on, as after any answer
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )
            return
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


# -- accepting connections -------------------------------------------------------------------------------------

ACCEPT_RETRY_S = 1.0
"""After the process ran out of file descriptors (or memory) for a new connection, accepting pauses this long
(as asyncio's own loop does), leaving the connections in the kernel's queue, instead of spinning on the error."""
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

log = logging.getLogger("flashsale.server")


class AcceptAllServer(asyncio.AbstractServer):
    """A listening socket served by uvloop, accepting every waiting connection when it is readable.

    Why hand-written: uvloop's servers accept through libuv, and libuv (since 1.45, libuv PR #3696) accepts one
    connection per event-loop iteration, relying on level-triggered polling to come back for the next. An
    iteration of a busy worker runs every request that became ready, so it lasts 100-250 ms with a few hundred
    connections in flight, and new connections are accepted at 4-10 a second while the others are served in a
    closed loop: measured here with 1,000 connections on a hello-world app (uvicorn 0.54, uvloop 0.23), ~300
    connections sat in the listen queue (``ss -lnt`` Recv-Q) for 3.5-4 s while ``strace`` showed exactly one
    ``accept4`` per ``epoll_pwait`` returning 640-650 ready sockets, and their first requests waited 4-6 s.
    Those are the buyers load/README.md ("Every buyer answered") counts as unanswered after 2 s.

    asyncio's selector loop accepts up to ``backlog`` connections per wake-up; this does the same on uvloop and
    hands each socket to uvloop's ``connect_accepted_socket``, so connections keep uvloop's transports.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: list[socket.socket],
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
    ) -> None:
        self._loop = loop
        self._sockets = sockets
        self._factory = protocol_factory
        self._backlog = max(1, backlog)
        self._serving = False
        self._closed = False
        self._connecting: set[asyncio.Task[Any]] = set()

    # asyncio.AbstractServer
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pause()
        for sock in self._sockets:
            sock.close()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._resume()

    async def serve_forever(self) -> None:
        self._resume()
        await self._loop.create_future()  # until cancelled, as asyncio's servers do

    async def wait_closed(self) -> None:
        """Nothing to wait for: uvicorn closes its connections itself on shutdown."""

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    # accepting
    def _resume(self) -> None:
        if self._serving or self._closed:
            return
        self._serving = True
        for sock in self._sockets:
            self._loop.add_reader(sock.fileno(), self._accept_all, sock)

    def _pause(self) -> None:
        if not self._serving:
            return
        self._serving = False
        for sock in self._sockets:
            self._loop.remove_reader(sock.fileno())

    def _accept_all(self, sock: socket.socket) -> None:
        for _ in range(self._backlog):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    log.warning("accept: %s; accepting again in %.0f s", exc.strerror, ACCEPT_RETRY_S)
                    self._pause()
                    self._loop.call_later(ACCEPT_RETRY_S, self._resume)
                    return
                continue  # ECONNABORTED and the like: that client gave up, take the next
            conn.setblocking(False)
            task = self._loop.create_task(self._loop.connect_accepted_socket(self._factory, conn))
            self._connecting.add(task)
            task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        self._connecting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("connection not set up: %r", task.exception())


def _listening_sockets(host: str | Iterable[str] | None, port: int | None, backlog: int) -> list[socket.socket]:
    """Bound and listening TCP sockets for ``host``/``port``, one per address, as ``loop.create_server`` makes."""
    hosts = [host] if host is None or isinstance(host, str) else list(host)
    sockets: list[socket.socket] = []
    seen: set[tuple[Any, ...]] = set()
    try:
        for one in hosts:
            for family, kind, proto, _, address in socket.getaddrinfo(
                one or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            ):
                if (family, address) in seen:
                    continue
                seen.add((family, address))
                sock = socket.socket(family, kind, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class AcceptAllLoop(uvloop.Loop):
    """uvloop whose plain TCP servers are ``AcceptAllServer``; TLS and Unix sockets keep uvloop's own."""

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        start_serving: bool = True,
        **kwargs: Any,
    ) -> asyncio.AbstractServer:
        tcp = sock is None or sock.family in (socket.AF_INET, socket.AF_INET6)
        if ssl is not None or kwargs.get("reuse_port") or not tcp:
            uvloop_create: Any = super().create_server
            return await uvloop_create(  # type: ignore[no-any-return]
                protocol_factory, host, port, sock=sock, backlog=backlog, ssl=ssl, start_serving=start_serving, **kwargs
            )
        sockets = [sock] if sock is not None else _listening_sockets(host, port, backlog)
        for one in sockets:
            one.setblocking(False)
            one.listen(backlog)
        server = AcceptAllServer(self, sockets, protocol_factory, backlog)
        if start_serving:
            await server.start_serving()
        return server


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop factory ``flashsale serve`` names to uvicorn (``loop="flashsale.server:new_event_loop"``)."""
    return AcceptAllLoop()
