"""Buyer tokens for the load tools, minted before any load is sent.

A buyer is who the server's identity provider signed, so every simulated buyer needs a token the server under
test accepts. Against a demo server (every stack the load tools start) that is a token of the server's demo
issuer, whose private key is the file FLASHSALE_DEMO_ISSUER_KEY names (``LocalServer.env`` holds it).

Minting costs ~1-5 ms a token on these 2-core machines (RS256 signing, measured by the tokens written here), far
more than a request: inside the load generator it would pace the load. So the tools mint first, into a file of
``<buyer>\\t<token>`` lines (0600) that the load reads: the locust campaigns as LOAD_BUYER_TOKENS
(load/common.py), the wrk drivers as FLASHSALE_WRK_BUYERS (load/wrk/purchase.lua and hold.lua).
"""

from __future__ import annotations

import os
from pathlib import Path

WRK_BUYERS_ENV = "FLASHSALE_WRK_BUYERS"
LOAD_BUYERS_ENV = "LOAD_BUYER_TOKENS"
TTL_S = 2 * 3600
"""Longer than any bounded run of the tools (load.run: 600 s at most), so no token expires mid-run."""


def mint_file(path: Path, issuer_key: str | Path, count: int, prefix: str, ttl_s: int = TTL_S) -> list[str]:
    """Write ``count`` buyers (``<prefix>-1`` ..) and their tokens, minted with the demo issuer key file
    ``issuer_key``, to ``path`` (created 0600, never overwritten); returns the buyer ids."""
    from flashsale.identity.local import DEFAULT_AUDIENCE, LocalIssuer

    key = Path(issuer_key)
    if not key.is_file():
        raise FileNotFoundError(f"FLASHSALE_DEMO_ISSUER_KEY={key}: no such file (a demo server writes it at start)")
    issuer = LocalIssuer.at(key)
    audience = os.environ.get("FLASHSALE_OIDC_AUDIENCE") or DEFAULT_AUDIENCE
    buyers = [f"{prefix}-{n}" for n in range(1, count + 1)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{buyer}\t{issuer.mint(buyer, audience, ttl_s)}\n" for buyer in buyers)
    return buyers
