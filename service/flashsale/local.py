"""An API server in a child process on a free loopback port: used by ``flashsale attack`` without ``--url``,
the benchmark and the test suite, so all three run the very command a user runs."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from types import TracebackType

import httpx

from flashsale.embedded import free_port


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


class LocalServerError(RuntimeError):
    pass


class LocalServer:
    def __init__(
        self,
        redis_url: str,
        env: Mapping[str, str] | None = None,
        workers: int = 1,
        port: int | None = None,
        admin_token: str | None = None,
        server: str = "uvicorn",
    ) -> None:
        self.port = port or free_port()
        self.admin_token = admin_token or secrets.token_urlsafe(32)
        given = (env or {}).get("FLASHSALE_ADMISSION_KEY")
        self.admission_key = secrets.token_urlsafe(32) if given is None else given
        """The key its tickets and admission tokens are signed with (the ``env`` one if given, even empty to
        start without one, else random)."""
        self.workers = workers
        self.server = server
        self.env = {
            **os.environ,
            "FLASHSALE_REDIS_URL": redis_url,
            "FLASHSALE_ADMIN_TOKEN": self.admin_token,
            "FLASHSALE_ADMISSION_KEY": self.admission_key,
            "FLASHSALE_HOST": "127.0.0.1",
            "FLASHSALE_PORT": str(self.port),
            "FLASHSALE_WORKERS": str(workers),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0, log_path: str | None = None) -> str:
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flashsale", "serve", "--server", self.server],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
            start_new_session=True,
        )
        if log_path:
            out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalServerError(f"server exited with {self.process.returncode} (log: {log_path})")
            try:
                if httpx.get(self.url + "/health/ready", timeout=1.0).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise LocalServerError(f"server not ready on {self.url} within {timeout_s} s")

    def worker_pids(self) -> list[int]:
        """PIDs of the worker processes (children of the server process, not the span exporter processes)."""
        if self.process is None:
            return []
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
                children = [int(x) for x in f.read().split()]
        except OSError:
            return []
        helpers = (b"resource_tracker", b"flashsale.telemetry.exporter")
        workers = [pid for pid in children if not any(h in _cmdline(pid) for h in helpers)]
        return workers or [self.process.pid]

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
