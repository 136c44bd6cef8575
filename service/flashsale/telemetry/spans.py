"""Attempt spans, made in the worker as plain tuples and exported by a separate process fed through a pipe.

Why hand-written: with the OpenTelemetry SDK in the worker (ASGI middleware + attempt span + Redis child span,
``BatchSpanProcessor``), ``make bench`` measured 2,350 traced purchases/s against 5,950 untraced (0.40x, field
notes), and a py-spy profile of the traced worker (load/README.md, "Telemetry") put 21 % of the event
loop thread in OpenTelemetry code (attribute validation, context managers, semconv, propagation) and 26 % of
all busy samples in the SDK's export thread, which encodes and posts under the event loop's GIL. Here an
attempt costs the worker two random ids, one clock read and one tuple appended to a list; every 100 ms (or
every ``BATCH`` spans) the list is packed with msgpack and written to a pipe. A child process
(``flashsale.telemetry.exporter``) turns the tuples into SDK spans and exports them with the SDK's own OTLP
exporter, so endpoint, headers, compression and timeouts still come from the standard ``OTEL_*`` variables.

Nothing is dropped silently: when the pipe and the worker's pending buffer are both full (the exporter process
cannot keep up, or is gone), the spans of the batch that did not fit are counted in
``flashsale_spans_dropped_total``, and so are spans the exporter process failed to export.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import subprocess
import sys
import time
from collections import deque
from typing import Any

import msgspec

from flashsale.telemetry.metrics import SPANS_DROPPED, SPANS_EXPORTED

BATCH = 512
"""Spans per pipe write when traffic is high; below that, the periodic flush writes what there is."""
MAX_PENDING_BYTES = 4 * 1024 * 1024
"""Bytes waiting for the pipe in the worker before new batches are dropped (counted): with the pipe's 1 MiB,
about 50,000 packed spans of ~106 bytes, 10 s of one worker at 5,000 attempts/s with the collector stalled."""
PIPE_SIZE = 1024 * 1024
"""Requested pipe capacity (Linux caps it at /proc/sys/fs/pipe-max-size, 1 MiB by default)."""
RESTART_EVERY_S = 5.0
"""At most one restart of a dead exporter process per this many seconds."""

SpanRecord = tuple[str, int, int, int, int, int, int, str, str, str, int, int, str, Any]
"""(operation, trace_id_high, trace_id_low, span_id, parent_span_id, start_ns, end_ns, sale, kind, outcome,
quantity, redis_ns, error, extra): the wire format between the worker and the exporter process, packed once
here and unpacked once in ``exporter.py``. The 128-bit trace id travels as two 64-bit halves (msgpack integers
stop at 64 bits); ``parent_span_id`` 0 means a root span; ``error`` "" means none; ``extra`` is None or a dict
of further span attributes."""

_encoder = msgspec.msgpack.Encoder()
_getrandbits = random.getrandbits


def new_span_id() -> int:
    return _getrandbits(64) or 1


def new_trace_id() -> tuple[int, int]:
    """A random 128-bit trace id as (high, low) 64-bit halves."""
    return _getrandbits(64), _getrandbits(64) or 1


def parse_traceparent(value: bytes | str | None) -> tuple[int, int, int] | None:
    """W3C ``traceparent`` -> (trace id high half, low half, parent span id), or None when absent or malformed
    (then the attempt starts a new trace). The sampled flag is not consulted: every attempt is recorded."""
    if not value:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff" or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    if parts[0] == "00" and len(parts) != 4:
        return None
    try:
        high, low, span_id = int(parts[1][:16], 16), int(parts[1][16:], 16), int(parts[2], 16)
        int(parts[3], 16)
    except ValueError:
        return None
    if high == low == 0 or span_id == 0:
        return None
    return high, low, span_id


def traceparent_of(scope: Any) -> bytes | None:
    """The raw ``traceparent`` header of an ASGI scope, without building a headers object."""
    for name, value in scope["headers"]:
        if name == b"traceparent":
            return value  # type: ignore[no-any-return]
    return None


class SpanPipe:
    """The worker's end: buffers span records and writes them, packed, to the exporter process's stdin."""

    def __init__(
        self,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        self.command = command or [sys.executable, "-m", "flashsale.telemetry.exporter"]
        self.env = env
        self.max_pending_bytes = max_pending_bytes
        self.buffer: list[SpanRecord] = []
        self._pending = bytearray()
        self._frames: deque[list[int]] = deque()
        """[bytes not yet written, spans, size] of each frame in ``_pending``, oldest first (drops counted exactly)."""
        self._process: subprocess.Popen[bytes] | None = None
        self._in_flight = 0
        """Spans written whole to the current exporter process and not yet reported exported or dropped: if it
        dies, they are counted as dropped."""
        self._counts = b""
        self._last_start = 0.0

    # -- process ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._last_start = time.monotonic()
        self._process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env, close_fds=True
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._process.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        os.set_blocking(self._process.stdin.fileno(), False)
        os.set_blocking(self._process.stdout.fileno(), False)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _alive(self) -> bool:
        if self._process is not None and self._process.poll() is None:
            return True
        if time.monotonic() - self._last_start >= RESTART_EVERY_S:
            dead = self._process
            if dead is not None:
                self._read_counts()
                for stream in (dead.stdin, dead.stdout):
                    with contextlib.suppress(OSError):
                        stream.close()  # type: ignore[union-attr]
            self._lose_in_flight()
            self._drop_partial_frame()
            self.start()
            return True
        return False

    def _lose_in_flight(self) -> None:
        """The exporter process is gone: what it had taken and not reported is lost, and counted."""
        if self._in_flight > 0:
            SPANS_DROPPED.inc(self._in_flight)
        self._in_flight = 0

    def _drop_partial_frame(self) -> None:
        """A frame the dead process got only part of is lost (counted); whole frames go to the new one."""
        if self._frames and self._frames[0][0] < self._frames[0][2]:
            remaining, spans, _ = self._frames.popleft()
            del self._pending[:remaining]
            SPANS_DROPPED.inc(spans)

    # -- hot path ---------------------------------------------------------------------------------------------

    def add(self, record: SpanRecord) -> None:
        buffer = self.buffer
        buffer.append(record)
        if len(buffer) >= BATCH:
            self.flush()

    # -- periodic -----------------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Pack the buffered spans into one frame, write what the pipe takes, read the exporter's counts."""
        if self.buffer:
            spans, self.buffer = self.buffer, []
            if len(self._pending) > self.max_pending_bytes:
                SPANS_DROPPED.inc(len(spans))
            else:
                try:
                    payload = _encoder.encode(spans)
                except (OverflowError, TypeError, ValueError):  # a record that cannot be packed: counted
                    SPANS_DROPPED.inc(len(spans))
                    payload = b""
                if not payload:
                    self._read_counts()
                    return
                self._pending += len(payload).to_bytes(4, "big") + payload
                self._frames.append([len(payload) + 4, len(spans), len(payload) + 4])
        if self._pending:
            self._write()
        self._read_counts()
        if self._in_flight:
            self._alive()  # an exporter process that died holding spans: count them, start another

    def _write(self) -> None:
        """Write what the pipe takes now. With the exporter process gone, frames wait (within
        ``max_pending_bytes``, beyond which new batches are dropped and counted) for its restart."""
        if not self._alive():
            return
        assert self._process is not None and self._process.stdin is not None
        try:
            written = os.write(self._process.stdin.fileno(), self._pending)
        except OSError:  # full (BlockingIOError), or the exporter process is gone (broken pipe): later
            return
        del self._pending[:written]
        frames = self._frames
        while written and frames:
            take = min(written, frames[0][0])
            frames[0][0] -= take
            written -= take
            if frames[0][0] == 0:
                self._in_flight += frames.popleft()[1]

    def _drop_pending(self) -> None:
        """Forget unwritten frames, counting their spans as dropped (the exporter process is gone for good or
        could not take them in time at shutdown)."""
        dropped = sum(frame[1] for frame in self._frames)
        if dropped:
            SPANS_DROPPED.inc(dropped)
        self._pending.clear()
        self._frames.clear()

    def _read_counts(self, final: bool = False) -> None:
        """The exporter process writes ``exported dropped\\n`` after each export; add them to the counters."""
        if self._process is None or self._process.stdout is None:
            return
        try:
            chunk = self._process.stdout.read() if final else os.read(self._process.stdout.fileno(), 65536)
        except (BlockingIOError, OSError):
            return
        lines = (self._counts + (chunk or b"")).split(b"\n")
        self._counts = b"" if final else lines.pop()
        for line in lines:
            exported, _, dropped = line.partition(b" ")
            with contextlib.suppress(ValueError):
                done = int(exported), int(dropped)
                SPANS_EXPORTED.inc(done[0])
                SPANS_DROPPED.inc(done[1])
                self._in_flight -= done[0] + done[1]

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is left, close the pipe, and give the exporter process ``timeout_s`` to send it."""
        self.flush()
        deadline = time.monotonic() + timeout_s
        while self._pending and time.monotonic() < deadline and self._process and self._process.poll() is None:
            time.sleep(0.01)
            self._write()
        self._drop_pending()
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None and process.stdout is not None
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        os.set_blocking(process.stdout.fileno(), True)
        self._process = process
        self._read_counts(final=True)
        self._lose_in_flight()
        self._process = None
        process.stdout.close()
