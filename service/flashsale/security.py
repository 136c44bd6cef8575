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


# -- the admission key (issue 23): a function of its own, so the one production check can call it ---------------

ADMISSION_KEY_VARIABLE = "FLASHSALE_ADMISSION_KEY"


def check_admission_key(settings: Settings) -> None:
    """Outside demo mode tickets and admission tokens need a key of their own: every replica signs with it, so
    it must be set (a per-process key would make replicas refuse each other's tickets) and must not be the admin
    token (whoever reads one must not learn the other). Its length (32+) is checked by the settings type."""
    if settings.demo:
        return
    key = settings.admission_key
    if not key:
        raise SettingsError(
            f"{ADMISSION_KEY_VARIABLE} is unset: set the same random key of 32+ characters on every replica, "
            "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'` (independent of the admin token)"
        )
    if key == settings.admin_token or settings.admin_token in settings.previous_admission_keys:
        raise SettingsError(f"{ADMISSION_KEY_VARIABLE} must differ from FLASHSALE_ADMIN_TOKEN")
    if len(set(key)) < 8:
        raise SettingsError(f"{ADMISSION_KEY_VARIABLE} is weak (fewer than 8 distinct characters)")
