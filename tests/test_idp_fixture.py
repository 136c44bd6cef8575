"""The test suite's OpenID provider (tests/idp.py, npm oidc-provider): what it serves and what its tokens hold.

Signatures are checked with Node's own crypto (the provider's runtime) against the JWKS the provider serves, so a
token whose kid is served but which another key signed fails here.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from flashsale.embedded import free_port
from tests.idp import (
    IDP_DIR,
    SERVER,
    SIGNING_ALGS,
    OidcProvider,
    OidcProviderError,
    generate_keys,
    jwt_parts,
    node_binary,
    public_jwks,
    sign_in,
)

DEFAULTS = {"email_verified": True, "phone_number_verified": False, "groups": [], "created_at": 1735689600}

# Verifies a compact JWS (stdin: {"token", "jwks"}) with the served key named by its kid; prints true or false.
VERIFY_JS = r"""
import * as crypto from 'node:crypto';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { token, jwks } = JSON.parse(input);
const [h, p, s] = token.split('.');
const header = JSON.parse(Buffer.from(h, 'base64url'));
const jwk = jwks.keys.find((k) => k.kid === header.kid);
if (!jwk || jwk.alg !== header.alg) { console.log('false'); process.exit(0); }
const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
const data = Buffer.from(`${h}.${p}`);
const sig = Buffer.from(s, 'base64url');
const ok = {
  RS256: () => crypto.verify('sha256', data, key, sig),
  PS256: () => crypto.verify('sha256', data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
    saltLength: 32 }, sig),
  ES256: () => crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig),
  EdDSA: () => crypto.verify(null, data, key, sig),
}[header.alg]?.() ?? false;
console.log(ok ? 'true' : 'false');
"""


def signature_valid(token: str, jwks: dict[str, Any]) -> bool:
    result = subprocess.run(
        [node_binary(), "--input-type=module", "-e", VERIFY_JS],
        input=json.dumps({"token": token, "jwks": jwks}),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip() == "true"


def kids(jwks: dict[str, Any]) -> set[str]:
    return {key["kid"] for key in jwks["keys"]}


def new_buyer() -> str:
    return f"buyer-{uuid.uuid4().hex[:10]}"


def test_discovery_and_jwks_are_served(oidc_provider: OidcProvider) -> None:
    doc = oidc_provider.discovery()
    assert doc["issuer"] == oidc_provider.issuer
    assert doc["jwks_uri"].startswith(oidc_provider.issuer + "/")
    assert doc["authorization_endpoint"] == f"{oidc_provider.issuer}/auth"
    assert doc["token_endpoint"] == f"{oidc_provider.issuer}/token"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "client_credentials"} <= set(doc["grant_types_supported"])

    jwks = oidc_provider.jwks()
    assert kids(jwks) == kids(oidc_provider.keys)
    assert {key["alg"] for key in jwks["keys"]} == set(SIGNING_ALGS)
    for key in jwks["keys"]:
        assert key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), f"private material served for {key['kid']}"


def test_code_flow_token_names_the_buyer_and_carries_the_account_claims(oidc_provider: OidcProvider) -> None:
    buyer = new_buyer()
    claims = {
        "email": f"{buyer}@shop.example",
        "email_verified": False,
        "phone_number_verified": True,
        "groups": ["presale-gold", "staff"],
        "created_at": 1700000000,
    }
    before = int(time.time())
    token = oidc_provider.token(buyer, claims=claims)
    header, payload = jwt_parts(token)

    jwks = oidc_provider.jwks()
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"] in kids(jwks)
    assert signature_valid(token, jwks)

    assert payload["iss"] == oidc_provider.issuer
    assert payload["aud"] == oidc_provider.audience
    assert payload["sub"] == buyer
    assert payload["client_id"] == oidc_provider.public_client_id
    assert payload["exp"] - payload["iat"] == oidc_provider.access_token_ttl_s
    assert before - 60 <= payload["iat"] <= int(time.time()) + 60  # the provider's clock is this machine's
    for name, value in claims.items():
        assert payload[name] == value, name


def test_an_account_the_file_does_not_name_gets_the_defaults(oidc_provider: OidcProvider) -> None:
    buyer = new_buyer()
    _, payload = jwt_parts(oidc_provider.token(buyer))
    assert payload["sub"] == buyer
    assert payload["email"] == f"{buyer}@example.test"
    for name, value in DEFAULTS.items():
        assert payload[name] == value, name


def test_claims_follow_the_account_when_it_changes(oidc_provider: OidcProvider) -> None:
    buyer = new_buyer()
    oidc_provider.set_account(buyer, groups=["presale-a"])
    assert jwt_parts(oidc_provider.token(buyer))[1]["groups"] == ["presale-a"]
    oidc_provider.set_account(buyer, groups=[], email_verified=False)
    _, payload = jwt_parts(oidc_provider.token(buyer))
    assert payload["groups"] == []
    assert payload["email_verified"] is False


@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_each_algorithm_and_a_short_lifetime_per_token(oidc_provider: OidcProvider, alg: str) -> None:
    token = oidc_provider.token(new_buyer(), ttl_s=30, alg=alg)
    header, payload = jwt_parts(token)
    jwks = oidc_provider.jwks()
    served = {key["kid"]: key for key in jwks["keys"]}
    assert header["alg"] == alg
    assert served[header["kid"]]["alg"] == alg
    assert payload["exp"] - payload["iat"] == 30
    assert signature_valid(token, jwks)


def test_a_token_signed_by_another_key_does_not_verify(oidc_provider: OidcProvider) -> None:
    """The check above can fail: the same token against a key set where its kid names another key."""
    token = oidc_provider.token(new_buyer())
    header, _ = jwt_parts(token)
    other = generate_keys(["RS256"])["keys"][0]
    impostor = public_jwks({"keys": [{**other, "kid": header["kid"]}]})
    assert not signature_valid(token, impostor)


def test_every_sign_in_is_a_session_of_its_own(oidc_provider: OidcProvider) -> None:
    buyers = [new_buyer() for _ in range(8)]
    tokens = oidc_provider.tokens(buyers)
    assert [jwt_parts(t)[1]["sub"] for t in tokens] == buyers
    assert len(set(tokens)) == len(buyers)


def test_client_credentials_token(oidc_provider: OidcProvider) -> None:
    token = oidc_provider.client_token()
    header, payload = jwt_parts(token)
    assert header["typ"] == "at+jwt"
    assert signature_valid(token, oidc_provider.jwks())
    assert payload["sub"] == oidc_provider.confidential_client_id
    assert payload["aud"] == oidc_provider.audience
    assert payload["iss"] == oidc_provider.issuer
    assert "email" not in payload  # no account behind a client


def test_a_wrong_client_secret_gets_no_token(oidc_provider: OidcProvider) -> None:
    secret = oidc_provider.confidential_client_secret
    oidc_provider.confidential_client_secret = "not-the-secret"
    try:
        with pytest.raises(OidcProviderError, match="401"):
            oidc_provider.client_token()
    finally:
        oidc_provider.confidential_client_secret = secret


def test_restart_with_rotated_keys_changes_the_jwks() -> None:
    provider = OidcProvider(keys=generate_keys(["RS256"])).start()
    try:
        port = provider.port
        old = provider.keys
        old_token = provider.token(new_buyer())
        assert kids(provider.jwks()) == kids(old)

        new = generate_keys(["ES256"])
        provider.restart(keys={"keys": old["keys"] + new["keys"]})  # the new key is added
        assert provider.port == port
        assert kids(provider.jwks()) == kids(old) | kids(new)
        assert signature_valid(old_token, provider.jwks())
        rotated = provider.token(new_buyer(), alg="ES256")
        assert jwt_parts(rotated)[0]["kid"] in kids(new)

        provider.restart(keys=new)  # the old key is removed
        served = provider.jwks()
        assert kids(served) == kids(new)
        assert not signature_valid(old_token, served)
        assert signature_valid(rotated, served)
        header, _ = jwt_parts(provider.token(new_buyer()))  # no RS256 key left: tokens follow the key set
        assert header["alg"] == "ES256"
        assert header["kid"] in kids(new)
    finally:
        provider.cleanup()


def test_the_server_refuses_to_start_without_its_settings() -> None:
    result = subprocess.run(
        [node_binary(), str(SERVER), "--audience", "https://api.flashsale.test"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin"},
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "idp: --issuer (IDP_ISSUER) is required"


def compose_idp_environment() -> dict[str, str]:
    """The provider's settings as the image (ENV of deploy/idp/Dockerfile) and compose (service idp, its defaults
    for ${VAR:-default}) give them."""
    root = IDP_DIR.parent.parent
    dockerfile = (root / "deploy" / "idp" / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in dockerfile.splitlines():
        if line.startswith("ENV "):
            env |= dict(pair.split("=", 1) for pair in line[4:].split())
    compose = yaml.safe_load((root / "docker-compose.yml").read_text(encoding="utf-8"))
    for name, value in compose["services"]["idp"]["environment"].items():
        env[name] = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))
    return env


def test_the_compose_settings_sign_buyers_in_and_ignore_the_test_knobs(tmp_path: Path) -> None:
    """The server as compose runs it (environment only, keys generated at the first start, no token knobs), on a
    free loopback port instead of 8090 and with the accounts file compose mounts."""
    env = compose_idp_environment()
    assert env["IDP_GENERATE_KEYS"] == "true" and "IDP_ALLOW_TOKEN_OVERRIDES" not in env
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env |= {
        "IDP_HOST": "127.0.0.1",
        "IDP_PORT": str(port),
        "IDP_ISSUER": issuer,
        "IDP_JWKS_FILE": str(tmp_path / "keys" / "jwks.json"),
        "IDP_ACCOUNTS_FILE": str(IDP_DIR.parent.parent / "deploy" / "idp" / "accounts.json"),
    }
    log = (tmp_path / "idp.log").open("wb")
    process = subprocess.Popen(
        [node_binary(), "server.mjs"],
        cwd=IDP_DIR,
        env={"PATH": os.environ["PATH"], **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with httpx.Client(base_url=issuer, trust_env=False, follow_redirects=False, timeout=5.0) as http:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, (tmp_path / "idp.log").read_text()
                try:
                    if http.get("/.well-known/openid-configuration").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "no discovery document in 30 s"
                time.sleep(0.02)
            jwks = http.get("/jwks").json()
            redirect_uri = env["IDP_REDIRECT_URI"].split(",")[0]
            token = sign_in(
                http,
                issuer,
                "flashsale-buyer",
                redirect_uri,
                "carol",
                {"flashsale_ttl_s": "30", "flashsale_alg": "ES256"},
            )
        keys = json.loads((tmp_path / "keys" / "jwks.json").read_text(encoding="utf-8"))
        assert {key["alg"] for key in keys["keys"]} == set(SIGNING_ALGS)
        assert (tmp_path / "keys" / "jwks.json").stat().st_mode & 0o077 == 0, "the private keys must be 0600"
        assert kids(jwks) == kids(keys)

        header, payload = jwt_parts(token)
        assert header["alg"] == "RS256"  # flashsale_alg ignored
        assert payload["exp"] - payload["iat"] == int(env["IDP_ACCESS_TOKEN_TTL_S"])  # flashsale_ttl_s ignored
        assert payload["aud"] == env["IDP_AUDIENCE"]
        assert payload["iss"] == issuer
        assert payload["sub"] == "carol"
        assert payload["groups"] == ["members", "presale-gold"]  # from deploy/idp/accounts.json
        assert signature_valid(token, jwks)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        log.close()
