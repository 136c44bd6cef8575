"""The waiting room's routes end to end: join, poll a place, the sale's public queue state, the buyer's page,
and the admin's pause/resume/figures. docs/queue.md describes the algorithm and the token.

Joining is one Redis call (lua/queue_join.lua). Polling is none: the ticket is signed, the place is computed
from the published permutation, and whether it was admitted comes from the worker's snapshot of the room
(queue/view.py), refreshed by the admission controller every tick.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from importlib import resources
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import JSONBody, Parameter

from flashsale.api import problems as p
from flashsale.api.attempts import NO_STORE
from flashsale.api.auth import buyer_of, refusal
from flashsale.api.limits import PER_ADDRESS, BuyerRateLimiter
from flashsale.api.schemas import IdempotencyKey, SaleIdParam
from flashsale.identity import Buyer
from flashsale.inventory import Inventory, Outcome, Unavailable
from flashsale.inventory.outcomes import QueueState
from flashsale.queue import joinlog
from flashsale.queue.controller import join_tree, step
from flashsale.queue.fair import permute
from flashsale.queue.tokens import Signer, TicketError
from flashsale.queue.tokens import Ticket as TicketClaims
from flashsale.queue.view import ISSUED_KEPT, Place, QueueBoard, QueueStale, Room
from flashsale.settings import Settings
from flashsale.timefmt import format_ms

PUBLIC_CACHE = CacheControlHeader(public=True, max_age=1)

log = structlog.get_logger("flashsale")


def _problem(
    problem: p.ProblemType,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[Any]:
    """A problem answer typed to fit any route's declared success type (the routes' schemas name the success)."""
    return p.problem_response(problem, detail, instance, headers, **extra)


def make_signer(settings: Settings) -> Signer:
    """The admission keys: FLASHSALE_ADMISSION_KEY signs, FLASHSALE_ADMISSION_KEYS_PREVIOUS still verify. Outside
    demo mode the server does not start without the key (security.check_admission_key); a demo app made without
    one (``flashsale serve`` gives its workers one) gets a random key of its own, valid in this process only."""
    if settings.admission_key:
        return Signer(settings.admission_key.encode(), [k.encode() for k in settings.previous_admission_keys])
    if settings.workers > 1:
        log.warning("admission_key_per_process", workers=settings.workers)
    return Signer(secrets.token_bytes(32))


def _iso(ms: int) -> str:
    return format_ms(ms)


TicketParam = Annotated[
    str, Parameter(min_length=1, max_length=512, description="The ticket the join answered (its Location).")
]


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


async def _room(request: Request[Any, Any, Any], sale_id: str) -> Room | Response[Any]:
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
        return _problem(
            p.UNAVAILABLE,
            "the waiting room's state is not current (Redis unreachable); retry",
            f"/sales/{sale_id}/queue",
            headers=p.unavailable_headers(),
        )
    if room is None:
        return _problem(p.NO_QUEUE, f"sale {sale_id!r} has no waiting room", f"/sales/{sale_id}/queue")
    return room


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
        kept = room.issued[key] = (token, _iso(place.expires_ms))
    return kept


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


def queue_view(sale_id: str, room: Room) -> QueueView:
    s = room.snapshot
    return QueueView(
        sale_id=sale_id,
        room=s.room,
        mode=s.mode,
        state=QueueState(s.state),
        opens_at=_iso(s.opens_ms),
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
            return _problem(p.INVALID_REQUEST, "a join takes no body: the buyer is the bearer token's", instance)
        buyer_id = buyer.id
        limiter: BuyerRateLimiter | None = request.app.state.join_limiter
        if limiter is not None and not limiter.allow(request.client.host if request.client else ""):
            detail = "too many joins from this address; retry after Retry-After"
            return _problem(p.RATE_LIMITED, detail, instance, limiter.refusal_headers(), rate_limit=PER_ADDRESS)
        room = await _room(request, sale_id)
        if isinstance(room, Response):
            return room
        s = room.snapshot
        try:
            result = await inventory.join(sale_id, room.buyer_digest(buyer_id), s.room, buyer.facts)
        except Unavailable as exc:
            return _problem(
                p.UNAVAILABLE, f"{p.UNAVAILABLE_DETAIL} ({exc.kind})", instance, headers=p.unavailable_headers()
            )
        outcome = result.outcome
        if outcome is Outcome.JOINED or outcome is Outcome.REPLAYED:
            ticket = signer.ticket(sale_id, s.room, buyer_id, result.index, s.expires_ms)
            headers = {"Location": f"{instance}/{ticket}"}
            if outcome is Outcome.REPLAYED:
                headers["Idempotent-Replayed"] = "true"
            body = Ticket(ticket, sale_id, buyer_id, result.index, s.room, _iso(s.expires_ms))
            return Response(body, status_code=200 if outcome is Outcome.REPLAYED else 201, headers=headers)
        if outcome is Outcome.UNKNOWN_SALE:
            return _problem(p.NO_QUEUE, f"sale {sale_id!r} has no waiting room", instance)
        if outcome is Outcome.ROOM_CHANGED:  # re-created since this worker's last step: its next step sees it
            return _problem(
                p.UNAVAILABLE, "the waiting room was just re-created; retry", instance, headers=p.unavailable_headers()
            )
        if outcome is Outcome.BUYER_NOT_ELIGIBLE:  # a place the sale would refuse to sell to is nobody's
            return _problem(p.BUYER_NOT_ELIGIBLE, f"the sale requires {result.rule}", instance, rule=result.rule)
        if outcome is Outcome.QUEUE_FULL:
            detail = f"the waiting room gave its {result.max_places} places"
            return _problem(p.QUEUE_FULL, detail, instance, max_places=result.max_places)
        return _problem(p.QUEUE_ENDED, f"admission ended: {outcome.value}", instance, state=outcome.value)

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
            return _problem(p.UNKNOWN_TICKET, "not a live ticket of this sale", unknown)
        if place_of.buyer_id != buyer.id:  # another buyer's place: as unknown as a forged one
            return _problem(p.UNKNOWN_TICKET, "not a live ticket of this sale", unknown)
        room = await _room(request, sale_id)
        if isinstance(room, Response):
            return room
        if place_of.room != room.snapshot.room:
            return _problem(p.UNKNOWN_TICKET, "a ticket of an earlier waiting room of this sale", unknown)
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
        room = await _room(request, sale_id)
        if isinstance(room, Response):
            return room
        return Response(queue_view(sale_id, room))

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
            return _problem(p.UNKNOWN_TICKET, "not a live ticket of this sale", instance)
        if place_of.buyer_id != buyer.id:  # the salt that recomputes a buyer's digest is that buyer's alone
            return _problem(p.UNKNOWN_TICKET, "not a live ticket of this sale", instance)
        room = await _room(request, sale_id)
        if isinstance(room, Response):
            return room
        s = room.snapshot
        if place_of.room != s.room:
            return _problem(p.UNKNOWN_TICKET, "a ticket of an earlier waiting room of this sale", instance)
        if s.mode != "random_at_open" or not s.seed or place_of.index >= s.pre_count:
            return _problem(
                p.NO_DRAW, "this place was not drawn (FIFO, joined after the open, or not sealed)", instance
            )
        try:
            levels = await _tree(request, sale_id, s.room, s.pre_count)
        except (Unavailable, ValueError):
            return _problem(p.UNAVAILABLE, p.UNAVAILABLE_DETAIL, instance, headers=p.unavailable_headers())
        digest = room.buyer_digest(place_of.buyer_id)
        if joinlog.leaf_hash(place_of.index, digest) != levels[0][place_of.index]:
            return _problem(p.NO_DRAW, "the join log holds another buyer at this index", instance)
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
        room = await _room(request, sale_id)
        if isinstance(room, Response):
            return room
        s = room.snapshot
        if s.mode != "random_at_open" or not s.seed:
            return _problem(p.NO_DRAW, "no sealed draw in this room", instance)
        inventory: Inventory = request.app.state.inventory
        try:
            data = await inventory.join_log(sale_id, min(count, max(0, s.pre_count - start)), start)
        except Unavailable as exc:
            return _problem(
                p.UNAVAILABLE, f"{p.UNAVAILABLE_DETAIL} ({exc.kind})", instance, headers=p.unavailable_headers()
            )
        return Response(data, media_type="application/octet-stream")

    @get("/wait", summary="The buyer's waiting page", media_type="text/html", include_in_schema=False)
    async def page(self, sale_id: SaleIdParam, request: Request[Any, Any, Any]) -> Response[str]:
        return Response(request.app.state.wait_page, media_type="text/html", headers=PAGE_HEADERS)


_PAGE = resources.files("flashsale.api").joinpath("wait.html").read_text("utf-8")
PAGE_HEADERS = {"Cache-Control": "no-store"}
SIGNED_IN_PATH = "/wait/signed-in"
"""Where the identity provider sends the buyer back (one fixed redirect URI for every sale's page)."""


def wait_page(settings: Settings) -> str:
    """The buyer page with its sign-in settings: an OpenID Connect public client of the configured issuer, or, in
    demo mode without one, the demo sign-in (``/demo/buyer-tokens``)."""
    if settings.oidc_issuer:
        config: dict[str, Any] = {
            "mode": "oidc",
            "issuer": settings.oidc_issuer,
            "client_id": settings.oidc_page_client_id or "",
            "scope": settings.oidc_page_scope,
            "resource": settings.oidc_page_resource or "",
        }
    else:
        config = {"mode": "demo"}
    # "</" cannot end the script element early: the JSON's slashes are escaped.
    return _PAGE.replace("__SIGN_IN__", msgspec.json.encode(config).decode().replace("</", "<\\/"))


class SignedInController(Controller):
    """The buyer page's sign-in callback: the same page, which trades the code for the token."""

    path = SIGNED_IN_PATH
    include_in_schema = False

    @get("/", media_type="text/html")
    async def signed_in(self, request: Request[Any, Any, Any]) -> Response[str]:
        return Response(request.app.state.wait_page, media_type="text/html", headers=PAGE_HEADERS)


class DemoBuyerToken(msgspec.Struct):
    buyer: Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]


class DemoTokenAnswer(msgspec.Struct):
    token: str
    buyer: str


class DemoSignInController(Controller):
    """Demo mode without an identity provider: the waiting page's sign-in mints a demo-issuer token for any
    name. Mounted only then (app.py): it would let anyone be anyone."""

    path = "/demo/buyer-tokens"
    include_in_schema = False

    @post("/", status_code=201)
    async def mint(self, data: JSONBody[DemoBuyerToken], request: Request[Any, Any, Any]) -> DemoTokenAnswer:
        issuer = request.app.state.demo_issuer
        settings: Settings = request.app.state.settings
        return DemoTokenAnswer(issuer.mint(data.buyer, settings.oidc_audience or "flashsale"), data.buyer)


ADMIN_QUEUE_ERRORS = p.responses(*p.DOC_ADMIN_AUTH, p.DOC_BAD_REQUEST, (404, p.describe(p.NO_QUEUE)), p.DOC_UNAVAILABLE)


class AdminQueueController(Controller):
    path = "/admin/sales/{sale_id:str}/queue"
    tags = ["admin"]
    security = [{"bearer": []}]

    async def _figures(self, request: Request[Any, Any, Any], sale_id: str) -> Response[Any]:
        room = await _room(request, sale_id)
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
            return _problem(p.UNAVAILABLE, f"{p.UNAVAILABLE_DETAIL} ({exc.kind})", headers=p.unavailable_headers())
        if not found:
            return _problem(p.NO_QUEUE, f"sale {sale_id!r} has no waiting room")
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
