"""The issuer's signing keys: a key set by ``kid``, and the source that fetches and refreshes it.

``KeySet`` turns a JWKS document into ready key objects once (PyJWT's ``PyJWK`` parses each JWK), so a
verification is a dict lookup plus the signature check: PyJWT's ``PyJWKClient`` looks the key up per token
(70-95 µs per token measured here, field notes), which the rush would pay on every new buyer.

``JwksSource`` keeps one worker's copy of the key set current:

- found through ``<issuer>/.well-known/openid-configuration`` -> ``jwks_uri`` (OpenID Connect Discovery);
- fetched with the standard library's blocking ``urllib`` in a thread (``asyncio.to_thread``), never on the
  event loop; one fetch at a time (concurrent callers await the same one);
- cached for the ``max-age`` of its ``Cache-Control`` header, bounded by ``min_cache_s``/``max_cache_s``
  (no header: ``default_cache_s``), and refreshed in the background once 80 % of that has passed, so a
  removed key stops verifying within one cache period and a rotated one is usually known before its first token;
- an unknown ``kid`` triggers a refetch at most once per ``cooldown_s`` per worker: a flood of invented key ids
  costs the identity provider one request per cooldown, not one per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import json
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import structlog
from jwt.algorithms import Algorithm, get_default_algorithms

log = structlog.get_logger("flashsale")

PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""The only algorithms a buyer token may use: public-key signatures. ``none`` and the HMAC family are never
accepted whatever is configured (an HS256 token keyed with the RSA public key's PEM is the algorithm-confusion
attack)."""

_ALGORITHMS: dict[str, Algorithm] = {k: v for k, v in get_default_algorithms().items() if k in PUBLIC_KEY_ALGORITHMS}

_KTY_OF = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
"""The key type each algorithm family needs: an EC key never verifies an RS256 token, whatever its ``kid``."""


class KeysUnavailable(Exception):
    """The key set could not be fetched (the identity provider is down or answers garbage): the caller answers
    503 with ``Retry-After`` rather than refusing a token it cannot judge."""


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    kid: str
    kty: str
    key: Any
    """A ``cryptography`` public key object, prepared once."""

    def verifies(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        algorithm = _ALGORITHMS.get(alg)
        if algorithm is None or _KTY_OF[alg[:2]] != self.kty:
            return False
        try:
            return bool(algorithm.verify(signing_input, self.key, signature))
        except Exception:  # a malformed signature for this key type: not a valid token, never a 500
            return False


class KeySet:
    """Keys by ``kid``, parsed from a JWKS document once. Keys without ``kid``, private keys and symmetric
    keys are skipped (an ``oct`` key would let anyone who can read the JWKS sign tokens)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self.keys: dict[str, VerifyingKey] = {}
        for raw in jwks.get("keys", ()):
            if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str) or raw.get("kty") == "oct":
                continue
            if raw.get("use", "sig") != "sig" or "d" in raw:
                continue
            try:
                parsed = jwt.PyJWK(raw)
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
                log.warning("jwks_key_skipped", kid=raw.get("kid"), kty=raw.get("kty"))
                continue
            self.keys[raw["kid"]] = VerifyingKey(raw["kid"], str(raw.get("kty")), parsed.key)

    def get(self, kid: str) -> VerifyingKey | None:
        return self.keys.get(kid)

    def __len__(self) -> int:
        return len(self.keys)


def _max_age(headers: email.message.Message) -> int | None:
    for directive in (headers.get("Cache-Control") or "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age":
            with contextlib.suppress(ValueError):
                return max(0, int(value.strip().strip('"')))
        if name.lower() in ("no-store", "no-cache"):
            return 0
    return None


def fetch_json(url: str, timeout_s: float) -> tuple[Any, int | None]:
    """GET a JSON document (blocking: run it in a thread). Returns the document and its ``max-age``."""
    if not url.startswith(("https://", "http://")):
        raise KeysUnavailable(f"not an http(s) URL: {url[:200]}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310
            body = answer.read(1 << 20)
            return json.loads(body), _max_age(answer.headers)
    except (OSError, ValueError) as exc:
        raise KeysUnavailable(f"{url[:200]}: {type(exc).__name__}: {exc}") from None


@dataclass
class JwksSource:
    """One worker's view of an issuer's key set (module docstring)."""

    issuer: str
    min_cache_s: float = 60.0
    max_cache_s: float = 86_400.0
    default_cache_s: float = 300.0
    cooldown_s: float = 30.0
    timeout_s: float = 5.0
    fetch: Callable[[str, float], tuple[Any, int | None]] = fetch_json
    on_fetch: Callable[[str], None] | None = None
    """Told ``ok`` or ``error`` after every fetch (the composition counts them: ``flashsale_jwks_fetches_total``)."""
    keys: KeySet | None = None
    fetches: int = 0
    """JWKS documents fetched by this worker (the kid-flood test reads it)."""
    epoch: int = 0
    """Bumped when a refresh drops a key: tokens verified with it must not stay cached (``verifier``)."""
    _jwks_uri: str | None = None
    _fresh_until: float = 0.0
    _last_fetch: float = -1e18
    _last_failed: bool = False
    _inflight: asyncio.Task[KeySet] | None = field(default=None, repr=False)

    @property
    def loaded(self) -> bool:
        return self.keys is not None

    async def key(self, kid: str) -> VerifyingKey | None:
        """The key for ``kid``: from the cache, or after one refetch if the cooldown allows it. None: unknown
        (the token is refused). Raises ``KeysUnavailable`` when no key set could be had at all, or a refetch
        for an unknown kid failed (the provider may have rotated: the caller answers 503, not 401)."""
        keys = self.keys
        if keys is not None:
            found = keys.get(kid)
            if found is not None:
                return found
            if time.monotonic() - self._last_fetch < self.cooldown_s:
                if self._last_failed:
                    # The provider did not answer the last fetch: the kid may be its new key (503), not a forgery.
                    raise KeysUnavailable("the last key fetch failed; the key id is not among the cached keys")
                return None
        keys = await self.refresh()
        return keys.get(kid)

    async def refresh(self) -> KeySet:
        """Fetch the key set now (joining a fetch in progress)."""
        task = self._inflight
        if task is None or task.done():
            task = self._inflight = asyncio.get_running_loop().create_task(self._fetch())
        return await asyncio.shield(task)

    async def _fetch(self) -> KeySet:
        self._last_fetch = time.monotonic()
        try:
            if self._jwks_uri is None:
                document, _ = await asyncio.to_thread(self.fetch, _discovery_url(self.issuer), self.timeout_s)
                uri = document.get("jwks_uri") if isinstance(document, dict) else None
                if not isinstance(uri, str):
                    raise KeysUnavailable("the discovery document has no jwks_uri")
                if isinstance(document, dict) and document.get("issuer") not in (None, self.issuer):
                    raise KeysUnavailable("the discovery document names another issuer")
                self._jwks_uri = uri
            jwks, max_age = await asyncio.to_thread(self.fetch, self._jwks_uri, self.timeout_s)
            if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
                raise KeysUnavailable("the JWKS document has no keys list")
        except KeysUnavailable as exc:
            self._last_failed = True
            log.warning("jwks_fetch_failed", issuer=self.issuer, error=str(exc))
            if self.on_fetch is not None:
                self.on_fetch("error")
            raise
        self.fetches += 1
        self._last_failed = False
        if self.on_fetch is not None:
            self.on_fetch("ok")
        keys = KeySet(jwks)
        ttl = self.default_cache_s if max_age is None else max_age
        self._fresh_until = time.monotonic() + min(self.max_cache_s, max(self.min_cache_s, ttl))
        if self.keys is not None and set(self.keys.keys) - set(keys.keys):
            self.epoch += 1
        self.keys = keys
        log.info(
            "jwks_loaded", issuer=self.issuer, keys=len(keys), fresh_for_s=round(self._fresh_until - time.monotonic())
        )
        return keys

    async def keep_fresh(self) -> None:
        """Background task: load the keys, then refresh once 80 % of their cache period has passed. On failure
        retry after the cooldown while keys are loaded (they keep verifying meanwhile); before the first key set,
        after 1, 2, 4... s up to the cooldown, so a worker that started before its provider is ready soon after."""
        backoff = 1.0
        while True:
            try:
                if self.keys is None or time.monotonic() >= self._refresh_at():
                    await self.refresh()
                pause = max(1.0, self._refresh_at() - time.monotonic())
                backoff = 1.0
            except KeysUnavailable:
                pause = max(1.0, self.cooldown_s) if self.keys is not None else backoff
                backoff = min(backoff * 2, max(1.0, self.cooldown_s))
            await asyncio.sleep(pause)

    def _refresh_at(self) -> float:
        period = self._fresh_until - self._last_fetch
        return self._last_fetch + 0.8 * period


def _discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


@dataclass
class StaticKeys:
    """A key set known at start (the demo issuer's own key): nothing to fetch, always loaded."""

    keys: KeySet
    fetches: int = 0
    epoch: int = 0

    @property
    def loaded(self) -> bool:
        return True

    async def key(self, kid: str) -> VerifyingKey | None:
        return self.keys.get(kid)

    async def keep_fresh(self) -> None:
        return None
