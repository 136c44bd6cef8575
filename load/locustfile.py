"""The default locustfile: the ``steady`` campaign (see steady.py), e.g. for the compose stack's locust.

    FLASHSALE_ADMIN_TOKEN=... locust -f load/locustfile.py --host http://127.0.0.1:8000

The admin token (FLASHSALE_ADMIN_TOKEN) lets it create its sales; the target is --host or LOCUST_HOST.
Loopback and private-network targets only, unless --allow-remote. Other campaigns: ``python -m load.run``.
"""

from __future__ import annotations

try:
    from load.steady import Shopper
except ModuleNotFoundError:  # the compose stack mounts ./load alone (at /mnt/load)
    from steady import Shopper  # type: ignore[no-redef]

__all__ = ["Shopper"]
