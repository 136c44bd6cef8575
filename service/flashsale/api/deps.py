"""What the slower routes (admin, health, the scrape) take by dependency injection, and where it comes from:
the app's state, filled at start-up by ``create_app``. The hot buyer routes read app state directly instead: with
two or more dependencies Litestar resolves them in an anyio task group, which cost ~16 % of a purchase's CPU."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from flashsale.inventory import Inventory
from flashsale.orders.db import OrderStore
from flashsale.telemetry import Recorder

InventoryDep = NamedDependency[Inventory]
RecorderDep = NamedDependency[Recorder]
OrderStoreDep = NamedDependency[OrderStore | None]
"""The PostgreSQL order store, None while FLASHSALE_DATABASE_URL is unset."""


def _inventory(state: State) -> Inventory:
    return state.inventory  # type: ignore[no-any-return]


def _recorder(state: State) -> Recorder:
    return state.recorder  # type: ignore[no-any-return]


def _orders(state: State) -> OrderStore | None:
    return state.orders  # type: ignore[no-any-return]


def dependencies() -> dict[str, Provide]:
    """The app's ``dependencies``: one provider per name above."""
    return {
        "inventory": Provide(_inventory, sync_to_thread=False),
        "recorder": Provide(_recorder, sync_to_thread=False),
        "orders": Provide(_orders, sync_to_thread=False),
    }
