"""People, roles and API tokens: ``/api/users``, ``/api/roles``, ``/api/tokens``, ``/api/me``.

Users and roles are for admins only. Everyone manages their own tokens and password; an
admin also sees and revokes everyone's tokens. A read-only token only reads here too, and a
token never mints a broader or longer-lived one than itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from hashfleet.core.errors import BadRequest, Forbidden, NotFound
from hashfleet.server.api.deps import admin_principal, get_state, user_principal
from hashfleet.server.auth.permissions import check_permissions, intersect
from hashfleet.server.auth.principal import SESSION_COOKIE, Principal
from hashfleet.server.auth.service import check_password_rules
from hashfleet.server.state import ServerState
from hashfleet.server.store import users as user_store

router = APIRouter(prefix="/api", tags=["people"])

DAY_MS = 86_400_000
_NO_CONTENT = 204


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewUser(_Body):
    """A person to create."""

    username: str = Field(..., min_length=1, max_length=128)
    password: str = Field(..., max_length=1024)
    role: str = Field(..., min_length=1, max_length=64)


class UserChange(_Body):
    """What to change about a person; absent fields stay."""

    role: str | None = Field(None, min_length=1, max_length=64)
    disabled: bool | None = None
    password: str | None = Field(None, max_length=1024)


class RoleBody(_Body):
    """A custom role's permissions and description."""

    permissions: list[str] = Field(..., max_length=256)
    description: str = Field("", max_length=1000)


class NewRole(RoleBody):
    """A custom role to create."""

    name: str = Field(..., min_length=1, max_length=64)


class NewToken(_Body):
    """An API token to create for the caller."""

    name: str = Field(..., min_length=1, max_length=128)
    write: bool = True
    scopes: list[str] | None = Field(None, max_length=256)
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class PasswordChange(_Body):
    """The caller's current and new password."""

    current: str = Field(..., max_length=1024)
    new: str = Field(..., max_length=1024)


async def own_writer(principal: Principal = Depends(user_principal)) -> Principal:
    """A person changing their own account (tokens, password): not with a read-only token.

    A dependency, so the refusal comes before the body is even validated.
    """
    if not principal.token_write:
        raise Forbidden("a read-only token may only read", code="ERR_MISSING_WRITE_PERMISSIONS")
    return principal


# -- users ------------------------------------------------------------------------------


@router.get("/users", summary="Every person (admins)")
async def list_users(
    state: ServerState = Depends(get_state), _p: Principal = Depends(admin_principal)
) -> list[dict[str, Any]]:
    """People with role, disabled flag and lock state; never password hashes."""
    return await user_store.list_users(state.engine)


@router.post("/users", status_code=201, summary="Create a person (admins)")
async def create_user(
    body: NewUser, state: ServerState = Depends(get_state), _p: Principal = Depends(admin_principal)
) -> dict[str, Any]:
    """Create a person with a built-in or custom role; ``409 ERR_USER_EXISTS`` if taken."""
    uid = await state.auth.create_user(body.username, body.password, body.role)
    return await _user(state, uid)


@router.patch("/users/{user_id}", summary="Change a person's role, disabled flag or password")
async def change_user(
    user_id: str,
    body: UserChange,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(admin_principal),
) -> dict[str, Any]:
    """Apply the given fields; ``409 ERR_LAST_ADMIN`` if no enabled admin would remain."""
    await _user(state, user_id)
    # Checked before anything is written, so a bad field changes nothing.
    if body.role is not None:
        await state.auth.check_role(body.role)
    if body.password is not None:
        check_password_rules(body.password)
    if body.role is not None:
        await state.auth.set_role(user_id, body.role)
    if body.disabled is not None:
        await state.auth.set_disabled(user_id, body.disabled)
    if body.password is not None:
        await state.auth.set_password(user_id, body.password)
    return await _user(state, user_id)


@router.delete("/users/{user_id}", status_code=_NO_CONTENT, summary="Delete a person (admins)")
async def delete_user(
    user_id: str,
    state: ServerState = Depends(get_state),
    principal: Principal = Depends(admin_principal),
) -> Response:
    """Delete a person with their tokens and sessions; not oneself, not the last admin."""
    if user_id == principal.user_id:
        raise BadRequest("you cannot delete yourself", code="ERR_USER_SELF")
    await state.auth.delete_user(user_id)
    return Response(status_code=_NO_CONTENT)


async def _user(state: ServerState, user_id: str) -> dict[str, Any]:
    user = await user_store.user_by_id(state.engine, user_id)
    if user is None:
        raise NotFound(f"user {user_id!r} not found", code="ERR_USER_NOT_FOUND")
    return user


# -- roles ------------------------------------------------------------------------------


@router.get("/roles", summary="Built-in and custom roles (admins)")
async def list_roles(
    state: ServerState = Depends(get_state), _p: Principal = Depends(admin_principal)
) -> list[dict[str, Any]]:
    """Every role with its permission strings; ``builtin`` marks the immutable ones."""
    return await state.auth.list_roles()


@router.post("/roles", status_code=201, summary="Create a custom role (admins)")
async def create_role(
    body: NewRole, state: ServerState = Depends(get_state), _p: Principal = Depends(admin_principal)
) -> dict[str, Any]:
    """Add a role of ``{type}:{r|w|rw}`` permissions."""
    await state.auth.create_role(body.name, body.permissions, body.description)
    return await _role(state, body.name)


@router.put("/roles/{name}", summary="Replace a custom role's permissions (admins)")
async def update_role(
    name: str,
    body: RoleBody,
    state: ServerState = Depends(get_state),
    _p: Principal = Depends(admin_principal),
) -> dict[str, Any]:
    """New permissions apply to every holder at their next request."""
    await state.auth.update_role(name, body.permissions, body.description)
    return await _role(state, name)


@router.delete("/roles/{name}", status_code=_NO_CONTENT, summary="Delete a custom role (admins)")
async def delete_role(
    name: str, state: ServerState = Depends(get_state), _p: Principal = Depends(admin_principal)
) -> Response:
    """``409 ERR_ROLE_IN_USE`` while someone holds it; built-ins are ``400 ERR_ROLE_BUILTIN``."""
    await state.auth.delete_role(name)
    return Response(status_code=_NO_CONTENT)


async def _role(state: ServerState, name: str) -> dict[str, Any]:
    for role in await state.auth.list_roles():
        if role["name"] == name:
            return role
    raise NotFound(f"role {name!r} not found", code="ERR_ROLE_NOT_FOUND")


# -- tokens -----------------------------------------------------------------------------


@router.get("/tokens", summary="API tokens: one's own, or everyone's for admins with ?all=1")
async def list_tokens(
    all_users: bool = Query(False, alias="all"),
    state: ServerState = Depends(get_state),
    principal: Principal = Depends(user_principal),
) -> list[dict[str, Any]]:
    """Tokens without their secrets, revoked ones included (``revoked_at``)."""
    if all_users and not principal.is_admin:
        raise Forbidden("only admins list everyone's tokens", code="ERR_ACTION_DENIED")
    return await user_store.list_tokens(state.engine, None if all_users else principal.user_id)


@router.post("/tokens", status_code=201, summary="Create an API token for oneself")
async def create_token(
    body: NewToken,
    state: ServerState = Depends(get_state),
    principal: Principal = Depends(own_writer),
) -> dict[str, Any]:
    """The token's secret is in ``token`` of this answer only; the server keeps its hash."""
    assert principal.user_id is not None  # a person always has one
    scopes = None if body.scopes is None else check_permissions(body.scopes)
    expires_at = (
        None if body.expires_in_days is None else state.auth.clock() + body.expires_in_days * DAY_MS
    )
    # Called with a token: the new one is never broader nor longer-lived than the caller.
    if principal.token_scopes is not None:
        scopes = sorted(intersect(principal.token_scopes, scopes))
    if principal.token_expires_at is not None:
        expires_at = min(expires_at or principal.token_expires_at, principal.token_expires_at)
    token_id, token = await state.auth.issue_api_token(
        principal.user_id, body.name, body.write, scopes, expires_at
    )
    row = await user_store.token_by_id(state.engine, token_id)
    return {**(row or {"id": token_id}), "token": token}


@router.delete("/tokens/{token_id}", status_code=_NO_CONTENT, summary="Revoke an API token")
async def revoke_token(
    token_id: str,
    state: ServerState = Depends(get_state),
    principal: Principal = Depends(own_writer),
) -> Response:
    """Revoke one's own token (admins: anyone's); it is kept, with ``revoked_at`` set."""
    row = await user_store.token_by_id(state.engine, token_id)
    # Someone else's token is "not found": no telling which ids exist.
    if row is None or (row["user_id"] != principal.user_id and not principal.is_admin):
        raise NotFound(f"token {token_id!r} not found", code="ERR_TOKEN_NOT_FOUND")
    await state.auth.revoke_api_token(token_id)
    return Response(status_code=_NO_CONTENT)


# -- me ---------------------------------------------------------------------------------


@router.get("/me", summary="Who is calling, with the effective permissions")
async def me(principal: Principal = Depends(user_principal)) -> dict[str, Any]:
    """Name, role, effective permissions (role ∩ token scopes, minus ``w`` if read-only)."""
    return {
        "id": principal.user_id,
        "username": principal.name,
        "role": principal.role,
        "permissions": sorted(principal.perms()),
        "can_write": principal.can_write,
        "is_admin": principal.is_admin,
        "token": None
        if principal.token_id is None
        else {
            "id": principal.token_id,
            "write": principal.token_write,
            "scopes": None if principal.token_scopes is None else sorted(principal.token_scopes),
            "expires_at": principal.token_expires_at,
        },
    }


@router.post("/me/password", status_code=_NO_CONTENT, summary="Change one's own password")
async def change_password(
    body: PasswordChange,
    request: Request,
    state: ServerState = Depends(get_state),
    principal: Principal = Depends(own_writer),
) -> Response:
    """Needs the current password (a wrong one counts toward the lock); closes the other
    sessions of the caller and keeps this one."""
    session = request.cookies.get(SESSION_COOKIE) if principal.token_id is None else None
    await state.auth.change_own_password(principal.name, body.current, body.new, session)
    return Response(status_code=_NO_CONTENT)
