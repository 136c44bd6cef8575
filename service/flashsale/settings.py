"""One settings object, read once from ``FLASHSALE_*`` environment variables.

Kept free of Litestar and Redis so the CLI, the app factory and the tests share it without importing either.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

PREFIX = "FLASHSALE_"


class Durability(StrEnum):
    """What a 201 promises about where the order lives."""

    ASYNC = "async"
    """Acknowledged once the primary ran the script (replication follows asynchronously)."""
    REPLICATED = "replicated"
    """Acknowledged only once ``WAIT`` saw the write on ``replicas`` replicas."""


class SettingsError(ValueError):
    """A ``FLASHSALE_*`` variable holds a value the engine cannot run with."""


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{PREFIX}{name.upper()} must be true or false, not {raw!r}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the engine. The README's settings table lists the same names and defaults."""

    redis_url: str | None = None
    """Redis or Valkey URL (``redis://``, ``rediss://``). Unset: ``flashsale serve`` starts an embedded Redis."""
    redis_cluster: bool = False
    """Talk to a Redis Cluster (ElastiCache cluster mode) instead of one primary."""
    redis_timeout_ms: int = 250
    """Deadline of every Redis call on the purchase path, including the wait for a pooled connection."""
    redis_max_connections: int = 256
    """Connections per worker process; callers beyond it wait (within the deadline) instead of failing."""
    admin_token: str | None = field(default=None, repr=False)
    """Bearer token for ``/admin``. Unset: every admin call is refused."""
    admin_enabled: bool = True
    """Mount the admin routes at all."""
    demo: bool = False
    """Demo mode: mounts the deliberately unsafe purchase path and allows a weak admin token."""
    idempotency_ttl_s: int = 86_400
    """How long an Idempotency-Key keeps its order (seconds)."""
    soldout_cache_ms: int = 500
    """How long a worker answers 'sold out' from memory after it saw a sale sold out (at most 1000)."""
    durability: Durability = Durability.ASYNC
    """``async`` or ``replicated`` (see docs/decisions.md)."""
    replicas: int = 1
    """Replicas that must confirm a purchase in ``replicated`` mode."""
    replica_timeout_ms: int = 100
    """How long ``WAIT`` may block in ``replicated`` mode."""
    rate_limit_per_ip: int = 0
    """Requests per second per client address on the purchase route (0: off)."""
    rate_limit_per_buyer: int = 0
    """Purchase requests per second per buyer (0: off)."""
    max_body_bytes: int = 4096
    """Largest request body accepted."""
    telemetry: bool = True
    """Prometheus metrics, traces and per-attempt logs. Off only to measure their cost."""
    bench_routes: bool = False
    """Mount the benchmark's bare reference route (``make bench`` only)."""
    log_level: str = "INFO"
    """Log level of the JSON logs."""
    host: str = "127.0.0.1"
    """Address ``flashsale serve`` binds to."""
    port: int = 8000
    """Port ``flashsale serve`` binds to."""
    workers: int = 1
    """Worker processes of ``flashsale serve``."""

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str]] = [
            (self.redis_timeout_ms > 0, "REDIS_TIMEOUT_MS must be > 0"),
            (self.redis_max_connections > 0, "REDIS_MAX_CONNECTIONS must be > 0"),
            (self.idempotency_ttl_s > 0, "IDEMPOTENCY_TTL_S must be > 0"),
            (0 <= self.soldout_cache_ms <= 1000, "SOLDOUT_CACHE_MS must be within 0..1000"),
            (self.replicas >= 1, "REPLICAS must be >= 1"),
            (self.replica_timeout_ms > 0, "REPLICA_TIMEOUT_MS must be > 0"),
            (self.rate_limit_per_ip >= 0, "RATE_LIMIT_PER_IP must be >= 0"),
            (self.rate_limit_per_buyer >= 0, "RATE_LIMIT_PER_BUYER must be >= 0"),
            (self.max_body_bytes >= 256, "MAX_BODY_BYTES must be >= 256"),
            (1 <= self.port <= 65535, "PORT must be within 1..65535"),
            (self.workers >= 1, "WORKERS must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise SettingsError(PREFIX + message)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``FLASHSALE_*`` variables; ``overrides`` win (used by the CLI and tests)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None:
                continue
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            try:
                if kind == "bool":
                    values[f.name] = _parse_bool(f.name, raw)
                elif kind == "int":
                    values[f.name] = int(raw)
                elif kind == "Durability":
                    values[f.name] = Durability(raw.strip().lower())
                elif kind == "str | None":
                    values[f.name] = raw or None
                else:
                    values[f.name] = raw
            except ValueError as exc:
                if isinstance(exc, SettingsError):
                    raise
                raise SettingsError(f"{PREFIX}{f.name.upper()}: cannot use {raw!r}: {exc}") from exc
        values.update(overrides)
        return cls(**values)

    @property
    def redis_timeout_s(self) -> float:
        return self.redis_timeout_ms / 1000

    def describe(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked, for start-up logs."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["admin_token"] = "***" if self.admin_token else None
        if self.redis_url and "@" in self.redis_url:
            scheme, _, rest = self.redis_url.partition("://")
            out["redis_url"] = f"{scheme}://***@{rest.rpartition('@')[2]}"
        return out
