"""``key_digest``: how a bearer handle (an Idempotency-Key, a hold id, a queue ticket) appears in logs and in the
orders table. A module of its own, beside ``settings``, so that both ``orders`` and ``telemetry`` can use it
without one importing the other."""

from __future__ import annotations

import hashlib


def key_digest(handle: str) -> str:
    """A short, stable digest that lets operators correlate retries without logging the handle itself: whoever
    has a key, a hold id or a ticket may use it, so none of them is written in clear."""
    return hashlib.sha256(handle.encode()).hexdigest()[:16]
