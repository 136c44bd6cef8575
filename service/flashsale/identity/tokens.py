"""A buyer is who the shop's identity provider signed: verify a Bearer JWT, once per token per worker.

What is checked, in this order (each refusal is a ``TokenRefused`` with a reason that never echoes the token):
size (8 KiB at most, before parsing), shape (three base64url parts), header (``alg`` among the configured
public-key algorithms, a ``kid``, no ``crit``), signature (the issuer's key for that ``kid``), then the claims:
``iss`` exactly the issuer, ``aud`` containing the audience (or, without ``aud``, ``client_id`` equal to it, as
Amazon Cognito writes its access tokens), ``exp`` and ``iat`` present, ``exp``/``nbf``/``iat`` within the
leeway, and the buyer claim a usable id.

Why not ``jwt.decode``: PyJWT does the JOSE part here (its algorithm objects verify the signature, its ``PyJWK``
parses the keys), but its whole decode costs 173-179 µs per RS256 token against 38-45 µs for the signature alone
(field notes), and a purchase costs the API ~460 µs: a rush of new buyers would pay a 25-40 % tax. Parsing the
header and claims with msgspec and checking them here brings a first verification close to the signature's cost
(``make bench`` reports µs per verification per algorithm). Every later request with the same token is a cache
hit: a blake2b digest of the token and a dict lookup, valid until the token's ``exp`` and never past it.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from flashsale.identity.claims import Facts, facts_of
from flashsale.identity.keys import PUBLIC_KEY_ALGORITHMS, KeysUnavailable, VerifyingKey
from flashsale.inventory.keys import buyer_tag

MAX_TOKEN_BYTES = 8192
MAX_LEEWAY_S = 60
BUYER_ID_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
"""A usable buyer id: 1-255 printable ASCII characters without spaces or tabs (the engine's records separate
fields with tabs; the ledger and PostgreSQL keep it as text)."""
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


class TokenRefused(Exception):
    """The token does not prove a buyer: 401 ``buyer-unauthenticated``. ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeySource(Protocol):
    epoch: int
    fetches: int

    @property
    def loaded(self) -> bool: ...

    async def key(self, kid: str) -> VerifyingKey | None: ...

    async def keep_fresh(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Buyer:
    """A verified buyer: the id the engine records, the facts eligibility rules read, and when it stops."""

    id: str
    facts: Facts
    exp: float
    tag: str
    """The digest that names the buyer's keys in Redis (``inventory.keys.buyer_tag``), computed once."""


class _Header(msgspec.Struct):
    alg: str
    kid: str | None = None
    typ: str | None = None
    crit: Any = None


_header_decoder = msgspec.json.Decoder(_Header)
_claims_decoder = msgspec.json.Decoder(dict[str, Any])


def _b64url(part: str) -> bytes:
    """Strict base64url: the alphabet is checked first (the standard decoder would skip foreign characters)."""
    if not _B64URL.match(part):
        raise TokenRefused("malformed token: not base64url")
    try:
        return binascii.a2b_base64(part.encode().translate(_TO_STANDARD) + b"=" * (-len(part) % 4))
    except ValueError:
        raise TokenRefused("malformed token: not base64url") from None


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if type(value) is not int and type(value) is not float:  # bool is an int subclass: refused too
        raise TokenRefused(f"claim {name} is not a number")
    return float(value)


@dataclass
class Verifier:
    """Verifies buyer tokens for one issuer and audience, with a bounded per-worker cache of verified tokens."""

    keys: KeySource
    issuer: str
    audience: str
    algorithms: frozenset[str]
    leeway_s: float = 30.0
    buyer_claim: str = "sub"
    groups_claim: str = "groups"
    created_claim: str | None = None
    cache_entries: int = 100_000
    verified: int = 0
    """Signatures checked by this worker (cache misses that got that far)."""

    def __post_init__(self) -> None:
        refused = set(self.algorithms) - PUBLIC_KEY_ALGORITHMS
        if refused:
            raise ValueError(f"not a public-key signature algorithm: {', '.join(sorted(refused))}")
        if not 0 <= self.leeway_s <= MAX_LEEWAY_S:
            raise ValueError(f"leeway must be 0-{MAX_LEEWAY_S} s")
        self._cache: dict[bytes, Buyer] = {}
        self._epoch = self.keys.epoch

    @property
    def ready(self) -> bool:
        return self.keys.loaded

    async def buyer(self, authorization: str | None) -> Buyer:
        """The buyer an ``Authorization`` header proves. Raises ``TokenRefused`` (401) or ``KeysUnavailable``
        (503: the key for this token could not be fetched)."""
        if not authorization:
            raise TokenRefused("no bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise TokenRefused("the Authorization header is not a bearer token")
        token = token.strip()
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRefused(f"token larger than {MAX_TOKEN_BYTES} bytes")
        if self.keys.epoch != self._epoch:  # a key was removed: tokens it verified must be checked again
            self._cache.clear()
            self._epoch = self.keys.epoch
        digest = hashlib.blake2b(token.encode(), digest_size=16).digest()
        now = time.time()
        cached = self._cache.get(digest)
        if cached is not None:
            if now < cached.exp + self.leeway_s:
                return cached
            del self._cache[digest]
            raise TokenRefused("token expired")
        buyer = await self._verify(token, now)
        cache = self._cache
        if len(cache) >= self.cache_entries:
            self._evict(now)
        cache[digest] = buyer
        return buyer

    def _evict(self, now: float) -> None:
        """Drop expired entries, and the oldest tenth if that freed too little: the cache never grows past
        ``cache_entries``, whatever tokens arrive."""
        cache = self._cache
        for key in [k for k, v in cache.items() if now >= v.exp + self.leeway_s]:
            del cache[key]
        if len(cache) >= self.cache_entries:
            for key in list(_first(cache, max(1, self.cache_entries // 10))):
                del cache[key]

    async def _verify(self, token: str, now: float) -> Buyer:
        head, _, rest = token.partition(".")
        body, _, signature = rest.partition(".")
        if not head or not body or not signature or "." in signature:
            raise TokenRefused("malformed token: not a signed JWT (three parts)")
        try:
            header = _header_decoder.decode(_b64url(head))
        except msgspec.DecodeError:
            raise TokenRefused("malformed token header") from None
        if header.alg not in self.algorithms:
            raise TokenRefused(f"algorithm {header.alg[:20]!r} not accepted")
        if header.crit is not None:
            raise TokenRefused("critical header extensions are not supported")
        if header.kid is None:
            raise TokenRefused("token header has no kid")
        key = await self.keys.key(header.kid)
        if key is None:
            raise TokenRefused("token signed with an unknown key")
        if not key.verifies(header.alg, token[: len(head) + len(body) + 1].encode(), _b64url(signature)):
            raise TokenRefused("bad signature")
        self.verified += 1
        try:
            claims = _claims_decoder.decode(_b64url(body))
        except msgspec.DecodeError:
            raise TokenRefused("malformed token claims") from None
        return self._buyer(claims, now)

    def _buyer(self, claims: dict[str, Any], now: float) -> Buyer:
        leeway = self.leeway_s
        if claims.get("iss") != self.issuer:
            raise TokenRefused("wrong issuer")
        audience = claims.get("aud")
        if audience is None:
            if claims.get("client_id") != self.audience:
                raise TokenRefused("wrong audience")
        elif not (audience == self.audience or (isinstance(audience, list) and self.audience in audience)):
            raise TokenRefused("wrong audience")
        exp, iat, nbf = _number(claims, "exp"), _number(claims, "iat"), _number(claims, "nbf")
        if exp is None or iat is None:
            raise TokenRefused("token without exp or iat")
        if now >= exp + leeway:
            raise TokenRefused("token expired")
        if nbf is not None and now < nbf - leeway:
            raise TokenRefused("token not valid yet (nbf)")
        if iat > now + leeway:
            raise TokenRefused("token issued in the future (iat)")
        buyer_id = claims.get(self.buyer_claim)
        if not isinstance(buyer_id, str) or not BUYER_ID_RE.match(buyer_id):
            raise TokenRefused(f"claim {self.buyer_claim} is not a usable buyer id")
        return Buyer(buyer_id, facts_of(claims, self.groups_claim, self.created_claim), exp, buyer_tag(buyer_id))


def _first(cache: dict[bytes, Buyer], n: int) -> Iterable[bytes]:
    for i, key in enumerate(cache):
        if i >= n:
            return
        yield key


__all__ = ["MAX_TOKEN_BYTES", "Buyer", "KeysUnavailable", "TokenRefused", "Verifier"]
