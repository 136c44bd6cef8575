"""Bad input gets a documented 4xx with a problem body, never a 500, and changes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.conftest import Api

GOOD_KEY = "0123456789abcdef"

BAD_BODIES: list[tuple[str, Any]] = [
    ("quantity string", {"buyer_id": "a", "quantity": "1"}),
    ("quantity zero", {"buyer_id": "a", "quantity": 0}),
    ("quantity negative", {"buyer_id": "a", "quantity": -3}),
    ("quantity huge", {"buyer_id": "a", "quantity": 10**12}),
    ("quantity fraction", {"buyer_id": "a", "quantity": 1.5}),
    ("quantity bool", {"buyer_id": "a", "quantity": True}),
    ("quantity null", {"buyer_id": "a", "quantity": None}),
    ("buyer missing", {"quantity": 1}),
    ("buyer empty", {"buyer_id": "", "quantity": 1}),
    ("buyer too long", {"buyer_id": "b" * 65, "quantity": 1}),
    ("buyer bad chars", {"buyer_id": "a\tb", "quantity": 1}),
    ("buyer number", {"buyer_id": 7, "quantity": 1}),
    ("unknown field", {"buyer_id": "a", "quantity": 1, "price": 0}),
    ("array body", [1, 2]),
    ("empty object", {}),
]


def _post(
    client: Api, sale: str, content: bytes, key: str | None = GOOD_KEY, content_type: str = "application/json"
) -> Any:
    headers = {"Content-Type": content_type}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.http.post(f"/sales/{sale}/purchases", content=content, headers=headers)


def _assert_problem(r: Any, statuses: set[int]) -> None:
    assert r.status_code in statuses, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == r.status_code
    assert body["type"].startswith("urn:flashsale:problem:")
    assert body["detail"]


@pytest.mark.parametrize(("case", "body"), BAD_BODIES, ids=[c for c, _ in BAD_BODIES])
def test_bad_body_is_400_and_changes_nothing(client: Api, case: str, body: Any) -> None:
    sale = client.new_sale(stock=5)
    r = _post(client, sale, json.dumps(body).encode(), key=str(uuid.uuid4()))
    _assert_problem(r, {400})
    assert r.json()["type"] == "urn:flashsale:problem:invalid-request"
    assert client.audit(sale)["remaining"] == 5


@pytest.mark.parametrize(
    "key",
    [None, "", "short", "k" * 256, "has space in it", "tab\there-x", "brace{x}yz", "ünïcödé-key"],
    ids=["missing", "empty", "too-short", "too-long", "space", "tab", "braces", "non-ascii"],
)
def test_bad_idempotency_key_is_400(client: Api, key: str | None) -> None:
    sale = client.new_sale(stock=5)
    headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key.encode("utf-8")
    r = client.http.post(f"/sales/{sale}/purchases", content=b'{"buyer_id":"a","quantity":1}', headers=headers)
    _assert_problem(r, {400})
    assert client.audit(sale)["remaining"] == 5


def test_malformed_json_and_wrong_type(client: Api) -> None:
    sale = client.new_sale(stock=5)
    for content, ctype in (
        (b"{not json", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"buyer_id=a", "application/x-www-form-urlencoded"),
    ):
        r = _post(client, sale, content, key=str(uuid.uuid4()), content_type=ctype)
        _assert_problem(r, {400, 415})
    assert client.audit(sale)["remaining"] == 5


def test_oversized_body_is_413(client: Api) -> None:
    sale = client.new_sale(stock=5)
    big = json.dumps({"buyer_id": "a", "quantity": 1, "pad": "x" * 100_000}).encode()
    r = _post(client, sale, big, key=str(uuid.uuid4()))
    assert r.status_code == 413
    assert r.json()["type"] == "urn:flashsale:problem:body-too-large"
    assert client.audit(sale)["remaining"] == 5


@pytest.mark.parametrize("sale_id", ["UPPER", "has_underscore", "-leading", "a" * 65, "br{ace}"])
def test_bad_sale_id_is_400(client: Api, sale_id: str) -> None:
    r = _post(client, sale_id, b'{"buyer_id":"a","quantity":1}')
    _assert_problem(r, {400, 404})


def test_bad_admin_bodies_are_400(client: Api) -> None:
    for body in (
        {"sale_id": "ok-id", "name": "n", "stock": -1},
        {"sale_id": "Bad_Id", "name": "n", "stock": 1},
        {"sale_id": "ok-id", "name": "", "stock": 1},
    ):
        r = client.http.post("/admin/sales", json=body, headers=client.auth)
        _assert_problem(r, {400})
    assert client.http.get("/sales/ok-id").status_code == 404
    sale = client.new_sale(stock=2)
    for units in (0, -1, 1.5, None, "many"):
        r = client.http.post(f"/admin/sales/{sale}/restock", json={"units": units}, headers=client.auth)
        _assert_problem(r, {400})
    assert client.sale(sale)["stock"] == 2
