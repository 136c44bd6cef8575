"""The fair open: a secret committed before the open, the join log fixed at the open, and a keyed permutation.

Buyers who join before ``opens_at`` get a join index 0..n-1 in arrival order, each logged as a digest of the
buyer (queue/joinlog.py). At creation the room publishes ``commitment = SHA-256(reveal)``, where ``reveal`` is
derived from the admission key and the room id (tokens.Signer.room_seed) and stored nowhere. At the open one
atomic step fixes ``n`` (the pre-queue size), hence the join log; right after it the controller computes the
log's Merkle root and the seed ``HMAC-SHA256(key=reveal, message=root)``, and publishes reveal, root and seed
together. Nobody could aim at a place: the seed depends on every join up to the open and on a secret that no
Redis reader or admin route sees before it. A buyer's place is ``permute(seed, n, join_index)``, computed on
read, so the open costs O(n) hashes once (the root) whatever the pre-queue size, and no shuffled list is
written. Later joiners keep FIFO order behind the pre-queue: their place is their join index.

The permutation is a 4-round Feistel network keyed with HMAC-SHA256(seed, round:half) over the smallest
power-of-four domain holding ``n`` (equal halves), with cycle-walking back into ``0..n-1``. It is a bijection by
construction, so no two buyers share a place and nobody is left out. HMAC-SHA256 is in the standard library;
the docs (docs/queue.md) give the same steps so an auditor can recompute every place from the revealed seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets

from flashsale.inventory.engine import QueueConfig
from flashsale.queue.tokens import Signer

ROUNDS = 4


def commitment(reveal: bytes) -> str:
    """The published SHA-256 of the room's secret: it binds the operator before the open without revealing it."""
    return hashlib.sha256(reveal).hexdigest()


def new_room(signer: Signer, queue: QueueConfig) -> QueueConfig:
    """``queue`` with a fresh room id and its commitment, under the signer's current key."""
    room = secrets.token_urlsafe(9)
    reveal = signer.room_seed(signer.kid, room)
    assert reveal is not None  # the current key is always known
    return dataclasses.replace(queue, room=room, kid=signer.kid, commitment=commitment(reveal))


def final_seed(reveal: bytes, root: bytes) -> bytes:
    """The permutation's key: the committed secret mixed with the join log's Merkle root."""
    return hmac.new(reveal, root, hashlib.sha256).digest()


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
