"""What every waiting-room route reads first: the worker's snapshot of the sale's room (buyer, public and admin
routes alike) and its public view, and the ticket a buyer's routes are addressed with. docs/queue.md describes
the room.

The snapshot is the admission controller's (queue/view.py), refreshed every tick: a route reads it without a
Redis call, except for a room this worker has not stepped yet.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.params import Parameter

from flashsale.api import problems as p
from flashsale.inventory import Unavailable
from flashsale.inventory.outcomes import QueueState
from flashsale.queue.controller import step
from flashsale.queue.view import QueueBoard, QueueStale, Room
from flashsale.timefmt import format_ms

TicketParam = Annotated[
    str, Parameter(min_length=1, max_length=512, description="The ticket the join answered (its Location).")
]


def any_problem(
    problem: p.ProblemType,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[Any]:
    """A problem answer typed to fit any route's declared success type (the routes' schemas name the success)."""
    return p.problem_response(problem, detail, instance, headers, **extra)


async def room_of(request: Request[Any, Any, Any], sale_id: str) -> Room | Response[Any]:
    """The worker's fresh snapshot of the sale's room. A sale this worker has not stepped yet (created since
    its controller last listed the rooms) is stepped here: two Redis calls, shared by every request that asks
    meanwhile (a burst of joins on a new room makes one step, not one each)."""
    board: QueueBoard = request.app.state.queue_board
    try:
        room = board.room(sale_id)
        if room is None and sale_id not in board.rooms:
            pending = board.stepping.get(sale_id)
            if pending is None:
                pending = board.stepping[sale_id] = asyncio.ensure_future(
                    step(request.app.state.inventory, board, sale_id, request.app.state.signer)
                )
                pending.add_done_callback(lambda _: board.stepping.pop(sale_id, None))
            await asyncio.shield(pending)
            room = board.room(sale_id)
    except (QueueStale, Unavailable):
        return any_problem(
            p.UNAVAILABLE,
            "the waiting room's state is not current (Redis unreachable); retry",
            f"/sales/{sale_id}/queue",
            headers=p.unavailable_headers(),
        )
    if room is None:
        return any_problem(p.NO_QUEUE, f"sale {sale_id!r} has no waiting room", f"/sales/{sale_id}/queue")
    return room


class QueueView(msgspec.Struct):
    """The sale's waiting room, the same for everyone (cacheable for a second)."""

    sale_id: str
    room: str
    """The room's random id, made at its creation."""
    mode: str
    state: QueueState
    opens_at: str
    opened: bool
    joined: int
    serving: int
    """Places admitted so far: a place p is admitted once p < serving."""
    admission_rate: float
    """Admissions per second measured over the last 10 s."""
    paused: bool
    commitment: str
    """SHA-256 of the room's secret (``reveal``), published from creation."""
    seed: str | None
    """A random open's permutation key, HMAC-SHA256(key=reveal, message=join_root), published right after the
    open: recompute every place with docs/queue.md."""
    pre_count: int | None
    reveal: str | None = None
    """The secret committed at creation, published with the seed."""
    join_root: str | None = None
    """Merkle root of the pre-queue's join log as the open fixed it (GET .../queue/joins gives the log)."""


def queue_view(sale_id: str, room: Room) -> QueueView:
    s = room.snapshot
    return QueueView(
        sale_id=sale_id,
        room=s.room,
        mode=s.mode,
        state=QueueState(s.state),
        opens_at=format_ms(s.opens_ms),
        opened=s.opened,
        joined=s.joined,
        serving=s.serving,
        admission_rate=round(room.rate(), 3),
        paused=s.paused,
        commitment=s.commitment,
        seed=s.seed or None,
        pre_count=s.pre_count if s.opened else None,
        reveal=s.reveal or None,
        join_root=s.root or None,
    )
