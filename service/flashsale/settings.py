"""One settings object, read once from ``FLASHSALE_*`` environment variables.

Kept free of Litestar and Redis so the CLI, the app factory and the tests share it without importing either.
Each field's type (with its range, as msgspec constraints) is the one definition of what a variable accepts:
``from_env`` decodes every variable with msgspec against that type, and construction in code is checked
against the same types, so a new float or enum setting is decoded as one without further code.
"""

from __future__ import annotations

import enum
import os
import types
import typing
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec

PREFIX = "FLASHSALE_"


class Durability(StrEnum):
    """What a 201 promises about where the order lives."""

    ASYNC = "async"
    """Acknowledged once the primary ran the script (replication follows asynchronously)."""
    REPLICATED = "replicated"
    """Acknowledged only once ``WAIT`` saw the write on ``replicas`` replicas."""


class SettingsError(ValueError):
    """A ``FLASHSALE_*`` variable holds a value the engine cannot run with."""


def _range(lo: float, hi: float) -> msgspec.Meta:
    return msgspec.Meta(ge=lo, le=hi)


Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_SECRETS = frozenset({"admin_token", "redis_url", "database_url", "admission_key", "admission_keys_previous"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every knob of the engine. The settings table of docs/operations.md lists the same names and defaults."""

    redis_url: str | None = None
    """Redis or Valkey URL (``redis://``, ``rediss://``). Required outside demo mode and laptop runs (security.py);
    unset with ``serve --embedded`` or in demo mode: ``flashsale serve`` starts a private Redis on loopback."""
    redis_cluster: bool = False
    """Talk to a Redis Cluster (ElastiCache cluster mode) instead of one primary."""
    database_url: str | None = None
    """PostgreSQL URL (``postgresql://``) the orders are exported to (``flashsale export``) and reconciled
    against (``/admin/sales/{id}/reconcile``). Unset: no export; deleting a sale is not held back by it."""
    redis_timeout_ms: Annotated[int, _range(1, 60_000)] = 250
    """Deadline of every Redis call on the purchase path, including the wait for a pooled connection."""
    redis_max_connections: Annotated[int, _range(1, 100_000)] = 256
    """Connections per worker process; callers beyond it wait (within the deadline) instead of failing."""
    admin_token: str | None = None
    """Bearer token for ``/admin``. Unset: every admin call is refused."""
    admission_key: Annotated[str, msgspec.Meta(min_length=32)] | None = None
    """HMAC key (32+ characters) that signs waiting-room tickets and admission tokens; every worker and replica
    needs the same one (on AWS it comes from Secrets Manager), and it is independent of the admin token.
    Required outside demo mode (``flashsale serve`` refuses to start without it); in demo mode ``flashsale
    serve`` makes a random one for its workers."""
    admission_keys_previous: Annotated[str, msgspec.Meta(pattern=r"^[^,]{32,}(,[^,]{32,})*$")] | None = None
    """Keys that signed before a rotation, comma-separated (32+ characters each): tickets and tokens they signed
    still verify, and polls re-sign tickets with the current key. Drop a key once the grace period is over
    (docs/queue.md, "Rotating the admission key")."""
    queue_retention_s: Annotated[int, _range(60, 90 * 86_400)] = 86_400
    """How long a waiting room's keys and tickets outlive the sale's close (seconds): buyers still read
    "closed" meanwhile; then the room is gone from Redis (its orders are in the sale's ledger)."""
    admin_enabled: bool = True
    """Mount the admin routes at all."""
    demo: bool = False
    """Demo mode: mounts the deliberately unsafe purchase path and allows a weak admin token."""
    embedded: bool = False
    """A laptop run (``flashsale serve --embedded``, the stack ``flashsale attack`` starts): a missing Redis URL
    means "start a private Redis", and the other production-only requirements of security.py marked
    ``laptop_ok`` are waived. Never set in the image, compose or Terraform (tests/test_fail_closed.py)."""
    idempotency_ttl_s: Positive = 86_400
    """How long an Idempotency-Key keeps its order (seconds)."""
    soldout_cache_ms: Annotated[int, _range(0, 1000)] = 500
    """How long a worker answers 'sold out' from memory after it saw a sale sold out (at most 1000)."""
    durability: Durability = Durability.ASYNC
    """``async`` or ``replicated`` (see docs/decisions.md)."""
    replicas: Annotated[int, _range(1, 16)] = 1
    """Replicas that must confirm a purchase in ``replicated`` mode."""
    replica_timeout_ms: Annotated[int, _range(1, 60_000)] = 100
    """How long ``WAIT`` may block in ``replicated`` mode."""
    rate_limit_per_ip: NonNegative = 0
    """Requests per second per client address on the purchase route (0: off)."""
    rate_limit_per_buyer: NonNegative = 0
    """Purchase requests per second per buyer (0: off)."""
    join_rate_per_address: NonNegative = 10
    """Waiting-room joins per second per client address, per worker (0: off). On by default: one address filling
    a room with made-up buyers is refused (429) long before the room's cap. Behind a proxy the client address is
    read from X-Forwarded-For as FLASHSALE_FORWARDED_ALLOW_IPS says; set that, or every buyer shares the proxy's
    address."""
    forwarded_allow_ips: str = "127.0.0.1,::1"
    """Proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For is believed: the client address
    is the last entry not added by one of them (uvicorn's proxy headers). Compose sets the Docker networks, the
    Terraform module the private ranges the ALB lives in."""
    rate_limit_buyers_tracked: Annotated[int, _range(1, 10_000_000)] = 100_000
    """Most buyers the per-buyer limiter tracks in one one-second window (its memory bound, per worker)."""
    max_body_bytes: Annotated[int, _range(256, 1 << 24)] = 4096
    """Largest request body accepted."""
    telemetry: bool = True
    """Prometheus metrics, traces and per-attempt logs. Off only to measure their cost."""
    bench_routes: bool = False
    """Mount the benchmark's bare reference route (``make bench`` only)."""
    log_level: LogLevel = "INFO"
    """Log level of the JSON logs."""
    access_log: bool = False
    """uvicorn's access line per request (JSON, no query string): off by default, the attempt lines already
    record every purchase and hold."""
    host: str = "127.0.0.1"
    """Address ``flashsale serve`` binds to."""
    port: Annotated[int, _range(1, 65535)] = 8000
    """Port ``flashsale serve`` binds to."""
    workers: Annotated[int, _range(1, 256)] = 1
    """Worker processes of ``flashsale serve``."""
    keepalive_s: Annotated[int, _range(1, 3600)] = 75
    """How long an idle keep-alive connection stays open (uvicorn ``timeout_keep_alive``). Longer than the
    60 s idle timeout of an AWS ALB, so the balancer, not the server, closes idle connections (else: 502s)."""
    header_timeout_s: Annotated[float, _range(0.1, 300)] = 10.0
    """Most time a client may take to send a request's headers, from its first byte (or from connecting)."""
    body_timeout_s: Annotated[float, _range(0.1, 300)] = 10.0
    """Most time a client may take to send a request's body once its headers are in."""
    oidc_issuer: str | None = None
    """The shop's OpenID Connect issuer (``https://...``): buyer tokens must carry it as ``iss``; its keys are found
    through ``<issuer>/.well-known/openid-configuration``. Required outside demo mode. Unset in demo mode: the demo
    issuer (identity/local.py; ``flashsale buyer-token`` mints its tokens)."""
    oidc_audience: str | None = None
    """The ``aud`` buyer tokens must carry (the API's resource identifier, or the app client id with Cognito).
    Required with an issuer; the demo issuer uses ``flashsale``."""
    oidc_buyer_claim: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = "sub"
    """The claim whose value is the buyer id."""
    oidc_algorithms: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "RS256,PS256,ES256,EdDSA"
    """Signature algorithms accepted, comma-separated. Public-key algorithms only: ``none`` and HMAC (HS*) are
    refused at start whatever is configured."""
    oidc_leeway_s: Annotated[int, _range(0, 60)] = 30
    """Clock skew allowed on ``exp``, ``nbf`` and ``iat``."""
    oidc_groups_claim: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = "groups"
    """The claim listing the buyer's groups (a sale's ``eligibility.group`` rule reads it)."""
    oidc_created_claim: str | None = None
    """The claim holding the account's creation instant (seconds or RFC 3339), for ``account_created_before``."""
    oidc_allow_http: bool = False
    """Accept an ``http://`` issuer outside demo mode (a local compose stack only; keys must travel over TLS)."""
    oidc_jwks_min_cache_s: Annotated[int, _range(1, 86_400)] = 60
    """Shortest time the key set is kept, whatever its Cache-Control says."""
    oidc_jwks_max_cache_s: Annotated[int, _range(60, 604_800)] = 86_400
    """Longest time the key set is kept before it is fetched again."""
    oidc_jwks_cooldown_s: Annotated[int, _range(1, 3600)] = 30
    """Least time between two key set fetches caused by tokens with an unknown ``kid``, per worker."""
    oidc_token_cache_entries: Annotated[int, _range(1, 10_000_000)] = 100_000
    """Verified tokens each worker remembers (until their ``exp``), so repeat requests skip the signature check."""
    oidc_page_client_id: str | None = None
    """The buyer page's client id at the issuer (a public client: authorization code with PKCE, no secret; its
    redirect URI is ``https://<this API>/wait/signed-in``)."""
    oidc_page_scope: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] = "openid"
    """Scopes the buyer page asks for."""
    oidc_page_resource: str | None = None
    """A resource indicator (RFC 8707) the buyer page sends, for providers that issue JWT access tokens per
    resource; unset: none is sent."""
    demo_issuer_key: str | None = None
    """Path of the demo issuer's private key file (made on first use). Demo mode only; unset: under
    ``$XDG_STATE_HOME/flashsale/``."""
    limit_concurrency: NonNegative = 0
    """Connections plus in-flight requests per worker beyond which uvicorn answers 503 (0: no limit). Slow
    clients count too, so keep it far above the slow connections a flood can hold (see docs/decisions.md)."""
    max_in_flight: Annotated[int, _range(0, 100_000)] = 256
    """Most requests a worker works on at once (health, metrics and admin routes apart); past it the worker
    answers ``503 overloaded`` with ``Retry-After`` at once, before reading the body or calling Redis, and it
    lets in fewer while they take longer than the Redis deadline on average (api/overload.py). 0: no
    budget. The default is measured in load/README.md ("Every buyer answered")."""

    def __post_init__(self) -> None:
        """Construction in code (tests, the CLI) is held to the same types and ranges as the environment."""
        for f in msgspec.structs.fields(self):
            value = getattr(self, f.name)
            try:
                msgspec.convert(value, f.type, strict=False)
            except msgspec.ValidationError as exc:
                shown = "***" if f.name in _SECRETS else repr(value)
                raise SettingsError(f"{PREFIX}{f.name.upper()}={shown}: expected {_expected(f.type)} ({exc})") from None

    def __repr__(self) -> str:
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in self.describe().items())})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``FLASHSALE_*`` variables; ``overrides`` win (used by the CLI and tests).

        A value that does not decode to its field's type, or is out of its range, raises ``SettingsError``
        naming the variable and what it expects; ``flashsale serve`` prints it and exits with status 2.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in msgspec.structs.fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _decode(f.name, f.type, raw)
        values.update(overrides)
        return cls(**values)

    @property
    def previous_admission_keys(self) -> list[str]:
        return self.admission_keys_previous.split(",") if self.admission_keys_previous else []

    @property
    def redis_timeout_s(self) -> float:
        return self.redis_timeout_ms / 1000

    def describe(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked, for start-up logs."""
        out = {f.name: getattr(self, f.name) for f in msgspec.structs.fields(self)}
        out["admin_token"] = "***" if self.admin_token else None
        out["admission_key"] = "***" if self.admission_key else None
        out["admission_keys_previous"] = "***" if self.admission_keys_previous else None
        if self.database_url and "@" in self.database_url:
            scheme, _, rest = self.database_url.partition("://")
            out["database_url"] = f"{scheme}://***@{rest.rpartition('@')[2]}"
        if self.redis_url and "@" in self.redis_url:
            scheme, _, rest = self.redis_url.partition("://")
            out["redis_url"] = f"{scheme}://***@{rest.rpartition('@')[2]}"
        return out


def _base(kind: Any) -> Any:
    """The type under ``Annotated`` and ``Optional``."""
    if typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    if typing.get_origin(kind) is Annotated:  # Annotated[str, ...] | None: an empty value means unset too
        kind = typing.get_args(kind)[0]
    return kind


def _expected(kind: Any) -> str:
    """What a field accepts, in words, for the error message."""
    meta = (
        [m for m in typing.get_args(kind)[1:] if isinstance(m, msgspec.Meta)]
        if (typing.get_origin(kind) is Annotated)
        else []
    )
    base = _base(kind)
    if base is bool:
        return "true or false (also 1/0, yes/no, on/off)"
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return "one of " + ", ".join(str(m.value) for m in base)
    if typing.get_origin(base) is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(base))
    words = {int: "a whole number", float: "a number", str: "text"}.get(base, str(base))
    for m in meta:
        if m.ge is not None and m.le is not None:
            words += f" from {m.ge:g} to {m.le:g}"
        elif m.ge is not None:
            words += f" >= {m.ge:g}"
    return words


def _decode(name: str, kind: Any, raw: str) -> Any:
    """One variable's text decoded to its field's type with msgspec (lax mode: "8" to 8, "0.5" to 0.5).

    Kept lenient where the old parser was, as documented: booleans also read yes/no/on/off (empty is false),
    enum and log-level names ignore case, and an empty optional string means unset.
    """
    base = _base(kind)
    text = raw.strip()
    value: Any = text
    if base is bool:
        low = text.lower()
        value = True if low in _TRUE else False if low in _FALSE else text
    elif isinstance(base, type) and issubclass(base, enum.Enum):
        value = text.lower()
    elif typing.get_origin(base) is Literal:
        value = text.upper()
    elif base is str:
        value = raw
        if raw == "" and kind != base:
            return None
    try:
        return msgspec.convert(value, kind, strict=False)
    except msgspec.ValidationError as exc:
        shown = "***" if name in _SECRETS else repr(raw)
        raise SettingsError(f"{PREFIX}{name.upper()}={shown}: expected {_expected(kind)} ({exc})") from None
