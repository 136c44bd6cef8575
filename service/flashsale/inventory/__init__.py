"""The inventory engine: Redis state, Lua scripts and purchase and hold outcomes. Knows nothing of HTTP."""

from flashsale.inventory.engine import Inventory, Unavailable
from flashsale.inventory.keys import HOLD_ID_PATTERN, ORDER_ID_PATTERN, SALE_ID_PATTERN, sale_keys
from flashsale.inventory.outcomes import HoldState, Outcome, Path, Step
from flashsale.inventory.replies import CancelResult, HoldResult, PurchaseResult, SaleSnapshot

__all__ = [
    "HOLD_ID_PATTERN",
    "ORDER_ID_PATTERN",
    "SALE_ID_PATTERN",
    "CancelResult",
    "HoldResult",
    "HoldState",
    "Inventory",
    "Outcome",
    "Path",
    "PurchaseResult",
    "SaleSnapshot",
    "Step",
    "Unavailable",
    "sale_keys",
]
