"""Cross-site request forgery: a cookie-authenticated write must come from this site.

Browsers attach the session cookie (SameSite=Lax) to some cross-site requests and to
requests from other ports and sub-domains of the same site, so a page elsewhere could make a
logged-in operator's browser post to the API. Every unsafe request (POST, PUT, PATCH,
DELETE) that would be authenticated by the session cookie must therefore name this server
in ``Origin`` (or, when a browser sends no ``Origin``, in ``Referer``); otherwise it is
``403 ERR_CSRF``. Bearer-token requests carry no ambient credentials and are exempt. The
login form posts without a session: it is refused only when its ``Origin`` or ``Referer``
names another site (login CSRF), and passes without either (scripts, the CLI tests).
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hashfleet.server.auth.principal import SESSION_COOKIE

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOGIN_PATH = "/login"


def _host_of(url: str) -> str | None:
    """``host[:port]`` of an absolute URL, lower case; None for ``null`` or garbage."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.netloc.rsplit("@", 1)[-1].lower()


def _has_session_cookie(cookie_header: str) -> bool:
    if SESSION_COOKIE not in cookie_header:
        return False
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        # A header the parser rejects may still carry the cookie for Starlette's parser.
        return True
    return SESSION_COOKIE in jar


def check_origin(headers: dict[str, str], needs_origin: bool) -> bool:
    """Whether a request's ``Origin`` (else ``Referer``) names the host it was sent to.

    Without either header the answer is ``not needs_origin``.
    """
    host = headers.get("host", "").lower()
    origin = headers.get("origin")
    if origin is not None:
        return bool(host) and _host_of(origin) == host
    referer = headers.get("referer")
    if referer is not None:
        return bool(host) and _host_of(referer) == host
    return not needs_origin


class CsrfMiddleware:
    """Refuse cookie-authenticated unsafe requests from other origins (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer ``403 ERR_CSRF``."""
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        # The same order as deps.principal_of: a bearer token wins over the cookie.
        bearer = headers.get("authorization", "").lower().startswith("bearer ")
        cookie = not bearer and _has_session_cookie(headers.get("cookie", ""))
        needs_check = cookie or scope["path"] == LOGIN_PATH
        if needs_check and not check_origin(headers, needs_origin=cookie):
            response = JSONResponse(
                {
                    "error": "ERR_CSRF",
                    "message": "a request with the session cookie must come from this site "
                    "(Origin or Referer); scripts should send Authorization: Bearer",
                },
                status_code=403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
