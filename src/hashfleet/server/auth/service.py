"""Logins, sessions, API tokens and rack tokens over the store."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.errors import BadRequest, NotFound, Unauthorized
from hashfleet.core.ids import hash_token, new_token
from hashfleet.server.auth.passwords import hash_password, verify_password
from hashfleet.server.auth.principal import (
    API_TOKEN_PREFIX,
    RACK_TOKEN_PREFIX,
    ROLES,
    Principal,
)
from hashfleet.server.store import racks as rack_store
from hashfleet.server.store import users as user_store

SESSION_PREFIX = "hfs"
# A fixed hash to verify against when the user does not exist, so that both paths take
# the same time and usernames cannot be probed by timing.
_DUMMY_HASH = hash_password("not-a-real-password")


class AuthService:
    """Authentication over the store."""

    def __init__(self, engine: AsyncEngine, session_ttl_s: int) -> None:
        """Authenticate against ``engine``; sessions last ``session_ttl_s`` seconds."""
        self.engine = engine
        self.session_ttl_ms = session_ttl_s * 1000

    async def create_user(self, username: str, password: str, role: str) -> str:
        """Create a person; returns the user id."""
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}", code="ERR_ROLE_INVALID")
        if not username or len(username) > 128:
            raise BadRequest("username must be 1 to 128 characters", code="ERR_USERNAME_INVALID")
        if len(password) < 8:
            raise BadRequest(
                "password must have at least 8 characters", code="ERR_PASSWORD_INVALID"
            )
        return await user_store.create_user(self.engine, username, hash_password(password), role)

    async def ensure_admin(self, username: str, password: str) -> str:
        """Create the admin, or reset its password when it exists (demo start-up)."""
        user = await user_store.user_by_name(self.engine, username)
        if user is None:
            return await self.create_user(username, password, "admin")
        await user_store.set_password(self.engine, user["id"], hash_password(password))
        return str(user["id"])

    async def login(self, username: str, password: str) -> str:
        """Check a password and open a session; returns the session token."""
        user = await user_store.user_by_name(self.engine, username)
        # argon2 costs ~0.1 s of CPU by design: in a thread, so a flood of logins cannot
        # stall the event loop that serves every other request.
        if user is None:
            await asyncio.to_thread(verify_password, _DUMMY_HASH, password)
            raise Unauthorized("wrong username or password", code="ERR_LOGIN_FAILED")
        if not await asyncio.to_thread(verify_password, user["password_hash"], password):
            raise Unauthorized("wrong username or password", code="ERR_LOGIN_FAILED")
        token = new_token(SESSION_PREFIX)
        await user_store.create_session(
            self.engine, user["id"], hash_token(token), self.session_ttl_ms
        )
        return token

    async def logout(self, session_token: str) -> None:
        """Close a session."""
        await user_store.delete_session(self.engine, hash_token(session_token))

    async def create_api_token(self, user_id: str, name: str, write: bool) -> str:
        """A new API token for a user; the secret is returned once, only its hash is kept."""
        token = new_token(API_TOKEN_PREFIX)
        await user_store.create_api_token(self.engine, user_id, name, hash_token(token), write)
        return token

    async def create_rack_token(self, rack_id: str) -> str:
        """A new agent token for a rack, replacing the previous one."""
        token = new_token(RACK_TOKEN_PREFIX)
        if not await rack_store.set_rack_token(self.engine, rack_id, hash_token(token)):
            raise NotFound(f"rack {rack_id!r} not found", code="ERR_RACK_ID_INVALID")
        return token

    async def from_bearer(self, token: str) -> Principal | None:
        """The principal behind a bearer token (API or rack token)."""
        if token.startswith(RACK_TOKEN_PREFIX + "_"):
            # Looked up every time (one indexed read per batch of up to 2,000 snapshots): a
            # cache would keep a replaced token, or a forgotten rack's, working.
            rack_id = await rack_store.rack_by_token(self.engine, hash_token(token))
            if rack_id is None:
                return None
            return Principal("agent", rack_id, rack_id=rack_id)
        if token.startswith(API_TOKEN_PREFIX + "_"):
            row = await user_store.principal_by_token(self.engine, hash_token(token))
            if row is None:
                return None
            return Principal(
                "user",
                row["username"],
                row["role"],
                user_id=row["id"],
                token_write=bool(row["write"]),
            )
        return None

    async def from_session(self, token: str) -> Principal | None:
        """The principal behind a session cookie."""
        row = await user_store.principal_by_session(self.engine, hash_token(token))
        if row is None:
            return None
        return Principal("user", row["username"], row["role"], user_id=row["id"])
