"""A room's join log: who holds each join index, as digests, and the Merkle tree the open commits to.

Each place is stored under a 16-byte digest of its buyer, keyed per room, so a place costs the same few bytes
whatever the buyer id's length, and the join log can be published without publishing buyer ids:

    salt_b  = HMAC-SHA256(room salt, buyer id)[:16]     given to that buyer only, with their inclusion proof
    digest  = SHA-256(salt_b || buyer id)[:16]

A buyer who knows their id and ``salt_b`` recomputes their digest; anyone else would have to guess both.

The Merkle tree is RFC 9162's (Certificate Transparency v2, section 2.1) over the leaves
``u64 big-endian join index || digest``: ``leaf = SHA-256(0x00 || data)``, ``node = SHA-256(0x01 || left ||
right)``, the left subtree holding the largest power of two below n leaves. docs/queue.md gives the same steps
and the check of an inclusion proof, so an outsider can verify a root and a proof without this code.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

DIGEST_BYTES = 16


def buyer_salt(room_salt: bytes, buyer_id: str) -> bytes:
    return hmac.new(room_salt, buyer_id.encode(), hashlib.sha256).digest()[:DIGEST_BYTES]


def buyer_digest(room_salt: bytes, buyer_id: str) -> bytes:
    """The 16 bytes a place is stored (and logged) under in its room."""
    return hashlib.sha256(buyer_salt(room_salt, buyer_id) + buyer_id.encode()).digest()[:DIGEST_BYTES]


def leaf_hash(index: int, digest: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + index.to_bytes(8, "big") + digest).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaves(log: bytes) -> list[bytes]:
    """The leaf hashes of a join log (16 bytes per join index, in index order)."""
    return [leaf_hash(i, log[o : o + DIGEST_BYTES]) for i, o in enumerate(range(0, len(log), DIGEST_BYTES))]


def tree(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the Merkle tree, leaves first, root last: built bottom-up, pairing left to right and
    carrying an odd last node up a level unchanged, which is the tree of RFC 9162's recursive split (the left
    subtree holds the largest power of two below n). 2n hashes: kept once per room to answer proofs."""
    levels = [list(hashes) or [hashlib.sha256(b"").digest()]]
    while len(levels[-1]) > 1:
        level = levels[-1]
        up = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        levels.append(up)
    return levels


def root(hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of the leaf hashes (the SHA-256 of nothing for an empty log)."""
    return tree(hashes)[-1][0]


def proof(levels: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """The inclusion proof (audit path, RFC 9162 2.1.3.1) of leaf ``index``, from the leaf up: at each level the
    sibling of the node on the path, none where that node is carried up alone."""
    if not 0 <= index < len(levels[0]):
        raise ValueError(f"index {index} outside 0..{len(levels[0]) - 1}")
    path: list[bytes] = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index >>= 1
    return path


def verify(index: int, size: int, leaf: bytes, path: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 2.1.3.2: does ``path`` prove leaf hash ``leaf`` at ``index`` in a tree of ``size`` leaves?"""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, expected_root)
