"""Admission tokens: compact, HMAC-SHA256 signed, checked without a Redis call.

A token says "buyer B may buy in sale S between nbf and exp"; its jti is spent by the purchase or hold Lua step
itself (the same round trip), so a token is single-use without a lookup before the purchase. The jti is derived
from the sale and the place (``Signer.jti``), so every token issued for one place, however often its buyer polls,
shares one jti: one admission buys once. The format is
``a1.<claims>.<mac>``: claims are a msgspec array (sale, buyer, position, nbf_ms, exp_ms, jti) in JSON,
base64url, and the MAC is HMAC-SHA256 over ``a1.<claims>`` truncated to 16 bytes (128 bits, as RFC 2104
section 5 allows for a tag of at least half the hash). A JWT library would add a header to parse and an
algorithm field to police (the ``alg`` confusion class of bugs) for a token only this service issues and reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

import msgspec

PREFIX = b"a1."
TICKET_PREFIX = b"t1."
"""Queue tickets are signed the same way under their own prefix, so a ticket is never taken for a token."""
MAC_BYTES = 16
# Clocks of API workers differ a little from each other; the nbf/exp checks allow this much either way.
CLOCK_SKEW_MS = 2000

Reason = Literal["admission_invalid", "admission_expired", "admission_not_yet_valid"]


class Admission(msgspec.Struct, array_like=True, frozen=True):
    """The claims of one admission token."""

    sale_id: str
    buyer_id: str
    position: int
    nbf_ms: int
    exp_ms: int
    jti: str


@dataclass(frozen=True)
class AdmissionError(Exception):
    """A token refused before Redis is asked; ``reason`` is the outcome name (and problem type)."""

    reason: Reason


class Ticket(msgspec.Struct, array_like=True, frozen=True):
    """A place in a sale's waiting room: the handle a buyer polls with. Signed, so the poll needs no lookup
    to know whose place it is, and unforgeable, so knowing someone's buyer id does not give their place."""

    sale_id: str
    buyer_id: str
    index: int
    """The join index (arrival order); the place follows from it (queue/fair.py)."""


class TicketError(Exception):
    """Not a ticket of this sale signed with this service's key."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Admission)
_ticket_decoder = msgspec.json.Decoder(Ticket)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(text: bytes) -> bytes:
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


class Signer:
    """Issues and verifies admission tokens with one key shared by every API worker."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the admission key needs at least 32 bytes")
        self._key = key

    def _mac(self, signed: bytes) -> bytes:
        return hmac.new(self._key, signed, hashlib.sha256).digest()[:MAC_BYTES]

    def _seal(self, prefix: bytes, claims: msgspec.Struct) -> str:
        signed = prefix + _b64(_encoder.encode(claims))
        return (signed + b"." + _b64(self._mac(signed))).decode()

    def jti(self, sale_id: str, position: int) -> str:
        """The one jti of a place's admission: 16 bytes of HMAC over (sale, place), base64url."""
        return _b64(self._mac(f"jti\x00{sale_id}\x00{position}".encode())).decode()

    def issue(self, sale_id: str, buyer_id: str, position: int, nbf_ms: int, exp_ms: int) -> tuple[str, Admission]:
        claims = Admission(sale_id, buyer_id, position, nbf_ms, exp_ms, self.jti(sale_id, position))
        return self._seal(PREFIX, claims), claims

    def ticket(self, sale_id: str, buyer_id: str, index: int) -> str:
        """The ticket of a join index: the same place always gets the same ticket (a replayed join too)."""
        return self._seal(TICKET_PREFIX, Ticket(sale_id, buyer_id, index))

    def read_ticket(self, ticket: str, sale_id: str) -> Ticket:
        raw = ticket.encode("ascii", "replace")
        signed, dot, mac = raw.rpartition(b".")
        if not dot or not signed.startswith(TICKET_PREFIX):
            raise TicketError
        try:
            given = _unb64(mac)
            claims = _ticket_decoder.decode(_unb64(signed[len(TICKET_PREFIX) :]))
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise TicketError from None
        if not hmac.compare_digest(given, self._mac(signed)) or claims.sale_id != sale_id:
            raise TicketError
        return claims

    def verify(self, token: str, sale_id: str, buyer_id: str, now_ms: int) -> Admission:
        """The claims of a token valid for this sale and buyer now, else AdmissionError.

        A token of another sale or buyer is ``admission_invalid``, not a separate reason: it tells a caller
        holding someone else's token nothing more than a forged one would.
        """
        raw = token.encode("ascii", "replace")
        signed, dot, mac = raw.rpartition(b".")
        if not dot or not signed.startswith(PREFIX):
            raise AdmissionError("admission_invalid")
        try:
            given = _unb64(mac)
            claims = _decoder.decode(_unb64(signed[len(PREFIX) :]))
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise AdmissionError("admission_invalid") from None
        if not hmac.compare_digest(given, self._mac(signed)):
            raise AdmissionError("admission_invalid")
        if claims.sale_id != sale_id or claims.buyer_id != buyer_id:
            raise AdmissionError("admission_invalid")
        if now_ms + CLOCK_SKEW_MS < claims.nbf_ms:
            raise AdmissionError("admission_not_yet_valid")
        if now_ms - CLOCK_SKEW_MS >= claims.exp_ms:
            raise AdmissionError("admission_expired")
        return claims
