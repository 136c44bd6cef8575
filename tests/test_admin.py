"""Admin routes: bearer token compared in constant time; without a configured token, every call is refused."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from flashsale.local import LocalServer
from flashsale.security import admin_token_is_weak, check_admin_token, check_admission_key
from flashsale.settings import Settings, SettingsError
from tests.conftest import Api, start_api
from tests.servers import RedisProcess

ADMIN_CALLS = [
    ("POST", "/admin/sales", {"sale_id": "x-admin", "name": "x", "stock": 1}),
    ("POST", "/admin/sales/x-admin/restock", {"units": 1}),
    ("POST", "/admin/sales/x-admin/close", None),
    ("DELETE", "/admin/sales/x-admin", None),
    ("GET", "/admin/sales/x-admin/audit", None),
    ("GET", "/admin/sales", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token-wrong-token-wrong", "Basic abc", "Bearer"])
def test_missing_or_wrong_token_is_401(client: Api, method: str, path: str, body: object, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    r = client.http.request(method, path, json=body, headers=headers)
    assert r.status_code == 401
    assert r.json()["type"] == "urn:flashsale:problem:unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert client.http.get("/sales/x-admin").status_code == 404


@pytest.fixture
def api_without_token(redis_server: RedisProcess) -> Iterator[LocalServer]:
    server = start_api(redis_server.url, FLASHSALE_ADMIN_TOKEN="")
    yield server
    server.stop()


def test_no_token_configured_refuses_every_admin_call(api_without_token: LocalServer) -> None:
    with httpx.Client(base_url=api_without_token.url) as http:
        for method, path, body in ADMIN_CALLS:
            for auth in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer anything"}):
                r = http.request(method, path, json=body, headers=auth)
                assert r.status_code == 403, (method, path)
                assert r.json()["type"] == "urn:flashsale:problem:admin-disabled"


def test_full_admin_cycle(client: Api) -> None:
    sale = client.new_sale(stock=3)
    again = client.http.post("/admin/sales", json={"sale_id": sale, "name": "dup", "stock": 9}, headers=client.auth)
    assert again.status_code == 409
    assert again.json()["type"] == "urn:flashsale:problem:sale-exists"
    assert client.sale(sale)["stock"] == 3
    assert sale in client.http.get("/admin/sales", headers=client.auth).json()
    assert client.buy(sale).status_code == 201
    assert client.http.delete(f"/admin/sales/{sale}", headers=client.auth).status_code == 204
    assert client.http.get(f"/sales/{sale}").status_code == 404
    assert client.http.delete(f"/admin/sales/{sale}", headers=client.auth).status_code == 404
    assert sale not in client.http.get("/admin/sales", headers=client.auth).json()


def test_server_refuses_to_start_with_weak_token_outside_demo() -> None:
    for token in (None, "", "changeme", "short", "a" * 40):
        assert admin_token_is_weak(token)
        with pytest.raises(SettingsError):
            check_admin_token(Settings(redis_url="redis://x", admin_token=token))
    strong = secrets.token_urlsafe(32)
    assert not admin_token_is_weak(strong)
    check_admin_token(Settings(redis_url="redis://x", admin_token=strong))
    check_admin_token(Settings(redis_url="redis://x", admin_token=None, admin_enabled=False))
    check_admin_token(Settings(redis_url="redis://x", admin_token="weak", demo=True))


def test_the_admission_key_is_required_outside_demo_and_independent_of_the_admin_token() -> None:
    admin = secrets.token_urlsafe(32)
    key = secrets.token_urlsafe(32)
    refusals = {
        None: "is unset",
        admin: "must differ from FLASHSALE_ADMIN_TOKEN",
        "a" * 16 + "b" * 16: "is weak",
    }
    for given, why in refusals.items():
        with pytest.raises(SettingsError, match=why):
            check_admission_key(Settings(redis_url="redis://x", admin_token=admin, admission_key=given))
    with pytest.raises(SettingsError, match="must differ"):  # nor an old admin token kept as a previous key
        check_admission_key(
            Settings(redis_url="redis://x", admin_token=admin, admission_key=key, admission_keys_previous=admin)
        )
    with pytest.raises(SettingsError, match="FLASHSALE_ADMISSION_KEY=\\*\\*\\*"):  # too short: the value masked
        Settings.from_env({"FLASHSALE_ADMISSION_KEY": "short"})
    good = Settings(redis_url="redis://x", admin_token=admin, admission_key=key, admission_keys_previous=key[::-1])
    check_admission_key(good)
    check_admission_key(Settings(redis_url="redis://x", admin_token=admin, demo=True))
    shown = repr(good) + str(good) + str(good.describe())
    assert key not in shown and key[::-1] not in shown and admin not in shown, shown
