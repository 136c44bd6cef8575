"""The Lua scripts, read once from the package and called by SHA.

redis-py's ``Script`` objects reload on NOSCRIPT with ``SCRIPT LOAD``, which on the async cluster client has
been seen to land on another node than the one that answered NOSCRIPT (redis-py #3935). ``LuaScript.run``
falls back to ``EVAL`` with the full source instead: ``EVAL`` is routed by the script's keys like ``EVALSHA``,
runs the script and caches it on exactly the node that lacked it. NOSCRIPT means the script did not run, so
that second call can never apply a purchase twice.

Scripts start with the Lua libraries they use (``USES``: ``lua/idemlib.lua`` for the idempotency record,
``lua/skulib.lua`` for a sale's SKUs, quotas and lines, ``lua/holdlib.lua`` for the hold record and the expiry
step, ``lua/clocklib.lua`` for Redis time, ``lua/queuelib.lua`` for the waiting room's open step,
``lua/admitlib.lua`` for the admission check of a purchase or hold, ``lua/eligibilitylib.lua`` for a sale's
eligibility rules), joined to their source here, so each record format is written once on the Lua side. Redis
runs one self-contained source per
script either way; the SHA is the SHA of the joined source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

LIBRARIES = ("clocklib", "idemlib", "skulib", "holdlib", "queuelib", "admitlib", "eligibilitylib")
"""Lua files that are never run alone: prepended to the scripts that use them."""
_HOLD = ("clocklib", "skulib", "holdlib")
_QUEUE = ("clocklib", "queuelib")
USES: dict[str, tuple[str, ...]] = {
    "purchase": ("clocklib", "idemlib", "skulib", "holdlib", "admitlib", "eligibilitylib"),
    "hold": (*_HOLD, "admitlib", "eligibilitylib"),
    "repair": ("clocklib", "idemlib", "skulib"),
    "cancel_order": ("skulib",),
    "create_sale": ("clocklib",),
    **{name: _HOLD for name in ("confirm", "release", "read_hold", "read_sale", "reap")},
    **{name: _QUEUE for name in ("queue_create", "queue_advance")},
    "queue_join": (*_QUEUE, "eligibilitylib"),
}
"""Which libraries each script starts with, in this order: lua/clocklib.lua (Redis time) for the scripts that
read the clock, lua/idemlib.lua (the idempotency record) for those that read or write that record,
lua/skulib.lua (SKUs, quotas and lines) for those that sell, hold, return or count units per SKU (holdlib.lua
uses it: a hold's lines go back on expiry), lua/holdlib.lua (the hold record and the expiry step) for those that
touch holds, lua/queuelib.lua (the waiting room's open step) for the queue scripts, lua/admitlib.lua (the
admission check) for purchase and hold, lua/eligibilitylib.lua (eligibility rules) for purchase, hold and queue
join."""


def _read(name: str) -> str:
    return resources.files("flashsale.inventory").joinpath("lua", f"{name}.lua").read_text("utf-8")


@dataclass(frozen=True, slots=True)
class LuaScript:
    name: str
    source: str
    sha: str

    @classmethod
    def load(cls, name: str) -> LuaScript:
        source = "\n".join([*(_read(library) for library in USES.get(name, ())), _read(name)])
        return cls(name=name, source=source, sha=hashlib.sha1(source.encode()).hexdigest())  # noqa: S324

    async def run(self, client: Any, keys: tuple[str, ...], args: tuple[Any, ...]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)


@dataclass(frozen=True, slots=True)
class Scripts:
    purchase: LuaScript
    create_sale: LuaScript
    restock: LuaScript
    close_sale: LuaScript
    read_sale: LuaScript
    hold: LuaScript
    confirm: LuaScript
    release: LuaScript
    read_hold: LuaScript
    reap: LuaScript
    cancel_order: LuaScript
    repair: LuaScript
    retire_sale: LuaScript
    queue_create: LuaScript
    queue_join: LuaScript
    queue_advance: LuaScript
    queue_pause: LuaScript
    read_orders: LuaScript
    queue_seal: LuaScript

    @classmethod
    def load(cls) -> Scripts:
        return cls(**{name: LuaScript.load(name) for name in cls.__slots__})

    def __iter__(self) -> Iterator[LuaScript]:
        return iter(getattr(self, name) for name in self.__slots__)
