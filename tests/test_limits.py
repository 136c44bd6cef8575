"""Rate limits answer 429 with Retry-After and a problem body; they never let a flood reach Redis."""

from __future__ import annotations

import secrets
import uuid

from litestar.testing import TestClient

from flashsale.app import create_app
from flashsale.settings import Settings
from tests.conftest import ADMISSION_KEY, DemoBuyers
from tests.servers import RedisProcess


def _app(redis_server: RedisProcess, buyers: DemoBuyers, **settings: int) -> tuple[TestClient, str, str]:
    token = secrets.token_urlsafe(32)
    app = create_app(
        Settings(
            redis_url=redis_server.url,
            admin_token=token,
            admission_key=ADMISSION_KEY,
            **buyers.settings,
            **settings,
        )
    )
    return TestClient(app), token, f"rl-{uuid.uuid4().hex[:8]}"


def test_per_buyer_limit(redis_server: RedisProcess, demo_buyers: DemoBuyers) -> None:
    client, token, sale = _app(redis_server, demo_buyers, rate_limit_per_buyer=3)
    with client:
        client.post(
            "/admin/sales",
            json={"sale_id": sale, "name": "rl", "stock": 100},
            headers={"Authorization": f"Bearer {token}"},
        ).raise_for_status()
        codes = [
            client.post(
                f"/sales/{sale}/purchases",
                json={},
                headers={"Idempotency-Key": str(uuid.uuid4()), **demo_buyers.header("flooder")},
            )
            for _ in range(20)
        ]
        other = client.post(
            f"/sales/{sale}/purchases",
            json={},
            headers={"Idempotency-Key": str(uuid.uuid4()), **demo_buyers.header("calm")},
        )
        audit = client.get(f"/admin/sales/{sale}/audit", headers={"Authorization": f"Bearer {token}"}).json()
    admitted = [r for r in codes if r.status_code == 201]
    limited = [r for r in codes if r.status_code == 429]
    assert len(admitted) + len(limited) == 20
    assert 3 <= len(admitted) <= 6  # one window boundary may fall inside the loop
    assert limited[0].headers["retry-after"] == "1"
    assert limited[0].json()["type"] == "urn:flashsale:problem:rate-limited"
    assert other.status_code == 201
    assert audit["sold"] == len(admitted) + 1


def test_per_address_limit(redis_server: RedisProcess, demo_buyers: DemoBuyers) -> None:
    client, _token, _sale = _app(redis_server, demo_buyers, rate_limit_per_ip=5)
    with client:
        responses = [client.get("/sales/no-such-sale") for _ in range(20)]
        assert client.get("/health/ready").status_code == 200
    codes = [r.status_code for r in responses]
    assert 5 <= codes.count(404) <= 10
    assert codes.count(429) == 20 - codes.count(404)
    limited = next(r for r in responses if r.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["type"] == "urn:flashsale:problem:rate-limited"
