"""The fair open at 100,000 pre-queue registrants: a bijection, uncorrelated with arrival, uniform, auditable."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pytest
from scipy import stats

from flashsale.queue import commitment, permute, position_of

N = 100_000


@pytest.fixture(scope="module")
def seed() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture(scope="module")
def places(seed: bytes) -> list[int]:
    return [permute(seed, N, index) for index in range(N)]


def test_every_registrant_gets_exactly_one_place(places: list[int]) -> None:
    assert sorted(places) == list(range(N))


def test_arrival_order_does_not_predict_place(places: list[int]) -> None:
    tau, p_value = stats.kendalltau(range(N), places)
    # Under independence tau's standard deviation at n=100,000 is about 0.0021.
    assert abs(tau) < 0.01, tau
    assert p_value > 1e-4, p_value


def test_early_and_late_joiners_spread_uniformly(places: list[int]) -> None:
    """Arrival deciles against place deciles: a 10x10 table that a fair shuffle leaves flat."""
    table = [[0] * 10 for _ in range(10)]
    for index, place in enumerate(places):
        table[index * 10 // N][place * 10 // N] += 1
    chi2, p_value, _, _ = stats.chi2_contingency(table)
    assert p_value > 1e-4, (chi2, p_value)
    first_arrivals = [place * 100 // N for place in places[: N // 10]]
    counts = [first_arrivals.count(bucket) for bucket in range(100)]
    assert stats.chisquare(counts).pvalue > 1e-4


def _audit_permute(seed: bytes, n: int, index: int) -> int:
    """An auditor's recomputation written from docs/queue.md alone (not calling flashsale.queue)."""
    bits = max(2, (n - 1).bit_length())
    half = (bits + 1) // 2
    mask = (1 << half) - 1

    def network(value: int) -> int:
        left, right = value >> half, value & mask
        for number in range(4):
            digest = hmac.new(seed, f"{number}:{right}".encode(), hashlib.sha256).digest()
            left, right = right, left ^ (int.from_bytes(digest[:8], "big") & mask)
        return (left << half) | right

    value = network(index)
    while value >= n:
        value = network(value)
    return value


def test_published_seed_recomputes_every_place(seed: bytes, places: list[int]) -> None:
    published = commitment(seed)
    revealed = seed
    assert hashlib.sha256(revealed).hexdigest() == published
    for index in range(0, N, 7):
        assert _audit_permute(revealed, N, index) == places[index]


def test_another_seed_gives_another_order(places: list[int]) -> None:
    other = [permute(secrets.token_bytes(32), N, index) for index in range(1000)]
    assert other != places[:1000]


def test_no_place_before_the_open_and_fifo_after_the_pre_queue(seed: bytes) -> None:
    assert position_of(5, None, None) is None
    assert position_of(N + 3, N, seed) == N + 3
    assert position_of(5, N, seed) == permute(seed, N, 5)
    with pytest.raises(ValueError, match="outside"):
        permute(seed, N, N)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 17, 1000])
def test_small_pre_queues_are_permutations(seed: bytes, n: int) -> None:
    assert sorted(permute(seed, n, index) for index in range(n)) == list(range(n))
