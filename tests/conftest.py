"""Fixtures: real redis-server processes and real API servers on free loopback ports."""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flashsale.identity.local import DEFAULT_AUDIENCE, LocalIssuer
from flashsale.local import LocalServer
from tests.export_tools import new_database
from tests.idp import OidcProvider
from tests.postgres import PostgresProcess
from tests.servers import RedisClusterProcesses, RedisProcess

DEADLINE_MS = 300
ADMISSION_KEY = secrets.token_urlsafe(32)
"""One admission key for every server of the session, as one fleet has: production-mode servers on a shared Redis
refuse to start with another key than the one recorded there (queue/keyring.py)."""
LOG_DIR = Path(tempfile.gettempdir()) / "flashsale-test-logs"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    server = RedisProcess("--appendonly", "no").start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterProcesses]:
    cluster = RedisClusterProcesses(masters=3).start()
    yield cluster
    cluster.cleanup()


def start_api(redis_url: str, **env: str) -> LocalServer:
    LOG_DIR.mkdir(exist_ok=True)
    server = LocalServer(
        redis_url,
        env={
            "FLASHSALE_DEMO": "true",
            "FLASHSALE_REDIS_TIMEOUT_MS": str(DEADLINE_MS),
            "FLASHSALE_LOG_LEVEL": "WARNING",
            "FLASHSALE_ADMISSION_KEY": ADMISSION_KEY,
            # Every test buyer comes from 127.0.0.1: the per-address join limit is tested on its own servers.
            "FLASHSALE_JOIN_RATE_PER_ADDRESS": "0",
            **env,
        },
        admin_token=secrets.token_urlsafe(32),
    )
    server.start(log_path=str(LOG_DIR / f"api-{server.port}.log"))
    return server


@pytest.fixture(scope="session")
def api(redis_server: RedisProcess) -> Iterator[LocalServer]:
    server = start_api(redis_server.url)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cluster_api(redis_cluster: RedisClusterProcesses) -> Iterator[LocalServer]:
    server = start_api(redis_cluster.url, FLASHSALE_REDIS_CLUSTER="true")
    yield server
    server.stop()


class DemoBuyers:
    """Buyer tokens for an in-process app (``create_app(Settings(**buyers.settings, ...))``): the demo issuer's
    key lives in the test's own folder, so its tokens buy on that app alone."""

    def __init__(self, folder: Path) -> None:
        self.key_path = folder / "demo-issuer-key.json"
        self.issuer = LocalIssuer.at(self.key_path)
        self._headers: dict[str, dict[str, str]] = {}

    @property
    def settings(self) -> dict[str, Any]:
        return {"demo": True, "demo_issuer_key": str(self.key_path)}

    def header(self, buyer: str) -> dict[str, str]:
        """The ``Authorization`` header of ``buyer`` (minted once: RS256 signing costs ~1 ms)."""
        if buyer not in self._headers:
            self._headers[buyer] = {"Authorization": f"Bearer {self.issuer.mint(buyer, DEFAULT_AUDIENCE)}"}
        return self._headers[buyer]


@pytest.fixture
def demo_buyers(tmp_path: Path) -> DemoBuyers:
    return DemoBuyers(tmp_path)


class Api:
    """A thin synchronous client with the admin token, for readable tests."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.url = server.url
        self.http = httpx.Client(base_url=server.url, timeout=10.0)
        self.auth = {"Authorization": f"Bearer {server.admin_token}"}

    def new_sale(self, stock: int = 10, limit: int = 0, **extra: Any) -> str:
        sale = f"t-{uuid.uuid4().hex[:12]}"
        r = self.http.post(
            "/admin/sales",
            json={"sale_id": sale, "name": "test", "stock": stock, "per_buyer_limit": limit, **extra},
            headers=self.auth,
        )
        assert r.status_code == 201, r.text
        return sale

    def as_buyer(self, buyer: str, **claims: Any) -> dict[str, str]:
        """The ``Authorization`` header of ``buyer`` (a demo-issuer token this server accepts)."""
        return self.server.buyer(buyer, **claims)

    def buy(self, sale: str, buyer: str = "alice", quantity: int = 1, key: str | None = None) -> httpx.Response:
        return self.http.post(
            f"/sales/{sale}/purchases",
            json={"quantity": quantity},
            headers={"Idempotency-Key": key or str(uuid.uuid4()), **self.as_buyer(buyer)},
        )

    def audit(self, sale: str) -> dict[str, Any]:
        r = self.http.get(f"/admin/sales/{sale}/audit", headers=self.auth)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def sale(self, sale: str) -> dict[str, Any]:
        r = self.http.get(f"/sales/{sale}")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture
def client(api: LocalServer) -> Iterator[Api]:
    c = Api(api)
    yield c
    c.http.close()


async def burst(url: str, requests: list[tuple[str, dict[str, Any], dict[str, str]]]) -> list[httpx.Response]:
    """Send all requests at once, each on its own connection, released together by one gate."""
    limits = httpx.Limits(max_connections=len(requests) + 8, max_keepalive_connections=len(requests) + 8)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as http:
        gate = asyncio.Event()

        async def one(path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
            await gate.wait()
            return await http.post(path, json=body, headers=headers)

        tasks = [asyncio.create_task(one(*r)) for r in requests]
        await asyncio.sleep(0)
        gate.set()
        return await asyncio.gather(*tasks)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresProcess]:
    """A real PostgreSQL 15 server for the session (export tests); each test takes its own database."""
    server = PostgresProcess().start()
    yield server
    server.cleanup()


@pytest.fixture
def database(postgres: PostgresProcess) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL."""
    return new_database(postgres.url)


@pytest.fixture
def redis_node() -> Iterator[RedisProcess]:
    """A Redis of the test's own (the exporter exports every sale it finds: no other test's sales)."""
    server = RedisProcess("--appendonly", "no").start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """A real OpenID provider (npm oidc-provider, tests/idp) for the session: tokens through its code flow with
    PKCE (``token(buyer)``) or client_credentials (``client_token()``)."""
    provider = OidcProvider().start()
    yield provider
    provider.cleanup()
