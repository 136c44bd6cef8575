"""Admission tokens refused before Redis: forged, another key, expired, not yet valid, wrong sale or buyer."""

from __future__ import annotations

import pytest

from flashsale.queue import Admission, AdmissionError, Signer
from flashsale.queue.tokens import CLOCK_SKEW_MS, Ticket, TicketError

NOW = 1_800_000_000_000
signer = Signer(b"k" * 32)


def issue(nbf: int = NOW - 1000, exp: int = NOW + 60_000) -> tuple[str, Admission]:
    return signer.issue("drop-1", "alice", 7, nbf, exp)


def reason(token: str, sale: str = "drop-1", buyer: str = "alice", now: int = NOW) -> str:
    with pytest.raises(AdmissionError) as refused:
        signer.verify(token, sale, buyer, now)
    return refused.value.reason


def test_a_valid_token_gives_its_claims() -> None:
    token, claims = issue()
    assert signer.verify(token, "drop-1", "alice", NOW) == claims
    assert claims.position == 7 and len(claims.jti) >= 16


def test_one_place_one_jti() -> None:
    """Every token of one place shares its jti (so polling again never yields a second purchase); other places
    and other sales get other jtis."""
    assert issue()[1].jti == issue(exp=NOW + 1)[1].jti
    jtis = {signer.jti("drop-1", p) for p in range(1000)} | {signer.jti("drop-2", p) for p in range(1000)}
    assert len(jtis) == 2000


def test_tickets_round_trip_and_refuse_forgeries() -> None:
    ticket = signer.ticket("drop-1", "alice", 41)
    assert signer.read_ticket(ticket, "drop-1") == Ticket("drop-1", "alice", 41)
    assert signer.ticket("drop-1", "alice", 41) == ticket
    token, _ = issue()
    for bad in [
        token,
        ticket + "x",
        ticket.replace("t1.", "a1."),
        "",
        "t1..",
        Signer(b"x" * 32).ticket("drop-1", "a", 1),
    ]:
        with pytest.raises(TicketError):
            signer.read_ticket(bad, "drop-1")
    with pytest.raises(TicketError):
        signer.read_ticket(ticket, "drop-2")


def test_forged_tokens_are_invalid() -> None:
    token, _ = issue()
    head, _, mac = token.rpartition(".")
    flipped = head + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    other_key = Signer(b"x" * 32).issue("drop-1", "alice", 7, NOW - 1000, NOW + 60_000)[0]
    for forged in [flipped, other_key, "", "a1.", "a1..", "junk", token + "x", "\u00e9" * 40]:
        assert reason(forged) == "admission_invalid", forged


def test_claims_changed_without_the_key_are_invalid() -> None:
    token, _ = issue()
    mac = token.split(".")[2]
    other, _ = signer.issue("drop-1", "mallory", 0, NOW - 1000, NOW + 60_000)
    assert reason("a1." + other.split(".")[1] + "." + mac) == "admission_invalid"


def test_another_sale_or_buyer_cannot_use_it() -> None:
    token, _ = issue()
    assert reason(token, sale="drop-2") == "admission_invalid"
    assert reason(token, buyer="bob") == "admission_invalid"


def test_time_window_with_skew() -> None:
    token, _ = issue(nbf=NOW + 10_000, exp=NOW + 60_000)
    assert reason(token) == "admission_not_yet_valid"
    assert signer.verify(token, "drop-1", "alice", NOW + 10_000 - CLOCK_SKEW_MS)
    expired, _ = issue(nbf=NOW - 60_000, exp=NOW - 10_000)
    assert reason(expired) == "admission_expired"
    assert reason(expired, now=NOW - 10_000 + CLOCK_SKEW_MS) == "admission_expired"
    assert signer.verify(expired, "drop-1", "alice", NOW - 10_000 + CLOCK_SKEW_MS - 1)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Signer(b"short")
