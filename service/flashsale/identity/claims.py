"""Eligibility: what a sale may require of a buyer's verified claims, and the buyer's facts it is judged on.

The rules live with the sale in Redis and are judged inside the purchase, hold and join scripts
(``lua/eligibilitylib.lua``), so an eligibility check costs no extra round trip and a re-created sale can never
be judged by a worker's stale copy of its rules. The API's part is to turn a verified token's claims into
``Facts`` once per token (cached with the token) and to send them as one script argument.

Both strings below are read by ``eligibilitylib.lua`` and written only here:

- rules, the sale hash's ``eligibility`` field: ``<email_verified 0|1>\\t<phone_number_verified 0|1>\\t<group>\\t
  <account_created_before ms>\\t<until ms>`` (empty text: no such rule);
- facts, one script argument: ``<email_verified 0|1>\\t<phone_number_verified 0|1>\\t<created ms>\\t,<g1>,<g2>,``.

Rule names, as the 403 ``buyer-not-eligible`` names the one that failed: ``email_verified``,
``phone_number_verified``, ``group``, ``account_created_before``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

RULES = ("email_verified", "phone_number_verified", "group", "account_created_before")
GROUP_PATTERN = r"^[A-Za-z0-9._:/@-]{1,64}$"
_GROUP = re.compile(GROUP_PATTERN)
MAX_GROUPS = 64
"""Groups read from one token, at most (a token is at most 8 KiB; this bounds the script argument)."""

Facts = str
"""A buyer's facts in the script argument format (module docstring)."""

NO_FACTS: Facts = "0\t0\t\t,"


def _instant_ms(value: Any) -> int | None:
    """An account-creation claim: seconds since the epoch (a number) or an RFC 3339 string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value * 1000)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return int(parsed.timestamp() * 1000) if parsed.tzinfo is not None else None
    return None


def facts_of(claims: dict[str, Any], groups_claim: str, created_claim: str | None) -> Facts:
    """The facts eligibility rules read, from a verified token's claims. Claims of the wrong type count as
    absent (a rule that needs them fails), never as an error: the token itself is valid."""
    email = "1" if claims.get("email_verified") is True else "0"
    phone = "1" if claims.get("phone_number_verified") is True else "0"
    created = _instant_ms(claims.get(created_claim)) if created_claim else None
    raw = claims.get(groups_claim)
    if isinstance(raw, str):
        raw = raw.split()
    groups = [g for g in raw[:MAX_GROUPS] if isinstance(g, str) and _GROUP.match(g)] if isinstance(raw, list) else []
    return f"{email}\t{phone}\t{'' if created is None else created}\t,{','.join(groups)}{',' if groups else ''}"


def encode_rules(
    email_verified: bool = False,
    phone_number_verified: bool = False,
    group: str | None = None,
    account_created_before_ms: int | None = None,
    until_ms: int | None = None,
) -> str:
    """A sale's rules as the ``eligibility`` field stores them; "" when the sale requires nothing."""
    if not (email_verified or phone_number_verified or group or account_created_before_ms is not None):
        return ""
    if group is not None and not _GROUP.match(group):
        raise ValueError(f"not a group name: {group!r}")
    parts = (
        "1" if email_verified else "0",
        "1" if phone_number_verified else "0",
        group or "",
        "" if account_created_before_ms is None else str(account_created_before_ms),
        "" if until_ms is None else str(until_ms),
    )
    return "\t".join(parts)


def decode_rules(text: str) -> tuple[bool, bool, str | None, int | None, int | None] | None:
    """A stored rules string back as (email_verified, phone_number_verified, group, account_created_before_ms,
    until_ms); None for a sale that requires nothing."""
    if not text:
        return None
    email, phone, group, before, until = text.split("\t")
    return email == "1", phone == "1", group or None, int(before) if before else None, int(until) if until else None
