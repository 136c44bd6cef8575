"""The buyer behind a request: every buyer route starts here (purchases, holds, the waiting room, orders).

``buyer_of(request)`` returns the verified ``Buyer``, or the answer that refuses the request:

- 401 ``buyer-unauthenticated`` with ``WWW-Authenticate`` (RFC 6750): a missing header gets the bare challenge
  (section 3.1: no error code when no credentials came), any token that fails gets ``error="invalid_token"``
  and a reason that never repeats the token;
- 503 ``identity-unavailable`` with ``Retry-After``: the token names a key this worker does not have and the
  identity provider could not be asked (the token may be valid: it is neither accepted nor refused).

Refusals are answered, never raised: a flood of bad tokens costs no exception machinery and logs no traceback.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from flashsale.api import problems as p
from flashsale.identity import Buyer, KeysUnavailable, TokenRefused, Verifier
from flashsale.inventory import Outcome

REALM = 'Bearer realm="flashsale"'
KEYS_RETRY_AFTER_S = 5


def challenge(reason: str | None) -> str:
    """The ``WWW-Authenticate`` value for a refusal (``reason`` None: no token came at all)."""
    if reason is None:
        return REALM
    return f'{REALM}, error="invalid_token", error_description="{reason.replace(chr(34), chr(39))}"'


def refusal(outcome: Outcome, reason: str | None, instance: str) -> Response[Any]:
    """The answer to a request whose buyer could not be established."""
    if outcome is Outcome.IDENTITY_UNAVAILABLE:
        return p.problem_response(
            p.IDENTITY_UNAVAILABLE,
            "the key that signed this token could not be fetched from the identity provider; retry",
            instance,
            headers={"Retry-After": str(KEYS_RETRY_AFTER_S)},
        )
    detail = reason or "no bearer token: sign in with the shop's identity provider"
    return p.problem_response(
        p.BUYER_UNAUTHENTICATED, detail, instance, headers={"WWW-Authenticate": challenge(reason)}
    )


async def buyer_of(request: Request[Any, Any, Any]) -> Buyer | tuple[Outcome, str | None]:
    """The verified buyer, or why not: (``buyer_unauthenticated``, reason or None) or (``identity_unavailable``,
    detail). Callers record the attempt with that outcome and answer with ``refusal``."""
    verifier: Verifier = request.app.state.verifier
    header = request.headers.get("authorization")
    if header is None:
        return Outcome.BUYER_UNAUTHENTICATED, None
    try:
        return await verifier.buyer(header)
    except TokenRefused as exc:
        return Outcome.BUYER_UNAUTHENTICATED, exc.reason
    except KeysUnavailable as exc:
        return Outcome.IDENTITY_UNAVAILABLE, str(exc)
