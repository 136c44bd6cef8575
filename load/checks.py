"""Pure helpers of the load campaigns: target guard, admin client, end checks and SLO verdicts.

Standard library only (no locust, no gevent): the tests import this module directly, and the campaigns use
it inside locust, where urllib is cooperative because locust monkey-patches the socket module.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# -- where load may go ----------------------------------------------------------------------------------------


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def target_host(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return parts.hostname


def is_loopback(url: str) -> bool:
    """True when every address the URL's host resolves to is a loopback address (127.0.0.0/8, ::1)."""
    addresses = _addresses(target_host(url))
    return bool(addresses) and all(a.is_loopback for a in addresses)


def is_private(url: str) -> bool:
    """True when every address is loopback or private (RFC 1918, ULA): e.g. the compose stack's ``lb``."""
    addresses = _addresses(target_host(url))
    return bool(addresses) and all(a.is_loopback or a.is_private for a in addresses)


def refuse_target(url: str, allow_remote: bool, allow_private: bool = False) -> str | None:
    """Why load must not be sent to ``url`` (None: it may). Load goes to loopback unless explicitly allowed."""
    try:
        target_host(url)
        if allow_remote or is_loopback(url) or (allow_private and is_private(url)):
            return None
    except ValueError as exc:
        return str(exc)
    scope = "loopback or private-network" if allow_private else "loopback"
    return (
        f"refusing to send load to {url}: not a {scope} address. Pass --allow-remote to load a remote server you own."
    )


# -- the admin API ----------------------------------------------------------------------------------------------


class AdminError(RuntimeError):
    pass


class Api:
    """A tiny JSON client of the flash-sale API (admin and read routes), on urllib."""

    def __init__(self, base_url: str, admin_token: str | None = None, timeout_s: float = 10.0) -> None:
        target_host(base_url)  # http(s) only: urllib would also open file: URLs
        self.base_url = base_url.rstrip("/")
        self.admin_token = admin_token
        self.timeout_s = timeout_s

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        admin: bool = False,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request; ``admin`` adds the admin token, ``headers`` anything else (e.g. a buyer's token)."""
        headers = {"Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if admin:
            if not self.admin_token:
                raise AdminError("no admin token: set FLASHSALE_ADMIN_TOKEN to the target's admin token")
            headers["Authorization"] = f"Bearer {self.admin_token}"
        request = urllib.request.Request(  # noqa: S310 (http(s) only)
            self.base_url + path,
            data=data,
            headers=headers,
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise AdminError(f"{method} {path}: {exc}") from exc
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return status, payload

    def _expect(self, status: int, payload: Any, ok: int, what: str) -> Any:
        if status != ok:
            raise AdminError(f"{what}: HTTP {status}: {payload}")
        return payload

    def create_sale(
        self, sale_id: str, stock: int, per_buyer_limit: int = 0, opens_at: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sale_id": sale_id,
            "name": name or sale_id,
            "stock": stock,
            "per_buyer_limit": per_buyer_limit,
        }
        if opens_at:
            body["opens_at"] = opens_at
        return self._expect(*self.call("POST", "/admin/sales", body, admin=True), 201, f"create sale {sale_id}")

    def restock(self, sale_id: str, units: int) -> dict[str, Any]:
        return self._expect(
            *self.call("POST", f"/admin/sales/{sale_id}/restock", {"units": units}, admin=True),
            200,
            f"restock {sale_id}",
        )

    def sale(self, sale_id: str) -> dict[str, Any]:
        return self._expect(*self.call("GET", f"/sales/{sale_id}"), 200, f"read sale {sale_id}")

    def audit(self, sale_id: str) -> dict[str, Any]:
        return self._expect(*self.call("GET", f"/admin/sales/{sale_id}/audit", admin=True), 200, f"audit {sale_id}")


# -- what the clients saw, and the end checks ---------------------------------------------------------------------


@dataclass
class Tally:
    """What the load clients saw on one sale's purchase route."""

    sold: int = 0
    """Units the clients were told they bought (201, counting a replay only when it settles an unknown)."""
    unknown: int = 0
    """Attempts whose outcome the client does not know (503, timeout, dropped connection), not yet settled."""
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def check_sale(
    label: str,
    view: dict[str, Any],
    audit: dict[str, Any] | None,
    tally: Tally | None,
    expected_sold: int | None = None,
    oversell_allowed: bool = False,
) -> list[str]:
    """The end check of one sale; returns the failures (empty: the sale is right).

    ``view`` is ``GET /sales/{id}``, ``audit`` is ``GET /admin/sales/{id}/audit`` (None when no token).
    * ``expected_sold``: the run must have sold exactly this many units (a rush sells all of its K units).
    * the server and the clients agree: every unit a client was told it bought is sold, and nothing else is
      sold except possibly what the unknown outcomes (503, timeouts) bought.
    * the audit holds: nothing oversold, stock and ledger balance (skipped for the unsafe demo path).
    """
    failures: list[str] = []
    sold = int(view["sold"])
    if expected_sold is not None and sold != expected_sold:
        failures.append(f"{label}: sold {sold} units, expected exactly {expected_sold}")
    if tally is not None and not tally.sold <= sold <= tally.sold + tally.unknown:
        failures.append(
            f"{label}: server sold {sold} units but clients were told {tally.sold} (+ {tally.unknown} unknown outcomes)"
        )
    if audit is not None and not oversell_allowed:
        if audit["oversold"] != 0:
            failures.append(f"{label}: oversold {audit['oversold']} units")
        if not audit["ok"]:
            failures.append(f"{label}: audit failed: {audit}")
    return failures


@dataclass
class Slo:
    error_ratio: float
    """Largest share of requests that may fail (unexpected status, 5xx, 503, timeout, connection error)."""
    p99_ms: float
    """Largest 99th percentile response time over all requests, as the load generator saw it."""


def check_slo(slo: Slo, requests: int, failures: int, p99_ms: float) -> list[str]:
    problems: list[str] = []
    if requests == 0:
        return ["no request completed"]
    ratio = failures / requests
    if ratio > slo.error_ratio:
        problems.append(f"error ratio {ratio:.4%} > SLO {slo.error_ratio:.4%} ({failures} of {requests})")
    if p99_ms > slo.p99_ms:
        problems.append(f"p99 {p99_ms:.0f} ms > SLO {slo.p99_ms:.0f} ms")
    return problems


# -- the checkout campaign (load/checkout.py) ----------------------------------------------------------------


@dataclass
class Checkout:
    """What the checkout campaign's clients saw."""

    confirmed_units: int = 0
    unknown: int = 0
    """Holds or confirms whose outcome stayed unknown after the retries (503s)."""
    abandoned: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    late_won: int = 0
    late_expired: int = 0
    prompt_expired: int = 0
    """Confirms meant to be in time that met a 410 (the box was too slow): counted, not an invariant breach."""
    released: int = 0
    stranded: int = 0
    """Holds whose buyer was stopped mid-checkout when the run ended: their units come back, unsold."""
    outcomes: dict[str, int] = field(default_factory=dict)
    dealt: int = 0
    """Holds made so far (deals each hold's fate)."""

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def judge_checkout(
    s: Checkout, units: int, view: dict[str, Any], audit: dict[str, Any] | None, states: dict[str, str | None]
) -> list[str]:
    """The end checks, from what the clients saw (``s``), the sale view, the audit and the states read back of
    the abandoned and late holds; returns the failures (empty: the run is right)."""
    failures: list[str] = []
    sold = int(view["sold"])
    if not s.confirmed_units <= sold <= s.confirmed_units + s.unknown:
        failures.append(
            f"checkout: server sold {sold} units but clients confirmed {s.confirmed_units} "
            f"(+ {s.unknown} unknown outcomes)"
        )
    if sold + s.stranded < units or view["held"]:
        failures.append(
            f"checkout: abandoned units were not all resold: sold {sold} of {units}, remaining "
            f"{view['remaining']}, held {view['held']}, holds of buyers stopped mid-checkout "
            f"{s.stranded}"
        )
    if s.late_won:
        failures.append(f"checkout: {s.late_won} confirms after expiry succeeded")
    if not s.late or not s.abandoned:
        failures.append(
            f"checkout: the run tried {len(s.late)} late confirms and abandoned {len(s.abandoned)} "
            "holds: too short to judge"
        )
    not_expired = [f"{hold_id}: {state}" for hold_id, state in states.items() if state != "expired"]
    if not_expired:
        failures.append(f"checkout: abandoned or late holds not expired: {not_expired[:5]}")
    if audit is not None:
        if audit["oversold"] != 0:
            failures.append(f"checkout: oversold {audit['oversold']} units")
        if not audit["ok"]:
            failures.append(f"checkout: audit failed: {audit}")
        if not s.confirmed_units <= audit["holds"]["confirmed"] <= s.confirmed_units + s.unknown:
            failures.append(f"checkout: {audit['holds']['confirmed']} holds confirmed, clients saw {s.confirmed_units}")
    return failures
