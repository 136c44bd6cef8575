"""Start-up refusals that keep a production deployment from running with an unsafe configuration."""

from __future__ import annotations

from flashsale.settings import Settings, SettingsError

MIN_ADMIN_TOKEN_LENGTH = 24
WEAK_TOKENS = frozenset({"changeme", "admin", "password", "secret", "token", "test"})


def admin_token_is_weak(token: str | None) -> bool:
    if not token:
        return True
    return len(token) < MIN_ADMIN_TOKEN_LENGTH or token.lower() in WEAK_TOKENS or len(set(token)) < 8


def check_admin_token(settings: Settings) -> None:
    """Outside demo mode the admin routes require a strong token, or must be switched off."""
    if settings.demo or not settings.admin_enabled:
        return
    if admin_token_is_weak(settings.admin_token):
        raise SettingsError(
            "FLASHSALE_ADMIN_TOKEN is empty or weak (needs at least "
            f"{MIN_ADMIN_TOKEN_LENGTH} characters, 8 distinct). Set a strong one, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, or set "
            "FLASHSALE_ADMIN_ENABLED=false."
        )


def check_identity(settings: Settings) -> None:
    """Buyers are who the shop's identity provider signed: outside demo mode an issuer and an audience are
    required, the issuer over TLS, and only public-key signature algorithms are accepted in any mode."""
    from flashsale.identity.keys import PUBLIC_KEY_ALGORITHMS

    algorithms = [a.strip() for a in settings.oidc_algorithms.split(",") if a.strip()]
    refused = [a for a in algorithms if a not in PUBLIC_KEY_ALGORITHMS]
    if refused or not algorithms:
        raise SettingsError(
            f"FLASHSALE_OIDC_ALGORITHMS lists {', '.join(refused) or 'nothing'}: only public-key signature "
            f"algorithms ({', '.join(sorted(PUBLIC_KEY_ALGORITHMS))}) are accepted; none and HMAC never are"
        )
    if settings.oidc_issuer:
        if not settings.oidc_audience:
            raise SettingsError(
                "FLASHSALE_OIDC_AUDIENCE is unset: buyer tokens must be checked for this API's audience"
            )
        insecure_ok = settings.demo or settings.oidc_allow_http
        if not settings.oidc_issuer.startswith("https://") and not (
            insecure_ok and settings.oidc_issuer.startswith("http://")
        ):
            raise SettingsError(
                "FLASHSALE_OIDC_ISSUER must be an https:// URL (http:// only with FLASHSALE_OIDC_ALLOW_HTTP=true)"
            )
        return
    if not settings.demo:
        raise SettingsError(
            "FLASHSALE_OIDC_ISSUER is unset: buyers must be verified by the shop's OpenID Connect provider "
            "(only demo mode has a built-in demo issuer)"
        )
