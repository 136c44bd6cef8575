"""Which admission key the replicas on one Redis sign with: checked when ``flashsale serve`` starts.

Two replicas with different keys each refuse the other's tickets and tokens (a buyer behind a load balancer
would see their place come and go). Redis holds the key id the fleet signs with (``keys.ADMISSION_KEY_ID``, never
the key): a server whose key id differs, and is not one it knows as a previous key (a rotation), refuses to
start. A rotation is one step: start the new replicas with the new key and the old one in
FLASHSALE_ADMISSION_KEYS_PREVIOUS; the first of them records the new id, and an old replica restarted after that
is refused instead of signing with the old key.
"""

from __future__ import annotations

from typing import Any

from flashsale.inventory.keys import ADMISSION_KEY_ID
from flashsale.queue.tokens import Signer
from flashsale.settings import SettingsError


async def register(client: Any, signer: Signer) -> str:
    """Record this server's key id as the fleet's, or raise SettingsError when the fleet signs with another key
    this server does not know. Returns the key id that was recorded before (or this one)."""
    await client.set(ADMISSION_KEY_ID, signer.kid, nx=True)
    recorded = await client.get(ADMISSION_KEY_ID)
    recorded = recorded.decode() if isinstance(recorded, bytes) else str(recorded)
    if recorded == signer.kid:
        return recorded
    if recorded in signer.kids:  # the fleet's key is one of our previous keys: this is the rotation
        await client.set(ADMISSION_KEY_ID, signer.kid)
        return recorded
    raise SettingsError(
        f"FLASHSALE_ADMISSION_KEY differs from the key the servers on this Redis sign with (key id {recorded}, "
        f"this one {signer.kid}): set the same key, or rotate by giving theirs in FLASHSALE_ADMISSION_KEYS_PREVIOUS"
    )
