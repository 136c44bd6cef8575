"""Bad input gets a documented 4xx with a problem body, never a 500, and changes nothing."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from flashsale.identity.local import DEFAULT_AUDIENCE, LocalIssuer
from tests.conftest import Api

GOOD_KEY = "0123456789abcdef"
UNAUTHENTICATED = "urn:flashsale:problem:buyer-unauthenticated"

BAD_BODIES: list[tuple[str, Any]] = [
    ("quantity string", {"quantity": "1"}),
    ("quantity zero", {"quantity": 0}),
    ("quantity negative", {"quantity": -3}),
    ("quantity huge", {"quantity": 10**12}),
    ("quantity fraction", {"quantity": 1.5}),
    ("quantity bool", {"quantity": True}),
    ("quantity null", {"quantity": None}),
    # The buyer is the token's: a body naming one is an unknown field, whoever it names.
    ("buyer_id beside quantity", {"buyer_id": "a", "quantity": 1}),
    ("buyer_id alone", {"buyer_id": "a"}),
    ("buyer_id of another", {"buyer_id": "someone-else", "quantity": 1}),
    ("buyer_id empty", {"buyer_id": "", "quantity": 1}),
    ("buyer_id number", {"buyer_id": 7, "quantity": 1}),
    ("unknown field", {"quantity": 1, "price": 0}),
    ("array body", [1, 2]),
    ("string body", "a"),
]


def _post(
    client: Api,
    sale: str,
    content: bytes,
    key: str | None = GOOD_KEY,
    content_type: str = "application/json",
    buyer: str | None = "a",
) -> Any:
    headers = {"Content-Type": content_type, **(client.as_buyer(buyer) if buyer is not None else {})}
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
    if isinstance(body, dict) and "buyer_id" in body:
        assert "buyer_id" in r.json()["detail"], r.text
    assert client.audit(sale)["remaining"] == 5


def test_an_empty_object_buys_one_unit(client: Api) -> None:
    """``quantity`` defaults to 1 and the buyer comes from the token: ``{}`` is a whole purchase."""
    sale = client.new_sale(stock=5)
    r = _post(client, sale, b"{}", key=str(uuid.uuid4()))
    assert r.status_code == 201, r.text
    assert (r.json()["buyer_id"], r.json()["quantity"]) == ("a", 1)
    assert client.audit(sale)["remaining"] == 4


def _other_issuer_token(folder: Path) -> str:
    """Well formed, with the demo issuer's ``iss`` and ``aud``, signed by a key the server never saw."""
    return LocalIssuer.at(folder / "other-key.json").mint("a", DEFAULT_AUDIENCE)


def _tampered(token: str) -> str:
    """The same signature over a payload that now names another buyer."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


AUTHORIZATIONS = ["missing", "empty", "scheme only", "basic", "garbage", "three dots", "tampered", "expired", "foreign"]


@pytest.mark.parametrize("case", AUTHORIZATIONS)
def test_missing_or_bad_buyer_token_is_401_and_sells_nothing(client: Api, case: str, tmp_path: Path) -> None:
    sale = client.new_sale(stock=5)
    good = client.server.token("a")
    values = {
        "missing": None,
        "empty": "",
        "scheme only": "Bearer",
        "basic": "Basic " + base64.b64encode(b"a:secret").decode(),
        "garbage": "Bearer not-a-token-at-all",
        "three dots": "Bearer ...",
        "tampered": "Bearer " + _tampered(good),
        "expired": "Bearer " + client.server.token("a", ttl_s=-300),  # past any leeway (60 s at most)
        "foreign": "Bearer " + _other_issuer_token(tmp_path),
    }
    value = values[case]
    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    if value is not None:
        headers["Authorization"] = value
    r = client.http.post(f"/sales/{sale}/purchases", content=b'{"quantity":1}', headers=headers)
    _assert_problem(r, {401})
    assert r.json()["type"] == UNAUTHENTICATED
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    if value is not None and value.startswith("Bearer "):
        assert 'error="invalid_token"' in challenge, challenge
        token = value.removeprefix("Bearer ")
        if len(token) > 8:  # the answer never repeats the token (nor its signature)
            assert token not in r.text and token.split(".")[-1] not in r.text and token not in challenge
    audit = client.audit(sale)
    assert (audit["remaining"], audit["orders"]) == (5, 0)


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
    headers.update(client.as_buyer("a"))
    r = client.http.post(f"/sales/{sale}/purchases", content=b'{"quantity":1}', headers=headers)
    _assert_problem(r, {400})
    assert client.audit(sale)["remaining"] == 5


def test_malformed_json_and_wrong_type(client: Api) -> None:
    sale = client.new_sale(stock=5)
    for content, ctype in (
        (b"{not json", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"quantity=1", "application/x-www-form-urlencoded"),
    ):
        r = _post(client, sale, content, key=str(uuid.uuid4()), content_type=ctype)
        _assert_problem(r, {400, 415})
    assert client.audit(sale)["remaining"] == 5


def test_oversized_body_is_413(client: Api) -> None:
    sale = client.new_sale(stock=5)
    big = json.dumps({"quantity": 1, "pad": "x" * 100_000}).encode()
    r = _post(client, sale, big, key=str(uuid.uuid4()))
    assert r.status_code == 413
    assert r.json()["type"] == "urn:flashsale:problem:body-too-large"
    assert client.audit(sale)["remaining"] == 5


@pytest.mark.parametrize("sale_id", ["UPPER", "has_underscore", "-leading", "a" * 65, "br{ace}"])
def test_bad_sale_id_is_400(client: Api, sale_id: str) -> None:
    r = _post(client, sale_id, b'{"quantity":1}')
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
