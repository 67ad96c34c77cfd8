"""Dashboard pages (server-rendered) and the login form."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from hashfleet import __version__
from hashfleet.core.errors import TooManyRequests, Unauthorized
from hashfleet.model.alert import SEVERITIES
from hashfleet.server.alerts.rules import THING_TYPES
from hashfleet.server.api.deps import get_state, principal_of
from hashfleet.server.auth.principal import SESSION_COOKIE, Principal
from hashfleet.server.state import ServerState

_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(_HERE / "templates"))
STATIC_DIR = _HERE / "static"

router = APIRouter(include_in_schema=False)


async def _page_principal(request: Request) -> Principal | None:
    state = get_state(request)
    principal = await principal_of(state, dict(request.headers), request.cookies)
    return principal if principal is not None and principal.kind == "user" else None


def _page(request: Request, name: str, principal: Principal, **ctx: object) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"user": principal.name, "role": principal.role, "version": __version__, **ctx},
    )


@router.get("/login")
async def login_form(request: Request) -> HTMLResponse:
    """The login page (a read-only replica says that logins happen on the primary)."""
    replica = get_state(request).settings.replica
    return templates.TemplateResponse(
        request, "login.html", {"error": None, "version": __version__, "replica": replica}
    )


@router.post("/login")
async def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    state: ServerState = Depends(get_state),
) -> Response:
    """Check the password, set the session cookie, go to the fleet."""
    client = request.client.host if request.client is not None else None
    try:
        token = await state.auth.login(username, password, client=client)
    except Unauthorized as exc:
        return templates.TemplateResponse(
            request, "login.html", {"error": exc.message, "version": __version__}, status_code=401
        )
    except TooManyRequests as exc:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"error": exc.message, "version": __version__},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=state.settings.session_ttl_s,
    )
    return response


@router.post("/logout")
async def logout(request: Request, state: ServerState = Depends(get_state)) -> Response:
    """Close the session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await state.auth.logout(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
async def fleet_page(request: Request) -> Response:
    """The fleet: aggregate tiles and the live table."""
    principal = await _page_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    return _page(request, "fleet.html", principal, can_write=principal.can_write)


@router.get("/things/{thing_id}")
async def thing_page(thing_id: str, request: Request) -> Response:
    """One thing: live values, charts, its alerts, comments and change log."""
    principal = await _page_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    return _page(request, "thing.html", principal, thing_id=thing_id, can_write=principal.can_write)


@router.get("/scan")
async def scan_page(request: Request) -> Response:
    """Discovery: scan ranges, pick what was found, add it to a rack."""
    principal = await _page_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    return _page(request, "scan.html", principal, can_write=principal.can_write)


@router.get("/alerts")
async def alerts_page(request: Request) -> Response:
    """Alerts: open ones live, closed ones from history, with shared filters."""
    principal = await _page_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    return _page(
        request,
        "alerts.html",
        principal,
        severities=SEVERITIES,
        thing_types=sorted(THING_TYPES),
    )


@router.get("/actions")
async def actions_page(request: Request) -> Response:
    """Actions: open ones live (vote, cancel), finished ones with their per-target results."""
    principal = await _page_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    return _page(
        request,
        "actions.html",
        principal,
        can_write=principal.can_write,
        is_admin=principal.is_admin,
    )


@router.get("/admin")
async def admin_page(request: Request) -> Response:
    """People, roles and everyone's API tokens (admins only; others get a 403 page)."""
    principal = await _page_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    if not principal.is_admin:
        response = _page(request, "forbidden.html", principal)
        response.status_code = 403
        return response
    return _page(request, "admin.html", principal, me_id=principal.user_id or "")


@router.get("/account")
async def account_page(request: Request) -> Response:
    """The caller's own account: who they are, their API tokens, their password."""
    principal = await _page_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    return _page(request, "account.html", principal)
