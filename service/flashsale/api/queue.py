"""The waiting room's buyer routes: join it, poll the place until it is admitted, and read the room's public
state. docs/queue.md describes the algorithm and the token; api/room.py serves what checks the draw (the join log,
a place's proof) and the admin's routes.

Joining is one Redis call (lua/queue_join.lua). Polling is none: the ticket is signed, the place is computed
from the published permutation, and whether it was admitted comes from the worker's snapshot of the room
(queue/view.py), refreshed by the admission controller every tick.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import msgspec
import structlog
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader

from flashsale.api import problems as p
from flashsale.api.attempts import NO_STORE
from flashsale.api.auth import buyer_of, refusal
from flashsale.api.limits import PER_ADDRESS, BuyerRateLimiter
from flashsale.api.schemas import IdempotencyKey, SaleIdParam
from flashsale.api.waiting import QueueView, TicketParam, any_problem, queue_view, room_of
from flashsale.identity import Buyer
from flashsale.inventory import Inventory, Outcome, Unavailable
from flashsale.inventory.outcomes import QueueState
from flashsale.queue.tokens import Signer, TicketError
from flashsale.queue.tokens import Ticket as TicketClaims
from flashsale.queue.view import ISSUED_KEPT, Place, QueueBoard, Room
from flashsale.settings import Settings
from flashsale.timefmt import format_ms

PUBLIC_CACHE = CacheControlHeader(public=True, max_age=1)

log = structlog.get_logger("flashsale")


def make_signer(settings: Settings) -> Signer:
    """The admission keys: FLASHSALE_ADMISSION_KEY signs, FLASHSALE_ADMISSION_KEYS_PREVIOUS still verify. Outside
    demo mode the server does not start without the key (security.check_admission_key); a demo app made without
    one (``flashsale serve`` gives its workers one) gets a random key of its own, valid in this process only."""
    if settings.admission_key:
        return Signer(settings.admission_key.encode(), [k.encode() for k in settings.previous_admission_keys])
    if settings.workers > 1:
        log.warning("admission_key_per_process", workers=settings.workers)
    return Signer(secrets.token_bytes(32))


class Ticket(msgspec.Struct):
    """A buyer's place: poll ``Location`` (``/sales/{id}/queue/{ticket}``)."""

    ticket: str
    sale_id: str
    buyer_id: str
    joined_index: int
    """Arrival order (0-based). The place follows from it and the seed revealed at the open."""
    room: str
    """The waiting room's id: a deleted and re-created sale has another, and refuses this ticket."""
    expires_at: str
    """When the ticket stops being known: the sale's close plus the room's retention."""


class PlaceView(msgspec.Struct, omit_defaults=True):
    state: QueueState
    position: int | None
    """0-based place in admission order; null in the pre-queue before the open."""
    ahead: int | None
    """Buyers before this place not yet admitted."""
    eta_s: float | None
    retry_after_s: int
    admission_token: str | None = None
    """While ``admitted``: send it as the ``Admission-Token`` header of the purchase or hold."""
    admission_expires_at: str | None = None
    ticket: str | None = None
    """The same place re-signed with the current key, when the ticket polled was signed with a previous one (a
    key rotation): poll this one from now on."""


def _admission_of(signer: Signer, room: Room, ticket: TicketClaims, place: Place) -> tuple[str, str]:
    """The admitted place's token and its expiry, issued once per worker (polls repeat every second while
    admitted: issuing the token on every poll spends 7 % of a poll's CPU on its HMACs and 3 % on the date)."""
    assert place.position is not None
    key = (place.position, place.admitted_ms, ticket.buyer_id)
    kept = room.issued.get(key)
    if kept is None:
        token, _ = signer.issue(
            ticket.sale_id,
            ticket.room,
            ticket.buyer_id,
            place.position,
            place.admitted_ms,
            place.expires_ms,
            place.waitlist,
        )
        if len(room.issued) >= ISSUED_KEPT:
            room.issued.clear()
        kept = room.issued[key] = (token, format_ms(place.expires_ms))
    return kept


class QueueController(Controller):
    path = "/sales/{sale_id:str}"
    tags = ["waiting room"]

    @post(
        "/queue",
        status_code=201,
        operation_id="joinQueue",
        security=[{"buyer": []}],
        operation_class=p.DocumentedOperation,
        response_headers=[
            p.location_header("place", "/sales/{sale_id}/queue/{ticket}"),
            p.replayed_header("`true` when the buyer had joined before: this is that place (status 200)."),
        ],
        summary="Join the sale's waiting room",
        description=(
            "The buyer is the bearer token's; no body (or `{}`). "
            "One place per (room, buyer): joining again, on any connection or with any key, returns the same "
            "ticket (200); the Idempotency-Key is not stored, the buyer is. Before the open, places are drawn at "
            "random at the open (commit-reveal). Joins are rate limited per client address (429)."
        ),
        cache_control=NO_STORE,
        responses=p.responses(
            p.DOC_BAD_REQUEST,
            *p.DOC_BUYER_AUTH,
            (403, p.describe(p.BUYER_NOT_ELIGIBLE)),
            (404, p.describe(p.NO_QUEUE)),
            (409, p.describe(p.QUEUE_ENDED, p.QUEUE_FULL)),
            p.DOC_RATE_LIMITED,
            p.DOC_UNAVAILABLE,
        ),
    )
    async def join(
        self, sale_id: SaleIdParam, request: Request[Any, Any, Any], idempotency_key: IdempotencyKey
    ) -> Response[Ticket]:
        inventory: Inventory = request.app.state.inventory
        signer: Signer = request.app.state.signer
        instance = f"/sales/{sale_id}/queue"
        buyer = await buyer_of(request)
        if not isinstance(buyer, Buyer):
            return refusal(buyer[0], buyer[1], instance)
        raw = await request.body()
        if raw.strip() and raw.strip() != b"{}":
            # The buyer is the token's: a body naming one is refused, not ignored.
            return any_problem(p.INVALID_REQUEST, "a join takes no body: the buyer is the bearer token's", instance)
        buyer_id = buyer.id
        limiter: BuyerRateLimiter | None = request.app.state.join_limiter
        if limiter is not None and not limiter.allow(request.client.host if request.client else ""):
            detail = "too many joins from this address; retry after Retry-After"
            return any_problem(p.RATE_LIMITED, detail, instance, limiter.refusal_headers(), rate_limit=PER_ADDRESS)
        room = await room_of(request, sale_id)
        if isinstance(room, Response):
            return room
        s = room.snapshot
        try:
            result = await inventory.join(sale_id, room.buyer_digest(buyer_id), s.room, buyer.facts)
        except Unavailable as exc:
            return any_problem(
                p.UNAVAILABLE, f"{p.UNAVAILABLE_DETAIL} ({exc.kind})", instance, headers=p.unavailable_headers()
            )
        outcome = result.outcome
        if outcome is Outcome.JOINED or outcome is Outcome.REPLAYED:
            ticket = signer.ticket(sale_id, s.room, buyer_id, result.index, s.expires_ms)
            headers = {"Location": f"{instance}/{ticket}"}
            if outcome is Outcome.REPLAYED:
                headers["Idempotent-Replayed"] = "true"
            body = Ticket(ticket, sale_id, buyer_id, result.index, s.room, format_ms(s.expires_ms))
            return Response(body, status_code=200 if outcome is Outcome.REPLAYED else 201, headers=headers)
        if outcome is Outcome.UNKNOWN_SALE:
            return any_problem(p.NO_QUEUE, f"sale {sale_id!r} has no waiting room", instance)
        if outcome is Outcome.ROOM_CHANGED:  # re-created since this worker's last step: its next step sees it
            return any_problem(
                p.UNAVAILABLE, "the waiting room was just re-created; retry", instance, headers=p.unavailable_headers()
            )
        if outcome is Outcome.BUYER_NOT_ELIGIBLE:  # a place the sale would refuse to sell to is nobody's
            return any_problem(p.BUYER_NOT_ELIGIBLE, f"the sale requires {result.rule}", instance, rule=result.rule)
        if outcome is Outcome.QUEUE_FULL:
            detail = f"the waiting room gave its {result.max_places} places"
            return any_problem(p.QUEUE_FULL, detail, instance, max_places=result.max_places)
        return any_problem(p.QUEUE_ENDED, f"admission ended: {outcome.value}", instance, state=outcome.value)

    @get(
        "/queue/{ticket:str}",
        operation_id="getQueuePlace",
        security=[{"buyer": []}],
        operation_class=p.DocumentedOperation,
        summary="Where a place stands",
        description=(
            "State (waiting, waitlisted, admitted, expired, closed), place, buyers ahead, an ETA from the measured "
            "admission rate, and Retry-After growing with the distance to the front. Admitted: the admission "
            "token to send with the purchase or hold. Answered from the worker's snapshot: no Redis call."
        ),
        cache_control=NO_STORE,
        responses=p.responses(
            p.DOC_BAD_REQUEST, *p.DOC_BUYER_AUTH, (404, p.describe(p.UNKNOWN_TICKET, p.NO_QUEUE)), p.DOC_UNAVAILABLE
        ),
    )
    async def poll(
        self, sale_id: SaleIdParam, ticket: TicketParam, request: Request[Any, Any, Any]
    ) -> Response[PlaceView]:
        signer: Signer = request.app.state.signer
        unknown = f"/sales/{sale_id}/queue"
        buyer = await buyer_of(request)
        if not isinstance(buyer, Buyer):
            return refusal(buyer[0], buyer[1], unknown)
        try:
            place_of = signer.read_ticket(ticket, sale_id, int(time.time() * 1000))
        except TicketError:
            return any_problem(p.UNKNOWN_TICKET, "not a live ticket of this sale", unknown)
        if place_of.buyer_id != buyer.id:  # another buyer's place: as unknown as a forged one
            return any_problem(p.UNKNOWN_TICKET, "not a live ticket of this sale", unknown)
        room = await room_of(request, sale_id)
        if isinstance(room, Response):
            return room
        if place_of.room != room.snapshot.room:
            return any_problem(p.UNKNOWN_TICKET, "a ticket of an earlier waiting room of this sale", unknown)
        board: QueueBoard = request.app.state.queue_board
        place = board.place(room, place_of.index)
        view = PlaceView(place.state, place.position, place.ahead, place.eta_s, place.retry_after_s)
        if place.state is QueueState.ADMITTED and place.position is not None:
            view.admission_token, view.admission_expires_at = _admission_of(signer, room, place_of, place)
        if not signer.is_current(ticket):
            view.ticket = signer.ticket(sale_id, place_of.room, place_of.buyer_id, place_of.index, place_of.exp_ms)
        return Response(view, headers={"Retry-After": str(place.retry_after_s)})

    @get(
        "/queue",
        operation_id="getQueue",
        operation_class=p.DocumentedOperation,
        summary="The sale's waiting room, for everyone",
        description="Mode, state, serving counter, measured admission rate, the seed's commitment and, after the "
        "open, the seed. The same for every buyer and cacheable for a second.",
        cache_control=PUBLIC_CACHE,
        responses=p.responses(p.DOC_BAD_REQUEST, (404, p.describe(p.NO_QUEUE)), p.DOC_UNAVAILABLE),
    )
    async def public(self, sale_id: SaleIdParam, request: Request[Any, Any, Any]) -> Response[QueueView]:
        room = await room_of(request, sale_id)
        if isinstance(room, Response):
            return room
        return Response(queue_view(sale_id, room))
