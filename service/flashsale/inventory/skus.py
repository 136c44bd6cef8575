"""A sale's SKUs and quotas, and the lines of an order or a hold: the model, its bounds and its one text format.

A sale is a set of SKUs (sizes, colours, ticket tiers), each with its own stock and optionally its own per-buyer
limit, plus optional quotas: named caps over a set of SKUs (all sizes together 300 while the sizes add up to
400; a VIP tier capped across two ticket types). The sale's own per-buyer limit counts units across every SKU.
A sale created with one ``stock`` has one implicit SKU, ``default``, and none of the SKU fields in Redis: every
script takes its one-stock path, which reads no SKU field (lua/skulib.lua lists the fields of a sale with SKUs).

Lines travel as one text, ``"<sku>:<quantity>,<sku>:<quantity>"``: the purchase and hold scripts' argument, the
ledger entry's ``lines`` field, the hold and idempotency records' last field and the audit's live units. It is
encoded and decoded here and in lua/skulib.lua only; SKU names never hold ``:`` or ``,`` (``SKU_PATTERN``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"
"""A SKU's or a quota's name: 1 to 32 letters, digits and . _ - (never ``:`` or ``,``, the lines separators)."""
DEFAULT_SKU = "default"
"""The one implicit SKU of a sale created with one ``stock``; no sale with items may use the name."""
MAX_SKUS = 64
"""SKUs per sale: a sneaker drop has 10-15 sizes, merch sizes times colours rarely 40. It bounds the sale
hash (8 fields per SKU), every read of it and the per-SKU metric series."""
MAX_QUOTAS = 16
"""Quotas per sale; a SKU may draw on any of them."""
MAX_LINES = 10
"""Lines per purchase or hold: the purchase script's work grows with lines times quotas per SKU (``make bench``
measures 1, 3 and 10 lines)."""

_NAME = re.compile(SKU_PATTERN)

Line = tuple[str, int]
"""(sku, quantity)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One SKU as a sale is created with it."""

    sku: str
    stock: int
    per_buyer_limit: int = 0
    """Units of this SKU one buyer may hold plus buy; 0: only the sale's limit applies."""


@dataclass(frozen=True, slots=True)
class Quota:
    """A cap over a set of SKUs: their held plus sold units never exceed ``cap``."""

    name: str
    cap: int
    skus: tuple[str, ...]


def encode_lines(lines: Iterable[Line]) -> str:
    return ",".join(f"{sku}:{quantity}" for sku, quantity in lines)


def decode_lines(raw: str) -> tuple[Line, ...]:
    if not raw:
        return ()
    out = []
    for part in raw.split(","):
        sku, _, quantity = part.rpartition(":")
        out.append((sku, int(quantity)))
    return tuple(out)


def check_catalogue(items: Sequence[Item], quotas: Sequence[Quota]) -> str | None:
    """Why a sale's items and quotas cannot be created, or None when they can."""
    if not 1 <= len(items) <= MAX_SKUS:
        return f"a sale has 1 to {MAX_SKUS} items"
    if len(quotas) > MAX_QUOTAS:
        return f"a sale has at most {MAX_QUOTAS} quotas"
    skus = [i.sku for i in items]
    for name in (*skus, *(q.name for q in quotas)):
        if not _NAME.match(name):
            return f"{name!r} is not a SKU or quota name ({SKU_PATTERN})"
    if DEFAULT_SKU in skus:
        return f"{DEFAULT_SKU!r} names the one SKU of a sale created with `stock`; choose another SKU name"
    if len(set(skus)) != len(skus):
        return "each item's sku must be distinct"
    if len({q.name for q in quotas}) != len(quotas):
        return "each quota's name must be distinct"
    known = set(skus)
    for q in quotas:
        if not q.skus:
            return f"quota {q.name!r} covers no SKU"
        if len(set(q.skus)) != len(q.skus):
            return f"quota {q.name!r} lists a SKU twice"
        unknown = [s for s in q.skus if s not in known]
        if unknown:
            return f"quota {q.name!r} names {unknown[0]!r}, which is not an item of the sale"
    return None


@dataclass(frozen=True, slots=True)
class SkuState:
    """One SKU (or quota) of a sale as read from Redis: where its units are."""

    name: str
    total: int
    """Units ever added (a quota: its cap)."""
    remaining: int
    held: int
    sold: int
    withdrawn: int
    restocked: int
    limit: int = 0
    """A SKU's per-buyer limit (0: none); 0 for a quota."""
    members: tuple[str, ...] = ()
    """A SKU: the quotas it draws on; a quota: its SKUs."""
    sold_out_ms: int | None = None
    """A SKU: Redis ms when its remaining last reached 0 (None while it has units)."""

    @property
    def oversold(self) -> int:
        return max(0, self.sold + self.held + self.withdrawn - self.total, -self.remaining)

    @property
    def balanced(self) -> bool:
        return self.total == self.remaining + self.held + self.sold + self.withdrawn


def read_states(fields: Mapping[str, str], kind: str, names: Sequence[str]) -> tuple[SkuState, ...]:
    """The ``sku:`` or ``quota:`` counters of a sale hash (lua/skulib.lua), in the order of ``names``."""

    def n(name: str, field: str) -> int:
        return int(fields.get(f"{kind}:{name}:{field}", 0))

    out = []
    for name in names:
        members = fields.get(f"{kind}:{name}:{'quotas' if kind == 'sku' else 'skus'}", "")
        stamp = fields.get(f"{kind}:{name}:sold_out_ms")
        out.append(
            SkuState(
                name=name,
                total=n(name, "total"),
                remaining=n(name, "remaining"),
                held=n(name, "held"),
                sold=n(name, "sold"),
                withdrawn=n(name, "withdrawn"),
                restocked=n(name, "restocked"),
                limit=n(name, "limit"),
                members=tuple(m for m in members.split(",") if m),
                sold_out_ms=int(stamp) if stamp else None,
            )
        )
    return tuple(out)


def available(skus: Sequence[SkuState], quotas: Sequence[SkuState]) -> dict[str, int]:
    """What one request could still get of each SKU alone: its remaining, capped by each quota it draws on."""
    left = {q.name: q.remaining for q in quotas}
    return {s.name: max(0, min([s.remaining, *(left.get(q, 0) for q in s.members)])) for s in skus}


def sellable(skus: Sequence[SkuState], quotas: Sequence[SkuState]) -> int:
    """Units the sale can still sell across every SKU: a feasible count, never one a quota forbids.

    Each SKU is first capped by the quotas it draws on (``available``); then each quota over its remaining is cut
    down to it, tightest quota first, taking from its largest SKUs first. The result is a plan every quota
    allows, so it never promises units that cannot sell; it is exact when quotas are nested or disjoint (the
    usual shapes: a tier inside "all sizes"), and it is positive whenever some SKU can still sell a unit, so a
    waiting room fed with it never stalls while units remain. An exact maximum over partly overlapping quotas
    is a linear program: not worth it for a figure that paces admissions.
    """
    plan = available(skus, quotas)
    for q in sorted(quotas, key=lambda q: q.remaining):
        members = sorted((s for s in q.members if s in plan), key=lambda s: -plan[s])
        excess = sum(plan[s] for s in members) - max(0, q.remaining)
        for s in members:
            if excess <= 0:
                break
            cut = min(plan[s], excess)
            plan[s] -= cut
            excess -= cut
    return sum(plan.values())
