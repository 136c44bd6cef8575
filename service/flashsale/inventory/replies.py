"""What each Lua script answers, decoded: exactly one function per script reply, next to the result types.

The decoder of ``<script>.lua`` is ``<script>_reply``. The reply shapes are written in each script's header
(lua/*.lua), which names its decoder; these functions are the only Python code that reads them. Scripts that
answer a bare 0/1 or an id (create_sale, close_sale, retire_sale, queue_create, queue_pause, queue_seal) are read
by the one engine method that calls them, named in their header. The decoders are pure: anything stateful done
with a reply (the sold-out memo) stays in the engine.

The file is longer than the others on purpose: every reply format the Python side reads is in this one place,
each next to its result type, so a change to a script's reply is a change to one file here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flashsale.inventory.outcomes import HoldState, Outcome
from flashsale.inventory.skus import SkuState, decode_lines, read_states, sellable


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    outcome: Outcome
    order_id: str = ""
    created_ms: int = 0
    buyer_id: str = ""
    quantity: int = 0
    remaining: int = -1
    bought: int = 0
    """Units the buyer holds or bought (limit_reached)."""
    limit: int = 0
    opens_ms: int = 0
    ledger_length: int = 0
    held: int = 0
    """Units in live holds (sold_out): when > 0, units may come back, so the sold-out memo is not filled."""
    rule: str = ""
    """The eligibility rule the buyer failed (buyer_not_eligible)."""
    lines: str = ""
    """The order's lines text (inventory/skus.py), "" for a one-stock order (sold, replayed)."""
    line: int = -1
    """The 0-based index of the line that failed (unknown_sku, limit_reached, sold_out with lines), else -1."""
    sku: str = ""
    """The SKU of that line."""
    quota: str = ""
    """sold_out: the quota that had too few units left for that line ("" when the SKU itself had)."""


@dataclass(frozen=True, slots=True)
class HoldResult:
    """A hold step's answer. For ``confirmed`` (and a replayed confirm) the order fields are set."""

    outcome: Outcome
    hold_id: str = ""
    buyer_id: str = ""
    quantity: int = 0
    expires_ms: int = 0
    state: HoldState | None = None
    order_id: str = ""
    created_ms: int = 0
    remaining: int = -1
    bought: int = 0
    limit: int = 0
    opens_ms: int = 0
    held: int = 0
    rule: str = ""
    """The eligibility rule the buyer failed (buyer_not_eligible)."""
    lines: str = ""
    """The hold's (or its order's) lines text, "" for a one-stock hold."""
    line: int = -1
    """As in PurchaseResult: the line that failed, its SKU and, for sold_out, the quota that was short."""
    sku: str = ""
    quota: str = ""


@dataclass(frozen=True, slots=True)
class CancelResult:
    outcome: Outcome
    order_id: str = ""
    cancel_id: str = ""
    created_ms: int = 0
    buyer_id: str = ""
    quantity: int = 0
    restock: bool = False
    lines: str = ""


@dataclass(frozen=True, slots=True)
class SaleSnapshot:
    sale_id: str
    name: str
    total: int
    remaining: int
    sold: int
    orders: int
    ledger_length: int
    limit: int
    opens_ms: int | None
    closes_ms: int | None
    closed: bool
    now_ms: int
    held: int = 0
    hold_ttl_s: int = 600
    holds: int = 0
    holds_confirmed: int = 0
    holds_released: int = 0
    holds_expired: int = 0
    live_holds: int = 0
    """Holds in the expiry set (an independent count of live holds)."""
    live_held_units: int = -1
    """Units summed over live hold records (audit only; -1 when not computed)."""
    cancels: int = 0
    restocked: int = 0
    withdrawn: int = 0
    queued: bool = False
    """The sale has a waiting room: purchases and holds need an admission token."""
    admissions_spent: int = 0
    """Admission tokens spent by a purchase or a hold (sales with a waiting room)."""
    admission_units: int = 0
    """Units one admission may buy or hold (sales with a waiting room; 0 without)."""
    waitlist_units: int = 0
    """Units bought or held with admissions given from the waitlist (after the sale first sold out)."""
    eligibility: str = ""
    """The sale's eligibility rules as stored (identity/claims.py reads them back)."""
    skus: tuple[SkuState, ...] = ()
    """A sale created with items: each SKU's counters, in creation order (empty for a one-stock sale)."""
    quotas: tuple[SkuState, ...] = ()
    created_ms: int | None = None
    """Redis ms when a sale with items was created (None for a one-stock sale)."""
    live_lines: str = ""
    """Audit of a sale with items: the live holds' units per SKU, as lines text."""

    @property
    def sellable(self) -> int:
        """Units a new purchase or hold could still get, across every SKU (inventory/skus.py ``sellable``)."""
        if not self.skus:
            return self.remaining
        return sellable(self.skus, self.quotas)

    @property
    def status(self) -> str:
        if self.closed or (self.closes_ms is not None and self.now_ms >= self.closes_ms):
            return "closed"
        if self.opens_ms is not None and self.now_ms < self.opens_ms:
            return "scheduled"
        if self.sellable <= 0:
            return "sold_out"
        return "open"

    @property
    def oversold(self) -> int:
        """Units promised (sold, held or withdrawn) beyond the stock ever added: for the sale, plus every SKU's
        and every quota's beyond its own stock or cap."""
        own = max(0, self.sold + self.held + self.withdrawn - self.total, -self.remaining)
        return own + sum(s.oversold for s in self.skus) + sum(q.oversold for q in self.quotas)

    @property
    def stock_balanced(self) -> bool:
        return self.total == self.remaining + self.held + self.sold + self.withdrawn

    @property
    def skus_balanced(self) -> bool:
        """Every SKU's and quota's stock_added == remaining + held + sold + withdrawn, the SKUs add up to the
        sale's counters, and (audit) each SKU's live holds' units == its held. True for a one-stock sale."""
        if not self.skus:
            return True
        if not all(s.balanced for s in (*self.skus, *self.quotas)):
            return False
        for field in ("total", "remaining", "held", "sold", "withdrawn"):
            if sum(getattr(s, field) for s in self.skus) != getattr(self, field):
                return False
        if self.live_held_units == -1:
            return True
        live = dict(decode_lines(self.live_lines))
        return all(live.get(s.name, 0) == s.held for s in self.skus)

    @property
    def ledger_matches(self) -> bool:
        return self.ledger_length == self.orders + self.cancels

    @property
    def holds_balanced(self) -> bool:
        """Holds created == live + confirmed + released + expired, and the live holds' units == held."""
        counted = self.live_holds + self.holds_confirmed + self.holds_released + self.holds_expired
        return self.holds == counted and self.live_held_units in (-1, self.held)

    @property
    def hold_states(self) -> dict[HoldState, int]:
        return {
            HoldState.HELD: self.live_holds,
            HoldState.CONFIRMED: self.holds_confirmed,
            HoldState.RELEASED: self.holds_released,
            HoldState.EXPIRED: self.holds_expired,
        }


@dataclass(frozen=True, slots=True)
class RestoredOrder:
    """An order to re-apply to Redis (from PostgreSQL), as ``repair.lua`` takes it."""

    order_id: str
    buyer_id: str
    quantity: int
    created_ms: int
    idempotency_key: str
    record_ttl_s: int
    """What is left of the idempotency record's lifetime (0: expired, none is written)."""
    lines: str = ""
    """The order's lines text ("" for a one-stock order)."""


@dataclass(frozen=True, slots=True)
class RepairResult:
    """``repair.lua``'s reply: orders re-applied now, already there, restored with a reused key."""

    restored: int
    present: int
    key_reused: int
    remaining: int
    restored_ids: list[str]


def _text(reply: list[Any], index: int) -> str:
    """An optional trailing text of a reply (a lines text), "" when absent."""
    return str(reply[index]) if len(reply) > index else ""


def _line_sku(lines: str, line: int) -> str:
    decoded = decode_lines(lines)
    return decoded[line][0] if 0 <= line < len(decoded) else ""


def repair_reply(reply: list[Any]) -> RepairResult | None:
    """``repair.lua``: None for an unknown sale."""
    if reply[0] == Outcome.UNKNOWN_SALE:
        return None
    return RepairResult(
        restored=int(reply[1]),
        present=int(reply[2]),
        key_reused=int(reply[3]),
        remaining=int(reply[4]),
        restored_ids=[str(x) for x in reply[5:]],
    )


def purchase_reply(reply: list[Any], buyer_id: str, quantity: int, lines: str = "") -> PurchaseResult:
    """lua/purchase.lua's reply (``lines``: the request's lines text)."""
    outcome = Outcome(reply[0])
    if outcome is Outcome.SOLD:
        return PurchaseResult(outcome, reply[1], int(reply[2]), buyer_id, quantity, int(reply[3]), lines=lines)
    if outcome is Outcome.REPLAYED:
        return PurchaseResult(outcome, reply[1], int(reply[2]), reply[3], int(reply[4]), lines=_text(reply, 5))
    if outcome is Outcome.SOLD_OUT:
        remaining, ledger_length, held = int(reply[1]), int(reply[2]), int(reply[3])
        if len(reply) > 4:
            line, kind, name = int(reply[4]), reply[5], reply[6]
            sku = name if kind == "sku" else _line_sku(lines, line)
            quota = name if kind == "quota" else ""
            return PurchaseResult(
                outcome, remaining=remaining, ledger_length=ledger_length, held=held, line=line, sku=sku, quota=quota
            )
        return PurchaseResult(outcome, remaining=remaining, ledger_length=ledger_length, held=held)
    if outcome is Outcome.LIMIT_REACHED:
        if len(reply) > 3:
            return PurchaseResult(
                outcome, bought=int(reply[1]), limit=int(reply[2]), line=int(reply[3]), sku=str(reply[4])
            )
        return PurchaseResult(outcome, bought=int(reply[1]), limit=int(reply[2]))
    if outcome is Outcome.ADMISSION_UNITS_EXCEEDED:
        return PurchaseResult(outcome, limit=int(reply[1]))
    if outcome is Outcome.UNKNOWN_SKU:
        return PurchaseResult(outcome, line=int(reply[1]), sku=str(reply[2]))
    if outcome is Outcome.NOT_OPEN:
        return PurchaseResult(outcome, opens_ms=int(reply[1]))
    if outcome is Outcome.IDEMPOTENCY_CONFLICT:
        return PurchaseResult(outcome, buyer_id=reply[1], quantity=int(reply[2]))
    if outcome is Outcome.BUYER_NOT_ELIGIBLE:
        return PurchaseResult(outcome, rule=str(reply[1]))
    return PurchaseResult(outcome)


def hold_reply(reply: list[Any], buyer_id: str, quantity: int, lines: str = "") -> HoldResult:
    """lua/hold.lua's reply (``lines``: the request's lines text)."""
    outcome = Outcome(reply[0])
    if outcome is Outcome.HELD:
        return HoldResult(
            outcome,
            reply[1],
            buyer_id,
            quantity,
            int(reply[2]),
            HoldState.HELD,
            remaining=int(reply[3]),
            lines=lines,
        )
    if outcome is Outcome.REPLAYED:
        return HoldResult(
            outcome, reply[1], reply[3], int(reply[4]), int(reply[2]), HoldState(reply[5]), lines=_text(reply, 6)
        )
    if outcome is Outcome.SOLD_OUT:
        if len(reply) > 3:
            line, kind, name = int(reply[3]), reply[4], reply[5]
            return HoldResult(
                outcome,
                remaining=int(reply[1]),
                held=int(reply[2]),
                line=line,
                sku=name if kind == "sku" else _line_sku(lines, line),
                quota=name if kind == "quota" else "",
            )
        return HoldResult(outcome, remaining=int(reply[1]), held=int(reply[2]))
    if outcome is Outcome.LIMIT_REACHED:
        if len(reply) > 3:
            return HoldResult(outcome, bought=int(reply[1]), limit=int(reply[2]), line=int(reply[3]), sku=str(reply[4]))
        return HoldResult(outcome, bought=int(reply[1]), limit=int(reply[2]))
    if outcome is Outcome.ADMISSION_UNITS_EXCEEDED:
        return HoldResult(outcome, limit=int(reply[1]))
    if outcome is Outcome.UNKNOWN_SKU:
        return HoldResult(outcome, line=int(reply[1]), sku=str(reply[2]))
    if outcome is Outcome.NOT_OPEN:
        return HoldResult(outcome, opens_ms=int(reply[1]))
    if outcome is Outcome.IDEMPOTENCY_CONFLICT:
        return HoldResult(outcome, buyer_id=reply[1], quantity=int(reply[2]))
    if outcome is Outcome.BUYER_NOT_ELIGIBLE:
        return HoldResult(outcome, rule=str(reply[1]))
    return HoldResult(outcome)


def confirm_reply(reply: list[Any], hold_id: str) -> HoldResult:
    """lua/confirm.lua's reply."""
    outcome = Outcome(reply[0])
    if outcome is Outcome.CONFIRMED or outcome is Outcome.REPLAYED:
        return HoldResult(
            outcome,
            hold_id,
            reply[3],
            int(reply[4]),
            state=HoldState.CONFIRMED,
            order_id=reply[1],
            created_ms=int(reply[2]),
            lines=_text(reply, 5),
        )
    if outcome is Outcome.HOLD_EXPIRED:
        return HoldResult(outcome, hold_id, expires_ms=int(reply[1]), state=HoldState.EXPIRED)
    if outcome is Outcome.HOLD_RELEASED:
        return HoldResult(outcome, hold_id, state=HoldState.RELEASED)
    return HoldResult(outcome, hold_id)


def release_reply(reply: list[Any], hold_id: str) -> HoldResult:
    """lua/release.lua's reply."""
    outcome = Outcome(reply[0])
    if outcome is Outcome.RELEASED or outcome is Outcome.HOLD_RELEASED:
        return HoldResult(outcome, hold_id, state=HoldState.RELEASED)
    if outcome is Outcome.HOLD_EXPIRED:
        return HoldResult(outcome, hold_id, expires_ms=int(reply[1]), state=HoldState.EXPIRED)
    if outcome is Outcome.HOLD_CONFIRMED:
        return HoldResult(outcome, hold_id, state=HoldState.CONFIRMED, order_id=reply[1])
    return HoldResult(outcome, hold_id)


def read_hold_reply(reply: list[Any], hold_id: str) -> HoldResult:
    """lua/read_hold.lua's reply."""
    outcome = Outcome(reply[0])
    if outcome is Outcome.FOUND:
        return HoldResult(
            outcome,
            hold_id,
            reply[2],
            int(reply[3]),
            int(reply[4]),
            HoldState(reply[1]),
            order_id=reply[5],
            lines=_text(reply, 6),
        )
    return HoldResult(outcome, hold_id)


def cancel_order_reply(reply: list[Any], order_id: str) -> CancelResult:
    """lua/cancel_order.lua's reply."""
    outcome = Outcome(reply[0])
    if outcome is Outcome.CANCELLED or outcome is Outcome.REPLAYED:
        return CancelResult(
            outcome, order_id, reply[1], int(reply[2]), reply[3], int(reply[4]), reply[5] == "1", _text(reply, 6)
        )
    return CancelResult(outcome, order_id)


def restock_reply(reply: Any) -> int | None:
    """lua/restock.lua's reply: the new remaining stock (of the SKU restocked, on a sale with SKUs), None for an
    unknown sale, -1 when the SKU is not one of the sale's (or the sale's kind and the request's disagree)."""
    value = int(reply)
    if value == -1:
        return None
    return -1 if value == -2 else value


def reap_reply(reply: list[Any]) -> tuple[int, int]:
    """lua/reap.lua's reply: (units reclaimed, live holds left)."""
    return int(reply[0]), int(reply[1])


def read_sale_reply(sale_id: str, reply: list[Any]) -> SaleSnapshot | None:
    """lua/read_sale.lua's reply."""
    if not reply:
        return None
    now_ms, ledger_length, live_holds, live_units, live_lines, *flat = reply
    f = dict(zip(flat[::2], flat[1::2], strict=True))
    if "limit" not in f:  # debris of the unsafe path writing to a deleted sale (purchase.lua): no sale
        return None
    sku_names = [s for s in f.get("skus", "").split(",") if s]
    quota_names = [q for q in f.get("quotas", "").split(",") if q]

    def n(name: str, default: int = 0) -> int:
        return int(f.get(name, default))

    return SaleSnapshot(
        sale_id=sale_id,
        name=f.get("name", ""),
        total=n("total"),
        remaining=n("remaining"),
        sold=n("sold"),
        orders=n("orders"),
        ledger_length=int(ledger_length),
        limit=n("limit"),
        opens_ms=int(f["opens_ms"]) if "opens_ms" in f else None,
        closes_ms=int(f["closes_ms"]) if "closes_ms" in f else None,
        closed=f.get("closed") == "1",
        now_ms=int(now_ms),
        held=n("held"),
        hold_ttl_s=n("hold_ttl_ms", 600_000) // 1000,
        holds=n("holds"),
        holds_confirmed=n("holds_confirmed"),
        holds_released=n("holds_released"),
        holds_expired=n("holds_expired"),
        live_holds=int(live_holds),
        live_held_units=int(live_units),
        cancels=n("cancels"),
        restocked=n("restocked"),
        withdrawn=n("withdrawn"),
        queued=f.get("queued") == "1",
        admissions_spent=n("admissions_spent"),
        admission_units=n("admission_units"),
        waitlist_units=n("waitlist_units"),
        eligibility=f.get("eligibility", ""),
        skus=read_states(f, "sku", sku_names),
        quotas=read_states(f, "quota", quota_names),
        created_ms=int(f["created_ms"]) if "created_ms" in f else None,
        live_lines=str(live_lines),
    )


@dataclass(frozen=True, slots=True)
class JoinResult:
    """A join's answer: ``joined`` or ``replayed`` carry the place's join index."""

    outcome: Outcome
    index: int = -1
    max_places: int = 0
    """The room's cap on places (queue_full)."""
    rule: str = ""
    """The eligibility rule the buyer failed (buyer_not_eligible)."""


def queue_join_reply(reply: list[Any]) -> JoinResult:
    """lua/queue_join.lua's reply."""
    outcome = Outcome(reply[0])
    if outcome is Outcome.JOINED or outcome is Outcome.REPLAYED:
        return JoinResult(outcome, int(reply[1]))
    if outcome is Outcome.QUEUE_FULL:
        return JoinResult(outcome, max_places=int(reply[1]))
    if outcome is Outcome.BUYER_NOT_ELIGIBLE:
        return JoinResult(outcome, rule=str(reply[1]))
    return JoinResult(outcome)


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """A waiting room as one admission step left it (lua/queue_advance.lua; the fields are listed in
    lua/queuelib.lua)."""

    now_ms: int
    state: str
    """open | sold_out | closed."""
    mode: str
    opened: bool
    pre_count: int
    joined: int
    serving: int
    paused: bool
    rate: float
    max_active: int
    token_ttl_ms: int
    opens_ms: int
    commitment: str
    seed: str
    """The permutation's key (hex): empty until a random open's draw is sealed, and in FIFO rooms."""
    active: int
    no_shows: int
    admitted_now: int
    steps: tuple[tuple[int, int], ...]
    """(Redis ms, serving after) of the admission steps later than the ``since`` asked for, oldest first."""
    room: str = ""
    """The room's random id: a deleted and re-created sale has another."""
    kid: str = ""
    """Id of the key the room's secrets derive from."""
    closes_ms: int = 0
    expires_ms: int = 0
    """When the room's keys (and its tickets) expire."""
    max_places: int = 0
    salt: str = ""
    """Hex key of the room's buyer digests (queue/joinlog.py); never published."""
    root: str = ""
    """The join log's Merkle root (hex), sealed with the seed."""
    reveal: str = ""
    """The secret behind ``commitment`` (hex), published with the seed."""
    waitlist_from: int | None = None
    """The serving counter when the room first sold out: places from there on are admitted from the waitlist."""
    reoffered: int = 0
    """Units offered to waitlist admissions."""
    waitlist_bought: int = 0
    """Units bought or held with waitlist admissions."""


def queue_advance_reply(reply: list[Any]) -> QueueSnapshot | None:
    """lua/queue_advance.lua's reply."""
    if not reply:
        return None
    now_ms, state, active, no_shows, admitted_now, flat_steps, flat = reply
    f = dict(zip(flat[::2], flat[1::2], strict=True))
    steps = tuple((int(flat_steps[i]), int(flat_steps[i + 1])) for i in range(0, len(flat_steps), 2))

    def n(name: str) -> int:
        return int(f.get(name, 0))

    return QueueSnapshot(
        now_ms=int(now_ms),
        state=str(state),
        mode=str(f.get("mode", "")),
        opened=f.get("opened") == "1",
        pre_count=n("pre_count"),
        joined=n("joined"),
        serving=n("serving"),
        paused=f.get("paused") == "1",
        rate=float(f.get("rate", 0)),
        max_active=n("max_active"),
        token_ttl_ms=n("token_ttl_ms"),
        opens_ms=n("opens_ms"),
        commitment=str(f.get("commitment", "")),
        seed=str(f.get("seed", "")),
        active=int(active),
        no_shows=int(no_shows),
        admitted_now=int(admitted_now),
        steps=steps,
        room=str(f.get("room", "")),
        kid=str(f.get("kid", "")),
        closes_ms=n("closes_ms"),
        expires_ms=n("expires_ms"),
        max_places=n("max_places"),
        salt=str(f.get("salt", "")),
        root=str(f.get("root", "")),
        reveal=str(f.get("reveal", "")),
        waitlist_from=int(f["waitlist_from"]) if "waitlist_from" in f else None,
        reoffered=n("reoffered"),
        waitlist_bought=n("waitlist_bought"),
    )


@dataclass(frozen=True, slots=True)
class OrderView:
    """One of a buyer's orders, read back (lua/read_orders.lua)."""

    order_id: str
    buyer_id: str
    quantity: int
    created_ms: int
    cancelled: bool
    lines: str = ""
    """The order's lines text ("" for a one-stock order)."""


def read_orders_reply(reply: list[Any]) -> list[OrderView] | None:
    """lua/read_orders.lua's reply: None for an unknown sale; the caller's orders found (another buyer's never)."""
    if reply[0] == Outcome.UNKNOWN_SALE:
        return None
    flat = reply[2:]
    return [
        OrderView(
            str(flat[i]), str(flat[i + 1]), int(flat[i + 2]), int(flat[i + 3]), int(flat[i + 4]) == 1, str(flat[i + 5])
        )
        for i in range(0, len(flat), 6)
    ]
