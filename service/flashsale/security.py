"""Start-up refusals that keep a production deployment from running with an unsafe configuration.

Every fail-closed rule lives in this module, and ``check_production`` is the one function that applies them:
``flashsale serve`` calls it before it binds anything or starts a Redis (a refusal exits with status 2 and one
line naming the variable), and ``create_app`` calls it again in every worker. A new rule is one more entry of
``PRODUCTION_RULES`` (a ``Rule`` line: the variable, when it is unsafe, the one-line reason, and whether a laptop
run may go without it); add it nowhere else. ``check_admin_token`` applies the admin rule alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flashsale.settings import Settings, SettingsError

MIN_ADMIN_TOKEN_LENGTH = 24
WEAK_TOKENS = frozenset({"changeme", "admin", "password", "secret", "token", "test"})


def admin_token_is_weak(token: str | None) -> bool:
    if not token:
        return True
    return len(token) < MIN_ADMIN_TOKEN_LENGTH or token.lower() in WEAK_TOKENS or len(set(token)) < 8


@dataclass(frozen=True, slots=True)
class Rule:
    """One setting a production start must have: ``unsafe(settings)`` true stops it with ``variable why``."""

    variable: str
    unsafe: Callable[[Settings], bool]
    why: str
    laptop_ok: bool = True
    """Waived for a laptop run (``serve --embedded``: a private Redis on loopback), not only in demo mode."""


PRODUCTION_RULES: tuple[Rule, ...] = (
    Rule(
        "FLASHSALE_REDIS_URL",
        lambda s: not s.redis_url,
        "is not set: set it to the shared Redis (redis:// or rediss://); every replica must sell from the same "
        "one. Only `flashsale serve --embedded` (a laptop) or FLASHSALE_DEMO=true start a private Redis instead.",
    ),
    Rule(
        "FLASHSALE_ADMIN_TOKEN",
        lambda s: s.admin_enabled and admin_token_is_weak(s.admin_token),
        f"is empty or weak (needs at least {MIN_ADMIN_TOKEN_LENGTH} characters, 8 distinct). Set a strong one, "
        "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`, or set FLASHSALE_ADMIN_ENABLED=false.",
        laptop_ok=False,
    ),
    Rule(
        "FLASHSALE_OIDC_ISSUER",
        lambda s: not s.oidc_issuer,
        "is not set: buyers must be verified by the shop's OpenID Connect provider (docs/identity.md). Only demo "
        "mode and `flashsale serve --embedded` trust the built-in demo issuer.",
    ),
)
"""What a start outside demo mode needs, checked in this order; the first unsafe one is the refusal."""


def check_production(settings: Settings) -> None:
    """Refuse (``SettingsError``, one line naming the variable) a start that production must not make.

    Demo mode waives every rule; ``settings.embedded`` (``serve --embedded``, ``attack``'s own stack) waives
    those marked ``laptop_ok``.
    """
    check_identity(settings)
    if settings.demo:
        return
    for rule in PRODUCTION_RULES:
        if settings.embedded and rule.laptop_ok:
            continue
        if rule.unsafe(settings):
            raise SettingsError(f"{rule.variable} {rule.why}")
    check_admission_key(settings)  # a laptop run has one too: serve --embedded and LocalServer make one up


def check_admin_token(settings: Settings) -> None:
    """Outside demo mode the admin routes require a strong token, or must be switched off."""
    if settings.demo:
        return
    rule = next(r for r in PRODUCTION_RULES if r.variable == "FLASHSALE_ADMIN_TOKEN")
    if rule.unsafe(settings):
        raise SettingsError(f"{rule.variable} {rule.why}")


def check_identity(settings: Settings) -> None:
    """What holds in every mode, demo included: only public-key signature algorithms, and an issuer comes with an
    audience and TLS (plain HTTP only in demo mode or with FLASHSALE_OIDC_ALLOW_HTTP). That an issuer is required
    at all is a production rule (``PRODUCTION_RULES``)."""
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


# -- the admission key: a function of its own, so the one production check can call it ---------------------------

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
