"""An API server in a child process on a free loopback port: used by ``flashsale attack`` without ``--url``,
the benchmark and the test suite, so all three run the very command a user runs.

It is a laptop run by construction (loopback only, a Redis the caller started): ``FLASHSALE_EMBEDDED=true``
unless the caller's ``env`` says otherwise, so the production-only requirements of security.py do not apply.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from flashsale.embedded import free_port
from flashsale.identity.local import DEFAULT_AUDIENCE, LocalIssuer


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


class LocalServerError(RuntimeError):
    pass


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Loopback needs no proxy: an ``http_proxy`` in the environment must not route the readiness check."""


def _ready(url: str) -> bool:
    """``GET /health/ready`` answers 200 (urllib raises on any other status and on a refused connection)."""
    try:
        with _DIRECT.open(url + "/health/ready", timeout=1.0) as response:
            return response.status == 200  # type: ignore[no-any-return]
    except OSError:  # URLError and HTTPError are OSErrors
        return False


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
            "FLASHSALE_EMBEDDED": "true",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._issuer: LocalIssuer | None = None
        self._tokens: dict[tuple[str, str], str] = {}
        if "FLASHSALE_OIDC_ISSUER" not in self.env and "FLASHSALE_DEMO_ISSUER_KEY" not in self.env:
            # The demo issuer's key of this server alone: tokens minted for it buy nowhere else.
            self.env["FLASHSALE_DEMO_ISSUER_KEY"] = os.path.join(
                tempfile.mkdtemp(prefix="flashsale-issuer-"), "demo-issuer-key.json"
            )

    def token(self, buyer: str, ttl_s: int = 3600, **claims: Any) -> str:
        """A demo-issuer token for ``buyer`` that this server accepts (minted once per buyer and claims: RS256
        signing costs ~1 ms)."""
        key = (buyer, repr(sorted(claims.items())))
        token = self._tokens.get(key) if ttl_s == 3600 else None
        if token is None:
            if self._issuer is None:
                self._issuer = LocalIssuer.at(Path(self.env["FLASHSALE_DEMO_ISSUER_KEY"]))
            audience = self.env.get("FLASHSALE_OIDC_AUDIENCE") or DEFAULT_AUDIENCE
            token = self._issuer.mint(buyer, audience, ttl_s, claims)
            if ttl_s == 3600:
                self._tokens[key] = token
        return token

    def buyer(self, buyer: str, **claims: Any) -> dict[str, str]:
        """The ``Authorization`` header of ``buyer`` on this server."""
        return {"Authorization": f"Bearer {self.token(buyer, **claims)}"}

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
            if _ready(self.url):
                return self.url
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
