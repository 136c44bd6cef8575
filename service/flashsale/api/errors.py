"""How an exception that reached Litestar's exception middleware is logged: one line at most per request.

Litestar's default handler logs every exception it catches as "Uncaught exception" with a traceback at ERROR,
including the ordinary 400/401/404/405 answers to bad requests: a fuzzer or a bot sending garbage would fill disks
and page the on-call. Here:

- on a route that records every request as an attempt (``ATTEMPT_ROUTE`` in its ``opt``: the purchases and each
  hold step), a client error or a hang-up writes no line: the attempt line (``purchase_attempt`` or
  ``hold_attempt``, outcome ``invalid`` or ``rate_limited``, api/attempts.py) is that request's one line;
- on any other route (join, poll, orders, admin...), a client error (an ``HTTPException`` with a 4xx status) is
  one INFO line ``request_refused``, no traceback, with the status, the problem type, the method and the route
  template (never the raw path, which the client chooses);
- a client that hung up before its body arrived (Litestar raises a 500 ``InternalServerException`` for it) is
  one INFO line too: nothing on the server failed;
- an expected 5xx (``expected_unavailable``: a reconcile route called on an API without
  ``FLASHSALE_DATABASE_URL``) is one WARNING line named after its problem, no traceback: it is configuration,
  not a failure, and the client got its 503 with ``Retry-After``;
- anything else (a 5xx, an unexpected exception) keeps the ERROR line with its traceback.
"""

from __future__ import annotations

import sys
from typing import Any

from litestar.exceptions import HTTPException, InternalServerException
from litestar.plugins.problem_details import ProblemDetailsException

from flashsale.api.problems import DATABASE_NOT_CONFIGURED, problem_of

ATTEMPT_ROUTE = "flashsale_attempt"
"""Route ``opt`` key of the buyer routes that record every request as an attempt; its value is the attempt's
(operation, kind), e.g. ("purchase", "safe") or ("hold", "confirm"). Set by the controllers, read here and by
the refused-attempt hook (api/attempts.py)."""
DISCONNECTED = "client disconnected prematurely"
"""The detail of the exception Litestar raises when a request's body stops with ``http.disconnect``."""
DETAIL_CHARS = 160


def attempt_of(scope: Any) -> tuple[str, str] | None:
    """The (operation, kind) the request's route records its attempts as, or None for a route that does not."""
    handler = scope.get("route_handler")
    if handler is None:
        return None
    kind: tuple[str, str] | None = getattr(handler, "opt", {}).get(ATTEMPT_ROUTE)
    return kind


def expected_unavailable(exc: BaseException | None) -> bool:
    """A 5xx problem that is an expected condition: logged as one WARNING line (event = its slug)."""
    return isinstance(exc, ProblemDetailsException) and str(exc.type_) == DATABASE_NOT_CONFIGURED.uri


def is_disconnect(exc: BaseException | None) -> bool:
    """Litestar's exception for a request whose body ended with ``http.disconnect``."""
    return isinstance(exc, InternalServerException) and exc.detail == DISCONNECTED


def problem_type(exc: HTTPException) -> str:
    """The RFC 9457 ``type`` the client was answered with."""
    if isinstance(exc, ProblemDetailsException):
        return str(exc.type_)
    return str(problem_of(exc).type_)


def log_exception(logger: Any, scope: Any, tb: list[str]) -> None:
    """Litestar ``exception_logging_handler``: called inside the ``except`` block, so ``sys.exc_info`` is set."""
    exc = sys.exc_info()[1]
    disconnected = is_disconnect(exc)
    client_error = isinstance(exc, HTTPException) and exc.status_code < 500
    if (disconnected or client_error) and attempt_of(scope) is not None:
        return
    fields = {"method": scope.get("method", ""), "route": scope.get("path_template") or "unmatched"}
    if disconnected:
        logger.info("client_disconnected", **fields)
    elif isinstance(exc, HTTPException) and client_error:
        logger.info(
            "request_refused",
            status=exc.status_code,
            problem=problem_type(exc),
            detail=str(exc.detail)[:DETAIL_CHARS],
            **fields,
        )
    elif isinstance(exc, ProblemDetailsException) and expected_unavailable(exc):
        logger.warning(
            str(exc.type_).rsplit(":", 1)[-1].replace("-", "_"),
            status=exc.status_code,
            problem=str(exc.type_),
            detail=str(exc.detail)[:DETAIL_CHARS],
            **fields,
        )
    else:
        logger.exception("uncaught_exception", **fields)
