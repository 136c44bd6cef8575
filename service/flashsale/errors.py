"""How an exception that reached Litestar's exception middleware is logged: one quiet line for a 4xx.

Litestar's default handler logs every exception it catches as "Uncaught exception" with a traceback at ERROR,
including the ordinary 400/401/404/405 answers to bad requests: schemathesis made the server write about 700
tracebacks (field notes, 2026-12-01), and a bot sending garbage would fill disks and page the on-call. Here:

- a client error (an ``HTTPException`` with a 4xx status) is one INFO line, no traceback, with the status,
  the problem type, the method and the route template (never the raw path, which the client chooses);
  on the purchase routes it is no line at all, because the attempt line (``purchase_attempt``, outcome
  ``invalid`` or ``rate_limited``) already records that request (the same holds for a hang-up there);
- a client that hung up before its body arrived (Litestar raises a 500 ``InternalServerException`` for it) is
  one INFO line too: nothing on the server failed;
- an expected 5xx (``expected_unavailable``: a reconcile route called on an API without
  ``FLASHSALE_DATABASE_URL``) is one WARNING line named after its problem, no traceback: it is configuration,
  not a failure, and the client got its 503 with ``Retry-After`` (docs/decisions.md, issue 18);
- anything else (a 5xx, an unexpected exception) keeps the ERROR line with its traceback.
"""

from __future__ import annotations

import sys
from typing import Any

from litestar.exceptions import HTTPException, InternalServerException
from litestar.plugins.problem_details import ProblemDetailsException

DISCONNECTED = "client disconnected prematurely"
"""The detail of the exception Litestar raises when a request's body stops with ``http.disconnect``."""
DETAIL_CHARS = 160


def expected_unavailable(exc: BaseException | None) -> bool:
    """A 5xx problem that is an expected condition: logged as one WARNING line (event = its slug)."""
    if not isinstance(exc, ProblemDetailsException):
        return False
    from flashsale.api.problems import DATABASE_NOT_CONFIGURED  # at call time: api imports this module

    return str(exc.type_) == DATABASE_NOT_CONFIGURED.uri


def is_disconnect(exc: BaseException | None) -> bool:
    """Litestar's exception for a request whose body ended with ``http.disconnect``."""
    return isinstance(exc, InternalServerException) and exc.detail == DISCONNECTED


def problem_type(exc: HTTPException) -> str:
    """The RFC 9457 ``type`` the client was answered with."""
    if isinstance(exc, ProblemDetailsException):
        return str(exc.type_)
    from flashsale.api.problems import _from_http  # the one exception -> problem table

    return str(_from_http(exc).type_)


def log_exception(logger: Any, scope: Any, tb: list[str]) -> None:
    """Litestar ``exception_logging_handler``: called inside the ``except`` block, so ``sys.exc_info`` is set."""
    exc = sys.exc_info()[1]
    route = scope.get("path_template") or "unmatched"
    fields = {"method": scope.get("method", ""), "route": route}
    disconnected = is_disconnect(exc)
    if disconnected or (isinstance(exc, HTTPException) and exc.status_code < 500):
        from flashsale.api.purchases import PURCHASE_PATH  # at call time: the api package imports this module

        handler = scope.get("route_handler")
        if handler is not None and PURCHASE_PATH in getattr(handler, "opt", {}):
            return
    if disconnected:
        logger.info("client_disconnected", **fields)
    elif isinstance(exc, HTTPException) and exc.status_code < 500:
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
