"""The demo issuer: a local signing key for ``make run``, ``flashsale attack`` and the tests, when no identity
provider is configured.

It exists so the engine behaves the same with and without a real provider: the server still verifies a signed
token on every buyer request, through the same ``Verifier``, against this issuer's public key (its JWKS, known at
start). ``flashsale buyer-token BUYER`` mints a token with the private key read from the same file. The key file
(a private JWK, 0600) is created on first use; the server refuses it outside demo mode or ``--embedded``
(security.py), so a production deployment can never trust a key lying on its disk.

RS256 because a rush verifies many new tokens and RSA verifies cheaply (38-45 µs here, against 107 µs for
ES256); minting a token costs ~1 ms, paid by the CLI or the attack before its burst, never by the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "urn:flashsale:demo-issuer"
"""The ``iss`` of demo tokens: not a URL, so no configuration can mistake it for a real provider."""
DEFAULT_AUDIENCE = "flashsale"
ALGORITHM = "RS256"


def default_key_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "flashsale" / "demo-issuer-key.json"


class LocalIssuer:
    def __init__(self, key: rsa.RSAPrivateKey, kid: str) -> None:
        self.key = key
        self.kid = kid

    @classmethod
    def at(cls, path: Path) -> LocalIssuer:
        """The issuer whose key is in ``path``, made there (0600) if the file does not exist. Several workers
        starting at once agree on one key: the file is created exclusively and the losers read the winner's."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = json.loads(RSAAlgorithm.to_jwk(key))
            jwk.update(kid=uuid.uuid4().hex[:16], alg=ALGORITHM, use="sig")
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(jwk, f)
        jwk = json.loads(path.read_text())
        return cls(RSAAlgorithm.from_jwk(jwk), str(jwk["kid"]))  # type: ignore[arg-type]

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update(kid=self.kid, alg=ALGORITHM, use="sig")
        return {"keys": [public]}

    def mint(
        self, buyer: str, audience: str = DEFAULT_AUDIENCE, ttl_s: int = 3600, claims: dict[str, Any] | None = None
    ) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": audience, "sub": buyer, "iat": now, "exp": now + ttl_s, **(claims or {})}
        return jwt.encode(payload, self.key, algorithm=ALGORITHM, headers={"kid": self.kid})
