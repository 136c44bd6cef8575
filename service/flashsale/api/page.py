"""The buyer's waiting page and how the buyer signs in on it: the page itself (one per sale, the same HTML), the
identity provider's redirect back to it, and, in demo mode without a provider, the demo sign-in. None of these is
in the published API: the page is for browsers, and it calls the documented routes.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody

from flashsale.api.schemas import SaleIdParam
from flashsale.settings import Settings

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


class PageController(Controller):
    """The buyer's waiting page of a sale: the room's state, the place, the admission, in the browser."""

    path = "/sales/{sale_id:str}"
    include_in_schema = False

    @get("/wait", summary="The buyer's waiting page", media_type="text/html", include_in_schema=False)
    async def page(self, sale_id: SaleIdParam, request: Request[Any, Any, Any]) -> Response[str]:
        return Response(request.app.state.wait_page, media_type="text/html", headers=PAGE_HEADERS)


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
