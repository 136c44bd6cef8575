"""What checks a waiting room's draw, and how its operator steers the room: the join log a random open's draw
was made from, a place's inclusion proof in that draw, and the admin's figures, pause and resume. docs/queue.md
shows how anyone recomputes every place from what these routes and the room's public state (api/queue.py)
publish.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import Parameter

from flashsale.api import problems as p
from flashsale.api.attempts import NO_STORE
from flashsale.api.auth import buyer_of, refusal
from flashsale.api.schemas import SaleIdParam
from flashsale.api.waiting import QueueView, TicketParam, any_problem, queue_view, room_of
from flashsale.identity import Buyer
from flashsale.inventory import Inventory, Unavailable
from flashsale.queue import joinlog
from flashsale.queue.controller import join_tree
from flashsale.queue.fair import permute
from flashsale.queue.tokens import Signer, TicketError
from flashsale.queue.view import QueueBoard

log = structlog.get_logger("flashsale")


class InclusionProof(msgspec.Struct):
    """Proof that this place's join is in the join log the draw was made from (docs/queue.md shows the checks)."""

    sale_id: str
    room: str
    join_index: int
    tree_size: int
    """Joins before the open: the leaves of the tree (``pre_count``)."""
    buyer_salt: str
    """Hex; given to this ticket's holder only: SHA-256(buyer_salt || buyer id)[:16] is ``buyer_digest``."""
    buyer_digest: str
    """Hex, 16 bytes: what the join log holds at ``join_index``."""
    path: list[str]
    """Sibling hashes (hex) from the leaf up (RFC 9162 section 2.1.3)."""
    join_root: str
    reveal: str
    seed: str
    commitment: str
    position: int
    """The place the draw gave this join index: permute(seed, tree_size, join_index)."""


class AdmissionPause(msgspec.Struct):
    """Whether the room admits: pausing keeps every place and the order, it only stops the serving counter."""

    sale_id: str
    paused: bool


class QueueFigures(msgspec.Struct):
    """The operator's view: the public one plus admission-capacity figures."""

    queue: QueueView
    waiting: int
    active: int
    """Admitted buyers that neither spent their admission nor let it expire."""
    no_shows: int
    """Admissions that expired unspent."""
    max_active: int
    admit_rate: float
    token_ttl_s: int
    max_places: int
    """Places the room gives at most (409 queue-full past it)."""
    reoffered_units: int
    """Units offered to waiters admitted from the waitlist (units that came back after the sell-out)."""
    waitlist_bought_units: int
    """Units bought or held by buyers admitted from the waitlist."""
    waitlist_from: int | None = None
    """The serving counter when the room first sold out: places from there on were admitted from the waitlist
    (absent while it never sold out)."""


MAX_LOG_ENTRIES = 65_536
"""Join log entries one GET .../queue/joins returns at most (1 MiB)."""


async def _tree(request: Request[Any, Any, Any], sale_id: str, room: str, pre_count: int) -> list[list[bytes]]:
    """The sealed pre-queue's Merkle tree: kept by the worker that sealed it, built once (and shared by the
    requests that wait for it) by any other."""
    board: QueueBoard = request.app.state.queue_board
    key = (sale_id, room)
    kept = board.trees.get(key)
    if kept is not None:
        return kept
    pending = board.stepping.get(f"tree:{sale_id}:{room}")
    if pending is None:
        pending = asyncio.ensure_future(join_tree(request.app.state.inventory, sale_id, pre_count))
        board.stepping[f"tree:{sale_id}:{room}"] = pending
        pending.add_done_callback(lambda _: board.stepping.pop(f"tree:{sale_id}:{room}", None))
    levels: list[list[bytes]] = await asyncio.shield(pending)
    board.trees[key] = levels
    return levels


class RoomController(Controller):
    path = "/sales/{sale_id:str}"
    tags = ["waiting room"]

    @get(
        "/queue/{ticket:str}/proof",
        operation_id="getQueueProof",
        security=[{"buyer": []}],
        operation_class=p.DocumentedOperation,
        summary="Inclusion proof of a place in the draw",
        description=(
            "For a place in a random open's pre-queue, once the draw is sealed: the join's leaf, its audit path to "
            "the published join_root, and the salt that lets this buyer recompute their digest (docs/queue.md)."
        ),
        cache_control=NO_STORE,
        responses=p.responses(
            p.DOC_BAD_REQUEST,
            *p.DOC_BUYER_AUTH,
            (404, p.describe(p.UNKNOWN_TICKET, p.NO_QUEUE)),
            (409, p.describe(p.NO_DRAW)),
            p.DOC_UNAVAILABLE,
        ),
    )
    async def proof(
        self, sale_id: SaleIdParam, ticket: TicketParam, request: Request[Any, Any, Any]
    ) -> Response[InclusionProof]:
        signer: Signer = request.app.state.signer
        instance = f"/sales/{sale_id}/queue"
        buyer = await buyer_of(request)
        if not isinstance(buyer, Buyer):
            return refusal(buyer[0], buyer[1], instance)
        try:
            place_of = signer.read_ticket(ticket, sale_id, int(time.time() * 1000))
        except TicketError:
            return any_problem(p.UNKNOWN_TICKET, "not a live ticket of this sale", instance)
        if place_of.buyer_id != buyer.id:  # the salt that recomputes a buyer's digest is that buyer's alone
            return any_problem(p.UNKNOWN_TICKET, "not a live ticket of this sale", instance)
        room = await room_of(request, sale_id)
        if isinstance(room, Response):
            return room
        s = room.snapshot
        if place_of.room != s.room:
            return any_problem(p.UNKNOWN_TICKET, "a ticket of an earlier waiting room of this sale", instance)
        if s.mode != "random_at_open" or not s.seed or place_of.index >= s.pre_count:
            return any_problem(
                p.NO_DRAW, "this place was not drawn (FIFO, joined after the open, or not sealed)", instance
            )
        try:
            levels = await _tree(request, sale_id, s.room, s.pre_count)
        except (Unavailable, ValueError):
            return any_problem(p.UNAVAILABLE, p.UNAVAILABLE_DETAIL, instance, headers=p.unavailable_headers())
        digest = room.buyer_digest(place_of.buyer_id)
        if joinlog.leaf_hash(place_of.index, digest) != levels[0][place_of.index]:
            return any_problem(p.NO_DRAW, "the join log holds another buyer at this index", instance)
        body = InclusionProof(
            sale_id=sale_id,
            room=s.room,
            join_index=place_of.index,
            tree_size=s.pre_count,
            buyer_salt=joinlog.buyer_salt(bytes.fromhex(s.salt), place_of.buyer_id).hex(),
            buyer_digest=digest.hex(),
            path=[h.hex() for h in joinlog.proof(levels, place_of.index)],
            join_root=s.root,
            reveal=s.reveal,
            seed=s.seed,
            commitment=s.commitment,
            position=permute(bytes.fromhex(s.seed), s.pre_count, place_of.index),
        )
        return Response(body)

    @get(
        "/queue/joins",
        operation_id="getQueueJoins",
        operation_class=p.DocumentedOperation,
        summary="The join log a draw was made from",
        description=(
            "Raw bytes: 16 per join index from `start` (at most 65,536 entries), the buyer digests of a random "
            "open's pre-queue, once its draw is sealed. With `join_root`, `reveal` and `seed` of GET .../queue "
            "anyone can recompute the root and every place (docs/queue.md)."
        ),
        media_type="application/octet-stream",
        cache_control=CacheControlHeader(public=True, max_age=3600),
        responses=p.responses(
            p.DOC_BAD_REQUEST, (404, p.describe(p.NO_QUEUE)), (409, p.describe(p.NO_DRAW)), p.DOC_UNAVAILABLE
        ),
    )
    async def joins(
        self,
        sale_id: SaleIdParam,
        request: Request[Any, Any, Any],
        start: Annotated[int, Parameter(ge=0, le=10_000_000)] = 0,
        count: Annotated[int, Parameter(ge=1, le=MAX_LOG_ENTRIES)] = MAX_LOG_ENTRIES,
    ) -> Response[bytes]:
        instance = f"/sales/{sale_id}/queue/joins"
        room = await room_of(request, sale_id)
        if isinstance(room, Response):
            return room
        s = room.snapshot
        if s.mode != "random_at_open" or not s.seed:
            return any_problem(p.NO_DRAW, "no sealed draw in this room", instance)
        inventory: Inventory = request.app.state.inventory
        try:
            data = await inventory.join_log(sale_id, min(count, max(0, s.pre_count - start)), start)
        except Unavailable as exc:
            return any_problem(
                p.UNAVAILABLE, f"{p.UNAVAILABLE_DETAIL} ({exc.kind})", instance, headers=p.unavailable_headers()
            )
        return Response(data, media_type="application/octet-stream")


ADMIN_QUEUE_ERRORS = p.responses(*p.DOC_ADMIN_AUTH, p.DOC_BAD_REQUEST, (404, p.describe(p.NO_QUEUE)), p.DOC_UNAVAILABLE)


class AdminQueueController(Controller):
    path = "/admin/sales/{sale_id:str}/queue"
    tags = ["admin"]
    security = [{"bearer": []}]

    async def _figures(self, request: Request[Any, Any, Any], sale_id: str) -> Response[Any]:
        room = await room_of(request, sale_id)
        if isinstance(room, Response):
            return room
        s = room.snapshot
        figures = QueueFigures(
            queue=queue_view(sale_id, room),
            waiting=max(0, s.joined - s.serving),
            active=s.active,
            no_shows=s.no_shows,
            max_active=s.max_active,
            admit_rate=s.rate,
            token_ttl_s=s.token_ttl_ms // 1000,
            max_places=s.max_places,
            reoffered_units=s.reoffered,
            waitlist_bought_units=s.waitlist_bought,
            waitlist_from=s.waitlist_from,
        )
        return Response(figures, headers={"Cache-Control": "no-store"})

    @get(
        "/",
        operation_id="getQueueFigures",
        operation_class=p.DocumentedOperation,
        summary="Queue figures",
        responses=ADMIN_QUEUE_ERRORS,
    )
    async def figures(self, sale_id: SaleIdParam, request: Request[Any, Any, Any]) -> Response[QueueFigures]:
        return await self._figures(request, sale_id)

    async def _pause(self, request: Request[Any, Any, Any], sale_id: str, paused: bool) -> Response[Any]:
        inventory: Inventory = request.app.state.inventory
        try:
            found = await inventory.pause_queue(sale_id, paused)
        except Unavailable as exc:
            return any_problem(p.UNAVAILABLE, f"{p.UNAVAILABLE_DETAIL} ({exc.kind})", headers=p.unavailable_headers())
        if not found:
            return any_problem(p.NO_QUEUE, f"sale {sale_id!r} has no waiting room")
        log.info("queue_paused" if paused else "queue_resumed", sale=sale_id)
        return Response(AdmissionPause(sale_id, paused))

    @post(
        "/pause",
        status_code=200,
        operation_id="pauseQueue",
        operation_class=p.DocumentedOperation,
        summary="Pause admission",
        responses=ADMIN_QUEUE_ERRORS,
    )
    async def pause(self, sale_id: SaleIdParam, request: Request[Any, Any, Any]) -> Response[AdmissionPause]:
        return await self._pause(request, sale_id, True)

    @post(
        "/resume",
        status_code=200,
        operation_id="resumeQueue",
        operation_class=p.DocumentedOperation,
        summary="Resume admission",
        responses=ADMIN_QUEUE_ERRORS,
    )
    async def resume(self, sale_id: SaleIdParam, request: Request[Any, Any, Any]) -> Response[AdmissionPause]:
        return await self._pause(request, sale_id, False)
