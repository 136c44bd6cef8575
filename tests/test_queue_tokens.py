"""Admission tokens and tickets refused before Redis: forged, another key, expired, not yet valid, wrong sale or
buyer; key ids and rotation."""

from __future__ import annotations

import pytest

from flashsale.queue import Admission, AdmissionError, Signer
from flashsale.queue.tokens import CLOCK_SKEW_MS, Ticket, TicketError, key_id

NOW = 1_800_000_000_000
ROOM = "r00m-1d_abcd"
signer = Signer(b"k" * 32)


def issue(nbf: int = NOW - 1000, exp: int = NOW + 60_000, by: Signer = signer) -> tuple[str, Admission]:
    return by.issue("drop-1", ROOM, "alice", 7, nbf, exp)


def reason(token: str, sale: str = "drop-1", buyer: str = "alice", now: int = NOW, by: Signer = signer) -> str:
    with pytest.raises(AdmissionError) as refused:
        by.verify(token, sale, buyer, now)
    return refused.value.reason


def test_a_valid_token_gives_its_claims() -> None:
    token, claims = issue()
    assert signer.verify(token, "drop-1", "alice", NOW) == claims
    assert claims.position == 7 and claims.room == ROOM
    assert token.startswith(f"a2.{signer.kid}.")


def test_one_place_is_spent_under_one_name_whatever_the_key_or_the_poll() -> None:
    """The purchase step spends ``<room>:<place>`` (the admission argument's first two parts; the third is the
    expiry Redis judges it by): every token of one place, from any key, names the same record."""
    rotated = Signer(b"n" * 32)

    def record(spent_as: str) -> str:
        return ":".join(spent_as.split(":")[:2])

    assert record(issue()[1].spent_as) == record(issue(exp=NOW + 1)[1].spent_as) == f"{ROOM}:7"
    assert record(issue(by=rotated)[1].spent_as) == f"{ROOM}:7"
    assert issue(exp=NOW + 1)[1].spent_as.split(":")[2] == str(NOW + 1)
    waitlisted = signer.issue("drop-1", ROOM, "alice", 7, NOW, NOW + 1, waitlist=True)[1]
    assert waitlisted.spent_as == f"{ROOM}:7:{NOW + 1}:w"


def test_tickets_round_trip_expire_and_refuse_forgeries() -> None:
    ticket = signer.ticket("drop-1", ROOM, "alice", 41, NOW + 10_000)
    assert signer.read_ticket(ticket, "drop-1", NOW) == Ticket("drop-1", ROOM, "alice", 41, NOW + 10_000)
    assert signer.ticket("drop-1", ROOM, "alice", 41, NOW + 10_000) == ticket
    token, _ = issue()
    for bad in [
        token,
        ticket + "x",
        ticket.replace("t2.", "a2."),
        "",
        "t2..",
        "t2...",
        Signer(b"x" * 32).ticket("drop-1", ROOM, "a", 1, NOW + 10_000),
    ]:
        with pytest.raises(TicketError):
            signer.read_ticket(bad, "drop-1", NOW)
    with pytest.raises(TicketError):
        signer.read_ticket(ticket, "drop-2", NOW)
    with pytest.raises(TicketError):  # past the room's end plus its retention
        signer.read_ticket(ticket, "drop-1", NOW + 10_000)


def test_forged_tokens_are_invalid() -> None:
    token, _ = issue()
    head, _, mac = token.rpartition(".")
    flipped = head + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    other_key = issue(by=Signer(b"x" * 32))[0]
    for forged in [flipped, other_key, "", "a2.", "a2..", "a2...", "junk", token + "x", "\u00e9" * 40]:
        assert reason(forged) == "admission_invalid", forged


def test_claims_changed_without_the_key_are_invalid() -> None:
    token, _ = issue()
    mac = token.split(".")[3]
    other, _ = signer.issue("drop-1", ROOM, "mallory", 0, NOW - 1000, NOW + 60_000)
    assert reason(f"a2.{signer.kid}." + other.split(".")[2] + "." + mac) == "admission_invalid"


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


def test_a_rotation_keeps_verifying_with_the_previous_key_and_re_signs_tickets() -> None:
    old, new = b"o" * 32, b"n" * 32
    before = Signer(old)
    token, claims = issue(by=before)
    ticket = before.ticket("drop-1", ROOM, "alice", 3, NOW + 10_000)
    rotated = Signer(new, previous=[old])
    assert rotated.kid == key_id(new) != key_id(old) and rotated.kids == {key_id(new), key_id(old)}
    assert rotated.verify(token, "drop-1", "alice", NOW) == claims
    assert rotated.read_ticket(ticket, "drop-1", NOW).index == 3 and not rotated.is_current(ticket)
    assert rotated.is_current(rotated.ticket("drop-1", ROOM, "alice", 3, NOW + 10_000))
    after_grace = Signer(new)
    assert reason(token, by=after_grace) == "admission_invalid"
    with pytest.raises(TicketError):
        after_grace.read_ticket(ticket, "drop-1", NOW)


def test_key_ids_do_not_show_the_key() -> None:
    key = b"s3cret-s3cret-s3cret-s3cret-s3cret"
    assert len(key_id(key)) == 8 and key_id(key) not in key.decode()


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Signer(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        Signer(b"k" * 32, previous=[b"short"])
