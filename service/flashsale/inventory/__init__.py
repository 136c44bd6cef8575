"""The inventory engine: Redis state, Lua scripts and purchase outcomes. Knows nothing of HTTP."""

from flashsale.inventory.engine import Inventory, PurchaseResult, SaleSnapshot, Unavailable
from flashsale.inventory.keys import SALE_ID_PATTERN, sale_keys
from flashsale.inventory.outcomes import Outcome, Path

__all__ = [
    "SALE_ID_PATTERN",
    "Inventory",
    "Outcome",
    "Path",
    "PurchaseResult",
    "SaleSnapshot",
    "Unavailable",
    "sale_keys",
]
