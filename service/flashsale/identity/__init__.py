"""Who the buyer is: a Bearer token the shop's OpenID Connect provider signed, verified on every buyer request.

``verifier_for(settings)`` builds each worker's ``Verifier``: keys from the configured issuer (fetched and kept
fresh by ``keys.JwksSource``), or, in demo mode without an issuer, the demo issuer's own key (``local``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flashsale.identity.claims import RULES, encode_rules
from flashsale.identity.keys import PUBLIC_KEY_ALGORITHMS, JwksSource, KeySet, KeysUnavailable, StaticKeys
from flashsale.identity.local import DEFAULT_AUDIENCE, ISSUER, LocalIssuer, default_key_path
from flashsale.identity.tokens import MAX_TOKEN_BYTES, Buyer, TokenRefused, Verifier
from flashsale.settings import Settings


def algorithms_of(settings: Settings) -> frozenset[str]:
    return frozenset(a.strip() for a in settings.oidc_algorithms.split(",") if a.strip())


def local_issuer(settings: Settings) -> LocalIssuer:
    return LocalIssuer.at(Path(settings.demo_issuer_key) if settings.demo_issuer_key else default_key_path())


def verifier_for(settings: Settings, on_fetch: Callable[[str], None] | None = None) -> Verifier:
    """The worker's verifier; settings are checked at start (security.check_identity) before this runs."""
    common = {
        "leeway_s": settings.oidc_leeway_s,
        "buyer_claim": settings.oidc_buyer_claim,
        "groups_claim": settings.oidc_groups_claim,
        "created_claim": settings.oidc_created_claim,
        "cache_entries": settings.oidc_token_cache_entries,
    }
    if settings.oidc_issuer:
        source = JwksSource(
            settings.oidc_issuer,
            min_cache_s=settings.oidc_jwks_min_cache_s,
            max_cache_s=settings.oidc_jwks_max_cache_s,
            cooldown_s=settings.oidc_jwks_cooldown_s,
            on_fetch=on_fetch,
        )
        return Verifier(
            source,
            settings.oidc_issuer,
            settings.oidc_audience or "",
            algorithms_of(settings),
            **common,  # type: ignore[arg-type]
        )
    issuer = local_issuer(settings)
    return Verifier(
        StaticKeys(KeySet(issuer.jwks())),
        ISSUER,
        settings.oidc_audience or DEFAULT_AUDIENCE,
        frozenset({"RS256"}),
        **common,  # type: ignore[arg-type]
    )


__all__ = [
    "DEFAULT_AUDIENCE",
    "ISSUER",
    "MAX_TOKEN_BYTES",
    "PUBLIC_KEY_ALGORITHMS",
    "RULES",
    "Buyer",
    "KeysUnavailable",
    "LocalIssuer",
    "TokenRefused",
    "Verifier",
    "algorithms_of",
    "encode_rules",
    "local_issuer",
    "verifier_for",
]
