"""Buyer identity against a real OpenID provider (npm oidc-provider, tests/idp) and a real server and Redis.

The server runs as in production (no demo mode: the demo issuer is off), trusting the provider's issuer. Valid
tokens come from the provider's own code flow; the refusal cases are signed here with the provider's private
keys (the test owns its key file), which is the only way to make a correctly signed token with a wrong claim.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from flashsale.local import LocalServer
from tests.conftest import ADMISSION_KEY, LOG_DIR, burst
from tests.idp import OidcProvider, generate_keys, jwt_parts
from tests.servers import RedisProcess

BUYER_UNAUTHENTICATED = "urn:flashsale:problem:buyer-unauthenticated"


def _metric(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


class Stack:
    """A production-mode server trusting one provider, and the helpers the tests share."""

    def __init__(self, redis: RedisProcess, cooldown_s: int = 30, keys: dict[str, Any] | None = None) -> None:
        self.api = LocalServer(
            redis.url,
            env={
                "FLASHSALE_DEMO": "false",
                "FLASHSALE_OIDC_ALLOW_HTTP": "true",
                "FLASHSALE_OIDC_AUDIENCE": "https://api.flashsale.test",
                "FLASHSALE_OIDC_JWKS_COOLDOWN_S": str(cooldown_s),
                "FLASHSALE_OIDC_CREATED_CLAIM": "created_at",
                "FLASHSALE_ADMISSION_KEY": ADMISSION_KEY,  # the servers on the session's Redis share one
                "FLASHSALE_LOG_LEVEL": "INFO",
                # Every test client is 127.0.0.1: the per-address join limit would count them all as one.
                "FLASHSALE_JOIN_RATE_PER_ADDRESS": "0",
            },
        )
        self.idp = OidcProvider(redirect_uris=[f"{self.api.url}/wait/signed-in"], keys=keys)
        self.api.env["FLASHSALE_OIDC_ISSUER"] = self.idp.issuer
        self.log = LOG_DIR / f"api-identity-{self.api.port}.log"
        self._private: dict[str, Any] = {}

    def start(self) -> Stack:
        self.idp.start()
        LOG_DIR.mkdir(exist_ok=True)
        self.api.start(log_path=str(self.log))
        self.http = httpx.Client(base_url=self.api.url, timeout=15.0)
        self.admin = {"Authorization": f"Bearer {self.api.admin_token}"}
        return self

    def stop(self) -> None:
        self.http.close()
        self.api.stop()
        self.idp.cleanup()

    def new_sale(self, stock: int = 10, limit: int = 0, **extra: Any) -> str:
        sale = f"id-{uuid.uuid4().hex[:10]}"
        body = {"sale_id": sale, "name": "identity", "stock": stock, "per_buyer_limit": limit, **extra}
        r = self.http.post("/admin/sales", json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        return sale

    def buy(self, sale: str, token: str | None, quantity: int = 1, **headers: str) -> httpx.Response:
        auth = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.http.post(
            f"/sales/{sale}/purchases",
            json={"quantity": quantity},
            headers={"Idempotency-Key": str(uuid.uuid4()), **auth, **headers},
        )

    def audit(self, sale: str) -> dict[str, Any]:
        r = self.http.get(f"/admin/sales/{sale}/audit", headers=self.admin)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def sign(self, claims: dict[str, Any], alg: str = "RS256", kid: str | None = None, **header: Any) -> str:
        """A token signed with the provider's own private key for ``alg`` (claims default to a valid token's)."""
        key = next(k for k in self.idp.keys["keys"] if k["alg"] == alg)
        if key["kid"] not in self._private:  # parsing a private JWK checks the key: ~70 ms for RSA here
            self._private[key["kid"]] = jwt.PyJWK(key).key
        now = int(time.time())
        payload = {"iss": self.idp.issuer, "aud": self.idp.audience, "sub": "crafted", "iat": now, "exp": now + 300}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        headers = {"kid": kid or key["kid"], "typ": "at+jwt", **header}
        return jwt.encode(payload, self._private[key["kid"]], algorithm=alg, headers=headers)

    def fetches(self) -> float:
        return _metric(self.api.url, "flashsale_jwks_fetches_total")


@pytest.fixture(scope="module")
def stack(redis_server: RedisProcess) -> Iterator[Stack]:
    s = Stack(redis_server).start()
    yield s
    s.stop()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _refusal_cases(s: Stack, valid: str) -> dict[str, str | None]:
    head, body, sig = valid.split(".")
    _, payload = jwt_parts(valid)
    tampered_payload = _b64(json.dumps({**payload, "sub": "mallory"}).encode())
    rsa = next(k for k in s.idp.keys["keys"] if k["alg"] == "RS256")
    pem = (
        jwt.PyJWK(rsa)
        .key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    hs_head = _b64(json.dumps({"alg": "HS256", "kid": rsa["kid"], "typ": "JWT"}).encode())
    hs_input = f"{hs_head}.{body}".encode()
    confusion = f"{hs_head}.{body}.{_b64(hmac.new(pem, hs_input, hashlib.sha256).digest())}"
    none_head = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    now = int(time.time())
    return {
        "no token": None,
        "expired": s.sign({"exp": now - 120, "iat": now - 600}),
        "not yet valid (nbf)": s.sign({"nbf": now + 600}),
        "issued in the future (iat)": s.sign({"iat": now + 600, "exp": now + 900}),
        "wrong issuer": s.sign({"iss": "https://evil.example"}),
        "wrong audience": s.sign({"aud": "https://another-api.example"}),
        "no exp": s.sign({"exp": None}),
        "tampered payload": f"{head}.{tampered_payload}.{sig}",
        "alg none": f"{none_head}.{body}.",
        "HS256 keyed with the RSA public key": confusion,
        "unknown kid": s.sign({}, kid="no-such-key-" + secrets.token_hex(4)),
        "9 KiB token": s.sign({"pad": "x" * 9216}),
        "garbage base64": "%%%.@@@.!!!",
        "not a JWT": "hello",
        "critical header": s.sign({}, crit=["exp"], **{"exp": 1}),
        "sub not usable": s.sign({"sub": "has space"}),
    }


def test_refusals_are_401_without_order_or_traceback(stack: Stack) -> None:
    sale = stack.new_sale(stock=5)
    valid = stack.idp.token("alice")
    table: list[tuple[str, int, str]] = []
    for name, token in _refusal_cases(stack, valid).items():
        r = stack.buy(sale, token)
        body = r.json()
        table.append((name, r.status_code, body.get("type", "")))
        assert r.status_code == 401, (name, r.text)
        assert body["type"] == BUYER_UNAUTHENTICATED, name
        challenge = r.headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="flashsale"'), name
        assert ('error="invalid_token"' in challenge) is (token is not None), (name, challenge)
        if token is not None:
            assert token[:40] not in r.text and token[-20:] not in r.text, f"{name}: the answer echoes the token"
    assert stack.audit(sale)["sold"] == 0
    ok = stack.buy(sale, valid)
    assert ok.status_code == 201, ok.text
    assert ok.json()["buyer_id"] == "alice"
    audit = stack.audit(sale)
    assert (audit["sold"], audit["orders"], audit["ok"]) == (1, 1, True)
    log = stack.log.read_text()
    assert "Traceback" not in log
    assert valid.split(".")[2] not in log, "a token's signature reached the log"
    print("\nrefusal table:", json.dumps(table, indent=1))


def test_hold_ticket_and_order_of_another_buyer_are_404(stack: Stack) -> None:
    alice, bob = stack.idp.token("alice"), stack.idp.token("bob")
    sale = stack.new_sale(stock=5, limit=2)
    hold = stack.http.post(
        f"/sales/{sale}/holds",
        json={"quantity": 1},
        headers={"Idempotency-Key": str(uuid.uuid4()), "Authorization": f"Bearer {alice}"},
    )
    assert hold.status_code == 201, hold.text
    where = hold.headers["Location"]
    as_bob, as_alice = {"Authorization": f"Bearer {bob}"}, {"Authorization": f"Bearer {alice}"}
    assert stack.http.get(where, headers=as_bob).status_code == 404
    assert stack.http.delete(where, headers=as_bob).status_code == 404
    assert stack.http.post(where + "/confirm", headers=as_bob).status_code == 404
    assert stack.http.get(where, headers=as_alice).json()["state"] == "held"  # bob changed nothing
    confirmed = stack.http.post(where + "/confirm", headers=as_alice)
    assert confirmed.status_code == 201, confirmed.text
    order = confirmed.headers["Location"]
    mine = stack.http.get(order, headers=as_alice)
    assert mine.status_code == 200 and mine.json()["buyer_id"] == "alice"
    theirs = stack.http.get(order, headers=as_bob)
    assert theirs.status_code == 404 and theirs.json()["type"].endswith("unknown-order")
    bought = stack.buy(sale, alice)
    assert bought.status_code == 201
    listed = stack.http.get(f"/sales/{sale}/orders", headers=as_alice).json()["orders"]
    assert [o["order_id"] for o in listed] == [confirmed.json()["order_id"], bought.json()["order_id"]]
    assert stack.http.get(f"/sales/{sale}/orders", headers=as_bob).json()["orders"] == []
    # A refused purchase tells the caller only the caller's own figures.
    refused = stack.buy(sale, alice)
    assert refused.status_code == 409 and refused.json()["bought"] == 2
    assert stack.buy(sale, bob).status_code == 201
    room = stack.new_sale(stock=5, limit=1, queue={"mode": "fifo", "admit_rate": 100, "max_active": 10})
    joined = stack.http.post(
        f"/sales/{room}/queue", headers={"Idempotency-Key": str(uuid.uuid4()), "Authorization": f"Bearer {alice}"}
    )
    assert joined.status_code == 201, joined.text
    ticket = joined.headers["Location"]
    assert stack.http.get(ticket, headers=as_bob).status_code == 404
    assert stack.http.get(ticket, headers=as_alice).status_code == 200
    assert stack.audit(sale)["ok"]


def test_invented_ids_buy_nothing_and_one_account_on_50_connections_gets_its_limit(stack: Stack) -> None:
    sale = stack.new_sale(stock=100, limit=2)
    alice = stack.idp.token("alice")
    for i in range(10):
        r = stack.http.post(
            f"/sales/{sale}/purchases",
            json={"buyer_id": f"alice{i}", "quantity": 2},
            headers={"Idempotency-Key": str(uuid.uuid4()), "Authorization": f"Bearer {alice}"},
        )
        assert r.status_code == 400, r.text  # the body names no buyer any more
    auth = {"Authorization": f"Bearer {alice}"}
    reqs = [(f"/sales/{sale}/purchases", {"quantity": 1}, {"Idempotency-Key": str(uuid.uuid4()), **auth})] * 50
    reqs = [(path, body, {**h, "Idempotency-Key": str(uuid.uuid4())}) for path, body, h in reqs]
    codes = [r.status_code for r in asyncio.run(burst(stack.api.url, reqs))]
    assert codes.count(201) == 2, codes
    assert set(codes) <= {201, 409, 503}
    audit = stack.audit(sale)
    assert (audit["sold"], audit["ok"]) == (2, True)
    room = stack.new_sale(stock=5, limit=1, queue={"mode": "fifo", "admit_rate": 100, "max_active": 10})
    joins = [(f"/sales/{room}/queue", {}, {"Idempotency-Key": str(uuid.uuid4()), **auth}) for _ in range(50)]
    answers = asyncio.run(burst(stack.api.url, joins))
    assert sorted(r.status_code for r in answers) == [200] * 49 + [201]
    assert len({r.json()["ticket"] for r in answers}) == 1
    # The public view is each worker's snapshot: one admission step later it counts the join.
    _until(lambda: stack.http.get(f"/sales/{room}/queue").json()["joined"] == 1, "one join counted")
    assert stack.http.get(f"/sales/{room}/queue").json()["joined"] == 1


def test_eligibility_rules_name_the_rule_that_failed(stack: Stack) -> None:
    past, future = "2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z"
    sale = stack.new_sale(
        stock=10,
        eligibility={
            "email_verified": True,
            "phone_number_verified": True,
            "group": "presale",
            "account_created_before": "2025-06-01T00:00:00Z",
            "until": future,
        },
    )
    view = stack.http.get(f"/sales/{sale}").json()
    assert view["eligibility"]["group"] == "presale" and view["eligibility"]["until"] == "2099-01-01T00:00:00.000Z"
    accounts = {
        "email_verified": {"email_verified": False, "phone_number_verified": True, "groups": ["presale"]},
        "phone_number_verified": {"email_verified": True, "phone_number_verified": False, "groups": ["presale"]},
        "group": {"email_verified": True, "phone_number_verified": True, "groups": ["public"]},
        "account_created_before": {
            "email_verified": True,
            "phone_number_verified": True,
            "groups": ["presale"],
            "created_at": int(time.mktime((2026, 1, 1, 0, 0, 0, 0, 0, 0))),
        },
    }
    for rule, claims in accounts.items():
        token = stack.idp.token(f"no-{rule}", claims=claims)
        r = stack.buy(sale, token)
        assert r.status_code == 403, (rule, r.text)
        body = r.json()
        assert (body["type"], body["rule"]) == ("urn:flashsale:problem:buyer-not-eligible", rule)
        assert str(claims.get("created_at", "@@")) not in body["detail"]
    member = stack.idp.token(
        "member", claims={"email_verified": True, "phone_number_verified": True, "groups": ["vip", "presale"]}
    )
    assert stack.buy(sale, member).status_code == 201
    # After `until` the rules are over: a presale window that ended lets everyone signed in buy.
    public = stack.new_sale(stock=10, eligibility={"group": "presale", "until": past})
    assert stack.buy(public, stack.idp.token("no-group", claims={"groups": []})).status_code == 201
    audit = stack.audit(sale)
    assert (audit["sold"], audit["ok"]) == (1, True)


def test_a_members_only_room_gives_no_place_to_a_buyer_the_sale_would_refuse(stack: Stack) -> None:
    """A place in line is a promise of a chance to buy: an ineligible buyer gets the 403 at the join, naming the
    rule, and takes no place from a member (the room's copy of the rules, judged by the join script)."""
    room = stack.new_sale(
        stock=5,
        limit=1,
        queue={"mode": "fifo", "admit_rate": 100, "max_active": 10},
        eligibility={"email_verified": True, "group": "members"},
    )

    def join(token: str) -> httpx.Response:
        auth = {"Idempotency-Key": str(uuid.uuid4()), "Authorization": f"Bearer {token}"}
        return stack.http.post(f"/sales/{room}/queue", headers=auth)

    outsider = join(stack.idp.token("outsider", claims={"email_verified": True, "groups": ["public"]}))
    assert outsider.status_code == 403, outsider.text
    assert (outsider.json()["type"], outsider.json()["rule"]) == ("urn:flashsale:problem:buyer-not-eligible", "group")
    unverified = join(stack.idp.token("unverified", claims={"email_verified": False, "groups": ["members"]}))
    assert (unverified.status_code, unverified.json()["rule"]) == (403, "email_verified")
    member = join(stack.idp.token("member", claims={"email_verified": True, "groups": ["members"]}))
    assert member.status_code == 201, member.text
    assert member.json()["joined_index"] == 0  # the refused joins took no place
    _until(lambda: stack.http.get(f"/sales/{room}/queue").json()["joined"] == 1, "one join counted")


def test_a_flood_of_random_kids_costs_the_provider_one_fetch_per_cooldown(redis_server: RedisProcess) -> None:
    cooldown_s = 1
    stack = Stack(redis_server, cooldown_s=cooldown_s).start()
    try:
        sale = stack.new_sale(stock=5)
        tokens = [stack.sign({"sub": f"kid-flood-{i}"}, kid=secrets.token_hex(8)) for i in range(1000)]
        before, started = stack.fetches(), time.monotonic()
        codes = [stack.buy(sale, token).status_code for token in tokens]  # a flood is a count: one keep-alive client
        elapsed = time.monotonic() - started
        fetched = stack.fetches() - before
        assert codes == [401] * 1000
        allowed = 1 + int(elapsed // cooldown_s)
        assert 1 <= fetched <= allowed, (fetched, elapsed)
        print(f"\nkid flood: 1000 requests in {elapsed:.1f} s, cooldown {cooldown_s} s -> {fetched:.0f} JWKS fetches")
        assert stack.audit(sale)["sold"] == 0
    finally:
        stack.stop()


def _until(check: Any, what: str, timeout_s: float = 20.0) -> Any:
    """Poll ``check()`` until it returns something truthy (bounded): the server refreshes on its own clock."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s} s: {what}")


@pytest.mark.chaos
def test_key_rotation_and_the_provider_down_mid_sale(redis_server: RedisProcess) -> None:
    old = generate_keys(["RS256"])
    s = Stack(redis_server, cooldown_s=1, keys=old).start()
    try:
        sale = s.new_sale(stock=50)
        old_token = s.idp.token("alice")
        assert s.buy(sale, old_token).status_code == 201
        new = generate_keys(["ES256"])
        s.idp.restart(keys={"keys": old["keys"] + new["keys"]})
        restarted = time.monotonic()
        new_token = s.idp.token("bob", alg="ES256")
        assert jwt_parts(new_token)[0]["kid"] == new["keys"][0]["kid"]
        # Any fetch so far (the start's, or a refresh that met the restart) is over: once the 1 s cooldown has run
        # from here, an unknown kid may refetch. The wait is for the product's own clock, not for a process.
        while time.monotonic() < restarted + 1.05:
            time.sleep(0.05)
        before = s.fetches()
        assert s.buy(sale, new_token).status_code == 201  # the new kid: one refetch, then verified
        assert s.fetches() - before == 1

        # The provider goes down mid-sale: known keys keep verifying, a key nobody could fetch is a 503.
        s.idp.stop()
        assert s.buy(sale, s.sign({"sub": "carol"})).status_code == 201
        assert s.buy(sale, new_token).status_code == 201
        unknown = s.sign({"sub": "dave"}, kid="rotated-while-down")
        answer = _until(lambda: (r := s.buy(sale, unknown)).status_code == 503 and r, "a 503 for an unfetchable kid")
        assert answer.json()["type"] == "urn:flashsale:problem:identity-unavailable"
        assert int(answer.headers["Retry-After"]) >= 1
        assert s.http.get("/health/ready").status_code == 200  # keys loaded once: still ready

        # Back with the new key alone: after the refresh the removed key stops verifying, cached tokens too.
        s.idp.keys = new
        s.idp.start()
        probe = s.sign({"sub": "probe"}, alg="ES256", kid="probe-" + secrets.token_hex(4))
        old_sold = []  # the old token buys until the refresh drops its key: each such unit is counted

        def old_refused() -> bool:
            # An unknown kid: the refetch it may cause is the refresh. Within the cooldown of the fetch that met the
            # provider down it is a 503 (maybe a new key), once a fetch has succeeded a 401.
            assert s.buy(sale, probe).status_code in (401, 503)
            answer = s.buy(sale, old_token).status_code
            old_sold.extend([1] if answer == 201 else [])
            return answer == 401

        _until(old_refused, "the old key refused after a refresh")
        assert s.buy(sale, s.idp.token("erin", alg="ES256")).status_code == 201
        audit = s.audit(sale)
        assert audit["ok"] and audit["oversold"] == 0 and audit["sold"] == 5 + len(old_sold)
        assert "Traceback" not in s.log.read_text()
    finally:
        s.stop()


def test_not_ready_until_keys_are_loaded(redis_server: RedisProcess) -> None:
    """A server whose provider is unreachable starts (liveness) but never says ready."""
    s = Stack(redis_server)
    s.api.env["FLASHSALE_OIDC_ISSUER"] = f"http://127.0.0.1:{s.idp.port}"  # nothing listens there
    s.api.process = None
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "flashsale", "serve"],
        env=s.api.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        live = _until(lambda: _get(s.api.url + "/health/live"), "liveness")
        assert live.status_code == 200
        ready = httpx.get(s.api.url + "/health/ready", timeout=5)
        assert ready.status_code == 503 and "keys" in ready.json()["detail"]
        s.idp.start()
        _until(lambda: (r := _get(s.api.url + "/health/ready")) is not None and r.status_code == 200, "ready")
    finally:
        process.terminate()
        process.wait(timeout=10)
        s.idp.cleanup()


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def test_production_refuses_to_start_without_an_issuer(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {
        "PATH": "/usr/bin:/bin",
        "FLASHSALE_REDIS_URL": "redis://127.0.0.1:1/0",
        "FLASHSALE_ADMIN_TOKEN": secrets.token_urlsafe(32),
        "FLASHSALE_ADMISSION_KEY": secrets.token_urlsafe(32),
        "HOME": str(tmp_path),
    }
    r = subprocess.run(
        [sys.executable, "-m", "flashsale", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "FLASHSALE_OIDC_ISSUER" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "flashsale", "serve"],
        env={
            **env,
            "FLASHSALE_OIDC_ISSUER": "https://idp.example",
            "FLASHSALE_OIDC_AUDIENCE": "api",
            "FLASHSALE_OIDC_ALGORITHMS": "RS256,HS256",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "FLASHSALE_OIDC_ALGORITHMS" in r.stderr and "HS256" in r.stderr


def test_buyer_token_command_mints_what_a_demo_server_accepts(redis_server: RedisProcess, tmp_path: Path) -> None:
    """``flashsale buyer-token`` and the demo sign-in route mint tokens of the server's own demo issuer; a token of
    another demo key (another machine's) buys nothing."""
    import subprocess
    import sys

    key = tmp_path / "issuer.json"
    env = {**os.environ, "FLASHSALE_DEMO_ISSUER_KEY": str(key)}
    minted = subprocess.run(
        [sys.executable, "-m", "flashsale", "buyer-token", "alice", "--claim", "email_verified=true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert jwt_parts(minted)[1]["sub"] == "alice" and jwt_parts(minted)[1]["email_verified"] is True
    server = LocalServer(redis_server.url, env={"FLASHSALE_DEMO": "true", "FLASHSALE_DEMO_ISSUER_KEY": str(key)})
    server.start()
    try:
        http = httpx.Client(base_url=server.url, timeout=15)
        admin = {"Authorization": f"Bearer {server.admin_token}"}
        sale = "bt-" + uuid.uuid4().hex[:8]
        body = {"sale_id": sale, "name": "t", "stock": 3, "eligibility": {"email_verified": True}}
        assert http.post("/admin/sales", json=body, headers=admin).status_code == 201
        headers = {"Idempotency-Key": str(uuid.uuid4()), "Authorization": f"Bearer {minted}"}
        assert http.post(f"/sales/{sale}/purchases", json={}, headers=headers).status_code == 201
        page_token = http.post("/demo/buyer-tokens", json={"buyer": "bob"}).json()["token"]
        headers = {"Idempotency-Key": str(uuid.uuid4()), "Authorization": f"Bearer {page_token}"}
        refused = http.post(f"/sales/{sale}/purchases", json={}, headers=headers)
        assert refused.status_code == 403 and refused.json()["rule"] == "email_verified"  # bob's token: no claim
        stranger = LocalServer(redis_server.url).token("carol")  # another demo issuer's key
        headers = {"Idempotency-Key": str(uuid.uuid4()), "Authorization": f"Bearer {stranger}"}
        assert http.post(f"/sales/{sale}/purchases", json={}, headers=headers).status_code == 401
        audit = http.get(f"/admin/sales/{sale}/audit", headers=admin).json()
        assert (audit["sold"], audit["ok"]) == (1, True)
        http.close()
    finally:
        server.stop()


def test_demo_sign_in_is_not_mounted_outside_demo_mode(stack: Stack) -> None:
    assert stack.http.post("/demo/buyer-tokens", json={"buyer": "mallory"}).status_code in (404, 405)
