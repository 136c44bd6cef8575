"""Admission tokens and queue tickets: compact, HMAC-SHA256 signed, checked without a Redis call.

A token says "buyer B may buy in room R of sale S, at place P, between nbf and exp"; the purchase or hold Lua step
itself spends the place (field ``<room>:<place>`` of the sale's admissions hash, lua/admitlib.lua) in the same
round trip, so every token ever issued for one place, under whatever key, buys once. The room is a random id
made when the sale's waiting room is created: a deleted and re-created sale has another, so its old tickets and
tokens are refused.

Formats: ``a2.<kid>.<claims>.<mac>`` (token) and ``t2.<kid>.<claims>.<mac>`` (ticket). ``kid`` names the key
that signed (``key_id``: 8 base64url characters of an HMAC of the key, which does not reveal it), so a rotation
keeps verifying what the previous key signed for as long as that key is configured as a previous one. Claims are
a msgspec array in JSON, base64url; the MAC is HMAC-SHA256 over ``<prefix>.<kid>.<claims>`` truncated to 16 bytes
(128 bits, as RFC 2104 section 5 allows for a tag of at least half the hash). A JWT library would add a header to
parse and an algorithm field to police (the ``alg`` confusion class of bugs) for a token only this service issues
and reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import msgspec

PREFIX = b"a2."
TICKET_PREFIX = b"t2."
"""Queue tickets are signed the same way under their own prefix, so a ticket is never taken for a token."""
MAC_BYTES = 16
MIN_KEY_BYTES = 32
TICKETS_KEPT = 100_000
"""Verified tickets a signer remembers at most (it starts afresh past it): a few MB whatever the pollers do."""
# Clocks of API workers differ a little from each other; the nbf/exp checks allow this much either way.
CLOCK_SKEW_MS = 2000

Reason = Literal["admission_invalid", "admission_expired", "admission_not_yet_valid"]


class Admission(msgspec.Struct, array_like=True, frozen=True):
    """The claims of one admission token."""

    sale_id: str
    room: str
    buyer_id: str
    position: int
    nbf_ms: int
    exp_ms: int
    waitlist: bool = False
    """Given from the waitlist (after the sale first sold out): counted in the sale's waitlist figures."""

    @property
    def spent_as(self) -> str:
        """The admission argument of purchase.lua / hold.lua (lua/admitlib.lua): ``<room>:<place>:<exp_ms>[:w]``.

        The expiry travels with it because Redis, not the worker, has the last word on it: the API lets a token
        through CLOCK_SKEW_MS past its ``exp`` (workers' clocks differ), while the admission controller hands an
        unspent admission's unit to the next place once ``exp`` has passed by Redis time. Judged by the same clock
        in the purchase step, a late token cannot take the unit its successor was admitted for (seen under an
        overloaded worker: 9-13 admitted buyers of 80 answered sold out)."""
        return f"{self.room}:{self.position}:{self.exp_ms}{':w' if self.waitlist else ''}"


@dataclass(frozen=True)
class AdmissionError(Exception):
    """A token refused before Redis is asked; ``reason`` is the outcome name (and problem type)."""

    reason: Reason


class Ticket(msgspec.Struct, array_like=True, frozen=True):
    """A place in a sale's waiting room: the handle a buyer polls with. Signed, so the poll needs no lookup
    to know whose place it is, and unforgeable, so knowing someone's buyer id does not give their place."""

    sale_id: str
    room: str
    buyer_id: str
    index: int
    """The join index (arrival order); the place follows from it (queue/fair.py)."""
    exp_ms: int
    """The room's end plus its retention: past it the ticket is unknown (the room's keys are gone too)."""


class TicketError(Exception):
    """Not a live ticket of this sale signed with one of this service's keys."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Admission)
_ticket_decoder = msgspec.json.Decoder(Ticket)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(text: bytes) -> bytes:
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def key_id(key: bytes) -> str:
    """The public name of a key: 6 bytes of HMAC-SHA256(key, "flashsale key id"), base64url (8 characters)."""
    return _b64(hmac.new(key, b"flashsale key id", hashlib.sha256).digest()[:6]).decode()


class Signer:
    """Issues tickets and tokens with the current key; verifies with the current or a previous one."""

    def __init__(self, key: bytes, previous: Sequence[bytes] = ()) -> None:
        for k in (key, *previous):
            if len(k) < MIN_KEY_BYTES:
                raise ValueError(f"an admission key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self.kid = key_id(key)
        self._keys: dict[bytes, bytes] = {self.kid.encode(): key}
        for k in previous:
            self._keys.setdefault(key_id(k).encode(), k)
        self._head = PREFIX + self.kid.encode() + b"."
        self._ticket_head = TICKET_PREFIX + self.kid.encode() + b"."
        self._read: dict[str, Ticket] = {}
        """Tickets verified before: a buyer polls the same ticket every few seconds (bounded, TICKETS_KEPT)."""

    @property
    def kids(self) -> frozenset[str]:
        """Every key id this signer verifies (the current one first among them)."""
        return frozenset(k.decode() for k in self._keys)

    def key_for(self, kid: str) -> bytes | None:
        """The key named ``kid`` (current or previous), for what a room derives from its creation key."""
        return self._keys.get(kid.encode())

    def room_seed(self, kid: str, room: str) -> bytes | None:
        """The secret a room's draw starts from: HMAC-SHA256(the key named ``kid``, "flashsale seed" 0x00 room).
        Derived, never stored, so before the open it exists nowhere a Redis reader or an admin route can see;
        None when that key is not configured any more (keep a rotated key until its rooms have opened)."""
        key = self.key_for(kid)
        if key is None:
            return None
        return hmac.new(key, b"flashsale seed\x00" + room.encode(), hashlib.sha256).digest()

    @staticmethod
    def _mac(key: bytes, signed: bytes) -> bytes:
        return hmac.digest(key, signed, "sha256")[:MAC_BYTES]

    def _seal(self, head: bytes, claims: msgspec.Struct) -> str:
        signed = head + _b64(_encoder.encode(claims))
        return (signed + b"." + _b64(self._mac(self._key, signed))).decode()

    def _open(self, text: str, prefix: bytes) -> tuple[bytes, bytes] | None:
        """(kid, claims bytes) of a well-signed ``<prefix><kid>.<claims>.<mac>``, else None."""
        raw = text.encode("ascii", "replace")
        if not raw.startswith(prefix):
            return None
        signed, dot, mac = raw.rpartition(b".")
        kid, dot2, body = signed[len(prefix) :].partition(b".")
        key = self._keys.get(kid)
        if not dot or not dot2 or key is None:
            return None
        try:
            given = _unb64(mac)
            claims = _unb64(body)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(given, self._mac(key, signed)):
            return None
        return kid, claims

    def issue(
        self,
        sale_id: str,
        room: str,
        buyer_id: str,
        position: int,
        nbf_ms: int,
        exp_ms: int,
        waitlist: bool = False,
    ) -> tuple[str, Admission]:
        claims = Admission(sale_id, room, buyer_id, position, nbf_ms, exp_ms, waitlist)
        return self._seal(self._head, claims), claims

    def ticket(self, sale_id: str, room: str, buyer_id: str, index: int, exp_ms: int) -> str:
        """The ticket of a join index: the same place always gets the same ticket (a replayed join too)."""
        return self._seal(self._ticket_head, Ticket(sale_id, room, buyer_id, index, exp_ms))

    def is_current(self, ticket: str) -> bool:
        """Signed with the current key (else the poll hands out the same ticket re-signed)."""
        return ticket.encode("ascii", "replace").startswith(self._ticket_head)

    def read_ticket(self, ticket: str, sale_id: str, now_ms: int) -> Ticket:
        claims = self._read.get(ticket)
        if claims is None:
            opened = self._open(ticket, TICKET_PREFIX)
            if opened is None:
                raise TicketError
            try:
                claims = _ticket_decoder.decode(opened[1])
            except msgspec.DecodeError:
                raise TicketError from None
            if len(self._read) >= TICKETS_KEPT:
                self._read.clear()
            self._read[ticket] = claims
        if claims.sale_id != sale_id or now_ms >= claims.exp_ms:
            raise TicketError
        return claims

    def verify(self, token: str, sale_id: str, buyer_id: str, now_ms: int) -> Admission:
        """The claims of a token valid for this sale and buyer now, else AdmissionError.

        A token of another sale or buyer is ``admission_invalid``, not a separate reason: it tells a caller
        holding someone else's token nothing more than a forged one would. Its room is checked by the Lua step,
        against the sale's room of the moment (lua/admitlib.lua).
        """
        opened = self._open(token, PREFIX)
        if opened is None:
            raise AdmissionError("admission_invalid")
        try:
            claims = _decoder.decode(opened[1])
        except msgspec.DecodeError:
            raise AdmissionError("admission_invalid") from None
        if claims.sale_id != sale_id or claims.buyer_id != buyer_id:
            raise AdmissionError("admission_invalid")
        if now_ms + CLOCK_SKEW_MS < claims.nbf_ms:
            raise AdmissionError("admission_not_yet_valid")
        if now_ms - CLOCK_SKEW_MS >= claims.exp_ms:
            raise AdmissionError("admission_expired")
        return claims
