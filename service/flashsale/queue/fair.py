"""The fair open: a seed committed before the open, revealed after, and a keyed permutation of join indexes.

Buyers who join before ``opens_at`` get a join index 0..n-1 in arrival order. At the open one atomic step fixes
``n`` (the pre-queue size) and the seed; a buyer's place is ``permute(seed, n, join_index)``, computed on read,
so the open costs O(1) whatever the pre-queue size (no shuffled list of 100,000 members is written). Later
joiners keep FIFO order behind the pre-queue: their place is their join index.

The permutation is a 4-round Feistel network keyed with HMAC-SHA256(seed, round:half) over the smallest
power-of-four domain holding ``n`` (equal halves), with cycle-walking back into ``0..n-1``. It is a bijection by
construction, so no two buyers share a place and nobody is left out. HMAC-SHA256 is in the standard library;
the docs (docs/queue.md) give the same steps so an auditor can recompute every place from the revealed seed.
"""

from __future__ import annotations

import hashlib
import hmac

ROUNDS = 4


def commitment(seed: bytes) -> str:
    """The published SHA-256 of the seed: it binds the operator before the open without revealing the order."""
    return hashlib.sha256(seed).hexdigest()


def _half_bits(n: int) -> int:
    bits = max(2, (n - 1).bit_length())
    return (bits + 1) // 2


def _round(seed: bytes, number: int, value: int, mask: int) -> int:
    digest = hmac.new(seed, f"{number}:{value}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") & mask


def _feistel(seed: bytes, half: int, value: int) -> int:
    mask = (1 << half) - 1
    left, right = value >> half, value & mask
    for number in range(ROUNDS):
        left, right = right, left ^ _round(seed, number, right, mask)
    return (left << half) | right


def permute(seed: bytes, n: int, index: int) -> int:
    """Place (0-based) of join index ``index`` among ``n`` pre-queue buyers.

    Cycle-walking: the Feistel domain is at most 4n, so the expected number of walks is below 4.
    """
    if not 0 <= index < n:
        raise ValueError(f"index {index} outside 0..{n - 1}")
    if n == 1:
        return 0
    half = _half_bits(n)
    value = _feistel(seed, half, index)
    while value >= n:
        value = _feistel(seed, half, value)
    return value


def position_of(join_index: int, pre_count: int | None, seed: bytes | None) -> int | None:
    """A buyer's 0-based place, or None before the open fixed the pre-queue (its order does not exist yet)."""
    if pre_count is None or seed is None:
        return None
    if join_index >= pre_count:
        return join_index
    return permute(seed, pre_count, join_index)
