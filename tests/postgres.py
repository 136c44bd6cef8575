"""A real PostgreSQL server for the tests: Debian's ``postgresql`` 15, in a temporary folder, on a free loopback
port, stopped (or killed) by PID.

``initdb`` refuses to run as root, so when the tests run as root the cluster is created and run as the
``postgres`` user (``runuser``) in a folder that user owns; as any other user it runs as that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from flashsale.embedded import free_port

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def pg_bin(name: str) -> str:
    for folder in PG_BIN_DIRS:
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    assert found, f"{name} not found: `make test` installs it (Debian package postgresql)"
    return found


class PostgresProcess:
    """One PostgreSQL cluster: ``start()``, ``kill()`` (SIGKILL of the postmaster), ``start()`` again, ``cleanup()``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.run_as: str | None = "postgres" if os.geteuid() == 0 else None
        # As root the folder is handed to `postgres`, who must be able to reach it: /tmp, whatever TMPDIR says.
        self.root = Path(tempfile.mkdtemp(prefix="fs-test-pg-", dir="/tmp" if self.run_as else None))
        self.data = self.root / "data"
        self.pid: int | None = None
        self._initialised = False

    @property
    def url(self) -> str:
        user = self.run_as or pwd.getpwuid(os.geteuid()).pw_name
        return f"postgresql://{user}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout, cwd="/")

    def _init(self) -> None:
        self.root.chmod(0o755)
        self.data.mkdir(mode=0o700)
        if self.run_as:
            pw = pwd.getpwnam(self.run_as)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            os.chown(self.data, pw.pw_uid, pw.pw_gid)
        self._run(pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-E", "UTF8", "--no-sync")
        self._initialised = True

    def start(self) -> PostgresProcess:
        if not self._initialised:
            self._init()
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=50 -c shared_buffers=32MB"
        )
        try:
            self._run(
                pg_bin("pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.root / "pg.log"),
                "-w",
                "-t",
                "30",
                "start",
            )
        except subprocess.CalledProcessError as exc:
            log = (self.root / "pg.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"pg_ctl start failed: {exc.stdout}{exc.stderr}\n{log}") from exc
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        self.wait_accepting()
        return self

    def wait_accepting(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL on port {self.port} does not accept connections")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the postmaster by PID and wait until every process of this cluster is gone (their working
        directory is the data folder). After a SIGKILL the backends exit once they notice the postmaster died; a
        restart must wait for them (pg_ctl refuses while they hold the shared memory), then runs crash recovery."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.processes():
            time.sleep(0.02)
        self.pid = None
        if sig == signal.SIGKILL and not self.processes():
            # The dead postmaster may linger as a zombie (its reaper is not ours), which PostgreSQL's lock-file
            # check takes for a live server: with none of the cluster's processes left, the lock file is stale.
            for stale in (
                self.data / "postmaster.pid",
                self.root / f".s.PGSQL.{self.port}.lock",
                self.root / f".s.PGSQL.{self.port}",
            ):
                stale.unlink(missing_ok=True)

    def processes(self) -> list[int]:
        """PIDs of the live processes of this cluster: postmaster, backends, background workers."""
        out = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{name}/cwd") == str(self.data) and _alive(int(name)):
                    out.append(int(name))
            except OSError:
                continue
        return out

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def cleanup(self) -> None:
        self.kill(signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z"
