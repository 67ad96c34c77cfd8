"""Request dependencies: the server state and the calling principal."""

from __future__ import annotations

from fastapi import Request, WebSocket

from hashfleet.core.errors import Forbidden, Unauthorized
from hashfleet.server.auth.principal import SESSION_COOKIE, Principal
from hashfleet.server.state import ServerState


def get_state(request: Request) -> ServerState:
    """The server state of this app."""
    state: ServerState = request.app.state.hashfleet
    return state


async def principal_of(
    state: ServerState, headers: dict[str, str], cookies: dict[str, str]
) -> Principal | None:
    """Resolve a bearer token or a session cookie to a principal."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return await state.auth.from_bearer(auth[7:].strip())
    session = cookies.get(SESSION_COOKIE)
    if session:
        return await state.auth.from_session(session)
    return None


async def current_principal(request: Request) -> Principal:
    """The authenticated caller; 401 ``ERR_AUTH_REQUIRED`` otherwise."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = await principal_of(get_state(request), dict(request.headers), request.cookies)
    if principal is None:
        raise Unauthorized("log in or send Authorization: Bearer <token>")
    request.state.principal = principal
    return principal


async def user_principal(request: Request) -> Principal:
    """A person (not an agent)."""
    principal = await current_principal(request)
    if principal.kind != "user":
        raise Forbidden("agents may only ingest", code="ERR_ACTION_DENIED")
    return principal


async def writer_principal(request: Request) -> Principal:
    """A person allowed to write."""
    principal = await user_principal(request)
    if not principal.can_write:
        raise Forbidden("this caller may only read", code="ERR_MISSING_WRITE_PERMISSIONS")
    return principal


async def admin_principal(request: Request) -> Principal:
    """An administrator."""
    principal = await user_principal(request)
    if not principal.is_admin:
        raise Forbidden("administrators only", code="ERR_ACTION_DENIED")
    return principal


async def agent_principal(request: Request) -> Principal:
    """An agent, authenticated by its rack token."""
    principal = await current_principal(request)
    if principal.kind != "agent" or principal.rack_id is None:
        raise Forbidden("a rack token is required", code="ERR_ACTION_DENIED")
    return principal


async def ws_principal(ws: WebSocket) -> Principal | None:
    """The principal of a WebSocket handshake (cookie, bearer header or ``?token=``).

    A cookie only counts when the page that opened the socket is of this origin: browsers
    send cookies with cross-site WebSocket handshakes, which would let any site read the
    fleet of a logged-in operator.
    """
    headers = dict(ws.headers)
    token = ws.query_params.get("token")
    if token and "authorization" not in headers:
        headers["authorization"] = f"Bearer {token}"
    cookies = ws.cookies if same_origin(headers) else {}
    return await principal_of(ws.app.state.hashfleet, headers, cookies)


def same_origin(headers: dict[str, str]) -> bool:
    """Whether the ``Origin`` header (if any) names the host the request was sent to."""
    origin = headers.get("origin")
    if origin is None:
        return True  # not a browser: no ambient cookies to abuse
    return origin.split("://", 1)[-1] == headers.get("host", "")
