"""Examples of the published contract, keyed by operation id: what a client sends and gets back.

They live in one table so that ``DocumentedOperation`` can attach them to the media types of any route, including
the purchase and confirm routes whose request bodies are declared by hand (they are decoded strictly, outside
Litestar's body handling). Litestar drops ``None`` members from example values when it writes the document, so a
required nullable member (``closes_at``, ``after``) is shown with a value. tests/test_openapi_contract.py validates
every example against the schema it sits under, so an example that drifts from its schema fails there, not in a
client's generated test.
"""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import Example

SALE = "spring-drop"
BUYER = "buyer-42"
ORDER_ID = "1765094400000-0"
HOLD_ID = "9f2c4e7a1b3d5f6081726354a9b8c7d6"
AT = "2026-12-07T08:00:00Z"

_ORDER = {"order_id": ORDER_ID, "sale_id": SALE, "buyer_id": BUYER, "quantity": 2, "created_at": AT}
_SALE_VIEW = {
    "sale_id": SALE,
    "name": "Spring drop",
    "status": "open",
    "stock": 500,
    "remaining": 498,
    "held": 0,
    "sold": 2,
    "per_buyer_limit": 2,
    "opens_at": AT,
    "closes_at": "2026-12-07T20:00:00Z",
    "hold_ttl_s": 600,
}
_RECONCILED = {
    "sale_id": SALE,
    "ok": True,
    "redis_sold": 2,
    "db_sold": 2,
    "export_lag": 0,
    "missing_in_db": [],
    "missing_in_redis": [],
}
_HOLD = {"hold_id": HOLD_ID, "sale_id": SALE, "buyer_id": BUYER, "quantity": 2, "expires_at": "2026-12-07T08:10:00Z"}


ROOM = "Vq3xT0aZpL9k"
TICKET = (
    "t2.4OBYy2Qr.WyJzcHJpbmctZHJvcCIsIlZxM3hUMGFacEw5ayIsImJ1eWVyLTQyIiw0MSwxNzY1MTUyMDAwMDAwXQ.TB5k1dxFq49G-IU2BDa5sQ"
)
_QUEUE = {
    "sale_id": SALE,
    "room": ROOM,
    "mode": "random_at_open",
    "state": "open",
    "opens_at": "2026-12-07T08:00:00.000Z",
    "opened": True,
    "joined": 2000,
    "serving": 200,
    "admission_rate": 49.8,
    "paused": False,
    "commitment": "5d41402abc4b2a76b9719d911017c592" * 2,
    "seed": "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2",
    "pre_count": 1500,
    "reveal": "7c4a8d09ca3762af61e59520943dc26494f8941b" + "0" * 24,
    "join_root": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
}


def _one(summary: str, value: Any) -> dict[str, Example]:
    return {"default": Example(summary=summary, value=value)}


_LINES = [{"sku": "us-9", "quantity": 1}, {"sku": "us-10", "quantity": 1}]

REQUESTS: dict[str, dict[str, Example]] = {
    "createPurchase": {
        "two-units": Example(summary="Buy two units", value={"quantity": 2}),
        "one-unit": Example(summary="Buy one unit (quantity defaults to 1)", value={}),
        "two-sizes": Example(summary="Buy a size 9 and a size 10, both or neither", value={"lines": _LINES}),
    },
    "createUnsafePurchase": _one("Buy one unit the unsafe way", {"quantity": 1}),
    "createHold": {
        "two-units": Example(summary="Hold two units while paying", value={"quantity": 2}),
        "two-sizes": Example(summary="Hold two sizes while paying", value={"lines": _LINES}),
    },
    "confirmHold": _one("Confirm with the payment's reference", {"payment_ref": "pay_3MtwBwLkdIwHu7ix"}),
    "createSale": {
        "default": Example(
            summary="A sale of 500 units, two per buyer, opening at 08:00 UTC",
            value={"sale_id": SALE, "name": "Spring drop", "stock": 500, "per_buyer_limit": 2, "opens_at": AT},
        ),
        "sizes": Example(
            summary="Three sizes, 300 pairs in all, two pairs per buyer across sizes, one size 9 each",
            value={
                "sale_id": "sneaker-drop",
                "name": "Sneaker drop",
                "per_buyer_limit": 2,
                "items": [
                    {"sku": "us-9", "stock": 150, "per_buyer_limit": 1},
                    {"sku": "us-10", "stock": 150},
                    {"sku": "us-11", "stock": 100},
                ],
                "quotas": [{"name": "all-sizes", "cap": 300, "skus": ["us-9", "us-10", "us-11"]}],
                "opens_at": AT,
            },
        ),
    },
    "restockSale": {
        "default": Example(summary="Add 100 units", value={"units": 100}),
        "one-size": Example(summary="Add 20 pairs of size 10", value={"units": 20, "sku": "us-10"}),
    },
    "cancelOrder": _one("Cancel and put the units back on sale", {"restock": True}),
}
"""Request body examples by operation id."""

RESPONSES: dict[str, dict[str, Example]] = {
    "createPurchase": _one("The order made (or replayed)", _ORDER),
    "createUnsafePurchase": _one("The order made", _ORDER),
    "createHold": _one("The hold made (or replayed)", _HOLD),
    "confirmHold": _one("The order the hold became", _ORDER),
    "getHold": _one("A live hold", {**_HOLD, "state": "held"}),
    "getOrder": _one("One of the caller's orders", {**_ORDER, "cancelled": False}),
    "listOrders": _one(
        "The caller's orders in the sale", {"sale_id": SALE, "orders": [{**_ORDER, "cancelled": False}]}
    ),
    "getSale": {
        "default": Example(summary="An open sale", value=_SALE_VIEW),
        "sizes": Example(
            summary="A sale of two sizes under one quota",
            value={
                **_SALE_VIEW,
                "stock": 300,
                "remaining": 298,
                "items": [
                    {
                        "sku": "us-9",
                        "stock": 150,
                        "remaining": 149,
                        "held": 0,
                        "sold": 1,
                        "available": 149,
                        "per_buyer_limit": 1,
                        "quotas": ["all-sizes"],
                    },
                    {
                        "sku": "us-10",
                        "stock": 150,
                        "remaining": 149,
                        "held": 0,
                        "sold": 1,
                        "available": 149,
                        "per_buyer_limit": 0,
                        "quotas": ["all-sizes"],
                    },
                ],
                "quotas": [
                    {"name": "all-sizes", "cap": 250, "remaining": 248, "held": 0, "sold": 2, "skus": ["us-9", "us-10"]}
                ],
            },
        ),
    },
    "getAvailability": _one(
        "Size 9 sold out, size 10 on sale",
        {
            "sale_id": SALE,
            "status": "open",
            "available": 40,
            "items": [{"sku": "us-9", "available": 0}, {"sku": "us-10", "available": 40}],
            "as_of": "2026-12-07T08:00:01.250Z",
        },
    ),
    "createSale": _one("The sale created", {**_SALE_VIEW, "status": "scheduled", "remaining": 500, "sold": 0}),
    "restockSale": _one("The sale after the restock", {**_SALE_VIEW, "stock": 600, "remaining": 598}),
    "closeSale": _one("The sale, closed", {**_SALE_VIEW, "status": "closed"}),
    "cancelOrder": _one(
        "The cancellation (first or replayed)",
        {
            "order_id": ORDER_ID,
            "sale_id": SALE,
            "cancel_id": "1765094460000-0",
            "buyer_id": BUYER,
            "quantity": 2,
            "restock": True,
            "cancelled_at": "2026-12-07T08:01:00Z",
        },
    ),
    "listSales": _one("Two sales", [SALE, "autumn-drop"]),
    "joinQueue": _one(
        "A place: poll its Location",
        {
            "ticket": TICKET,
            "sale_id": SALE,
            "buyer_id": BUYER,
            "joined_index": 41,
            "room": ROOM,
            "expires_at": "2026-12-08T00:00:00.000Z",
        },
    ),
    "getQueuePlace": {
        "waiting": Example(
            summary="Waiting: 120 buyers ahead",
            value={"state": "waiting", "position": 161, "ahead": 120, "eta_s": 2.4, "retry_after_s": 1},
        ),
        "admitted": Example(
            summary="Admitted: buy with the token before it expires",
            value={
                "state": "admitted",
                "position": 41,
                "ahead": 0,
                "eta_s": 0.0,
                "retry_after_s": 1,
                "admission_token": "a2.4OBYy2Qr.WyJzcHJpbmctZHJvcCIsIlZxM3hUMGFacEw5ayIsImJ1eWVyLTQyIiw0MSwxNzY1"
                "MDk0NDAwMDAwLDE3NjUwOTQ1MjAwMDAsZmFsc2Vd.FdrNQB67LJfRPX_MPoh5Jg",
                "admission_expires_at": "2026-12-07T08:02:00.000Z",
            },
        ),
    },
    "getQueue": _one("The room after the open", _QUEUE),
    "getQueueJoins": _one(
        "Two join log entries (16 bytes each), shown base64-encoded", "bGVhZi1kaWdlc3QtMDAwMGxlYWYtZGlnZXN0LTAwMDE="
    ),
    "getQueueProof": _one(
        "The proof of join index 5 in a pre-queue of 8",
        {
            "sale_id": SALE,
            "room": ROOM,
            "join_index": 5,
            "tree_size": 8,
            "buyer_salt": "9f86d081884c7d659a2feaa0c55ad015",
            "buyer_digest": "a3f2c1d4e5f60718293a4b5c6d7e8f90",
            "path": [
                "1b4f0e9851971998e732078544c96b36c3d01cedf7caa332359d6f1d83567014",
                "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
                "fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13",
            ],
            "join_root": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            "reveal": "7c4a8d09ca3762af61e59520943dc26494f8941b" + "0" * 24,
            "seed": "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2",
            "commitment": "5d41402abc4b2a76b9719d911017c592" * 2,
            "position": 2,
        },
    ),
    "getQueueFigures": _one(
        "The operator's figures",
        {
            "queue": _QUEUE,
            "waiting": 1800,
            "active": 60,
            "no_shows": 12,
            "max_active": 500,
            "admit_rate": 50.0,
            "token_ttl_s": 120,
            "max_places": 5000,
            "reoffered_units": 0,
            "waitlist_bought_units": 0,
        },
    ),
    "pauseQueue": _one("Admission paused", {"sale_id": SALE, "paused": True}),
    "resumeQueue": _one("Admission resumed", {"sale_id": SALE, "paused": False}),
    "getLiveness": _one("Up", {"status": "ok", "detail": ""}),
    "getReadiness": _one("Ready", {"status": "ok", "detail": ""}),
    "reconcileSale": _one("Both sides agree", _RECONCILED),
    "repairSale": _one(
        "One lost order re-applied",
        {
            "sale_id": SALE,
            "restored": 1,
            "already_present": 1,
            "key_reused": 0,
            "remaining": 498,
            "restored_ids": [ORDER_ID],
            "after": {**_RECONCILED, "ok": False, "export_lag": 1},
        },
    ),
    "auditSale": _one(
        "A balanced sale",
        {
            "sale_id": SALE,
            "stock_added": 500,
            "remaining": 498,
            "held": 0,
            "sold": 2,
            "withdrawn": 0,
            "restocked": 0,
            "orders": 1,
            "cancels": 0,
            "ledger_length": 1,
            "holds": {"created": 0, "held": 0, "confirmed": 0, "released": 0, "expired": 0},
            "oversold": 0,
            "stock_balanced": True,
            "ledger_matches": True,
            "holds_balanced": True,
            "ok": True,
        },
    ),
}
"""Success response examples by operation id (the 2xx answer with a body)."""

PROBLEM_EXTRAS: dict[str, dict[str, Any]] = {
    "sold-out": {
        "detail": "line 1 (us-10): quota 'all-sizes' has 0 left",
        "line": 1,
        "sku": "us-10",
        "quota": "all-sizes",
        "remaining": 0,
    },
    "unknown-sku": {"detail": "line 0 (eu-40): the sale has no SKU 'eu-40'", "line": 0, "sku": "eu-40"},
    "limit-reached": {"detail": "this buyer has bought 2 of at most 2", "bought": 2, "limit": 2},
    "sale-not-open": {"detail": f"opens at {AT}", "opens_at": AT},
    "hold-expired": {
        "detail": "the hold expired at 2026-12-07T08:10:00Z; nothing was sold",
        "expires_at": "2026-12-07T08:10:00Z",
    },
    "hold-confirmed": {"detail": f"the hold became order {ORDER_ID}", "order_id": ORDER_ID},
    "export-pending": {"detail": "3 order(s) of sale 'spring-drop' are not yet exported", "pending": 3},
    "buyer-not-eligible": {"detail": "the sale requires email_verified", "rule": "email_verified"},
    "buyer-unauthenticated": {"detail": "token expired"},
}
"""What the problem examples carry beyond type, title and status, by slug: the extension members of the problems
that have some (the others get a generic ``detail``)."""
