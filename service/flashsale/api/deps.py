"""The dependencies every controller may ask for, provided once in ``create_app``."""

from __future__ import annotations

from litestar.di import NamedDependency

from flashsale.inventory import Inventory
from flashsale.telemetry import Recorder

InventoryDep = NamedDependency[Inventory]
RecorderDep = NamedDependency[Recorder]
