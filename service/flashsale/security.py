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
