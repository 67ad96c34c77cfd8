"""Logins, sessions, API tokens, rack tokens, people and roles over the store.

Login protection: every attempt first passes a per-client-address rate limit; a username
whose password failed ``lock_after`` times in a row is locked (``lock_s``, doubling with each
further failure up to ``lock_max_s``) and answers ``ERR_LOGIN_LOCKED`` without a password
check until the lock ends. A good password clears the count.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.errors import BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized
from hashfleet.core.ids import hash_token, new_token
from hashfleet.server.auth.passwords import hash_password, verify_password
from hashfleet.server.auth.permissions import BUILTIN_ROLES, check_permissions, intersect
from hashfleet.server.auth.principal import API_TOKEN_PREFIX, RACK_TOKEN_PREFIX, Principal
from hashfleet.server.store import racks as rack_store
from hashfleet.server.store import roles as role_store
from hashfleet.server.store import users as user_store

SESSION_PREFIX = "hfs"
# A fixed hash to verify against when the user does not exist, so that both paths take
# the same time and usernames cannot be probed by timing.
_DUMMY_HASH = hash_password("not-a-real-password")

LOCK_AFTER = 5  # failed passwords in a row before a username is locked
LOCK_S = 60  # the first lock; each further failure doubles it
LOCK_MAX_S = 3600
LOGIN_PER_MIN = 10  # login attempts per client address, sustained
LOGIN_BURST = 20
TOKEN_TOUCH_MS = 60_000  # api_tokens.last_used_at is written at most this often per token
ROLE_CACHE_MS = 60_000  # custom roles are re-read at least this often (another process)
MIN_PASSWORD = 8
_MAX_TRACKED = 10_000  # bound on addresses / unknown usernames kept in memory
_ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class RateLimiter:
    """Token buckets per key: ``per_minute`` sustained, ``burst`` at once; in memory."""

    def __init__(self, per_minute: float, burst: int, max_keys: int = _MAX_TRACKED) -> None:
        """Allow ``per_minute`` hits per key and minute, up to ``burst`` in a row."""
        self.rate_ms = per_minute / 60_000
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def hit(self, key: str, now: int) -> int:
        """Take one token for ``key``; 0 when allowed, else the seconds to wait."""
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0, now - last) * self.rate_ms)
        if tokens >= 1:
            tokens -= 1
            wait = 0
        else:
            # Rounded up to whole seconds (the float error below a microsecond ignored).
            wait_ms = math.ceil((1 - tokens) / self.rate_ms - 1e-3)
            wait = max(1, -(-wait_ms // 1000))
        self._buckets[key] = (tokens, now)  # most recent last
        while len(self._buckets) > self.max_keys:
            # The least recently seen key goes: a flood of addresses cannot grow memory.
            self._buckets.popitem(last=False)
        return wait


class AuthService:
    """Authentication and the people, roles and tokens behind it."""

    def __init__(
        self,
        engine: AsyncEngine,
        session_ttl_s: int,
        *,
        clock: Callable[[], int] = now_ms,
        lock_after: int = LOCK_AFTER,
        lock_s: int = LOCK_S,
        lock_max_s: int = LOCK_MAX_S,
        login_per_min: float = LOGIN_PER_MIN,
        login_burst: int = LOGIN_BURST,
    ) -> None:
        """Authenticate against ``engine``; sessions last ``session_ttl_s`` seconds.

        ``clock`` (ms) and the lockout and rate-limit figures are parameters for tests.
        """
        self.engine = engine
        self.session_ttl_ms = session_ttl_s * 1000
        self.clock = clock
        self.lock_after = lock_after
        self.lock_s = lock_s
        self.lock_max_s = lock_max_s
        self._login_limiter = RateLimiter(login_per_min, login_burst)
        # Failed logins of usernames that do not exist, so they lock like real ones and a
        # lock does not tell which usernames exist: name → (failures, locked_until).
        self._ghosts: OrderedDict[str, tuple[int, int | None]] = OrderedDict()
        self._touched: dict[str, int] = {}  # token id → last write of last_used_at
        # A read-only replica (on a standby) checks tokens without writing last_used_at.
        self.read_only = False
        self._custom_roles: dict[str, frozenset[str]] | None = None
        self._roles_loaded_at = 0

    # -- roles ----------------------------------------------------------------------------

    async def custom_roles(self, refresh: bool = False) -> dict[str, frozenset[str]]:
        """Custom roles → permissions, from memory (reloaded on writes and every minute)."""
        now = self.clock()
        if refresh or self._custom_roles is None or now - self._roles_loaded_at >= ROLE_CACHE_MS:
            rows = await role_store.list_roles(self.engine)
            self._custom_roles = {r["name"]: frozenset(r["permissions"]) for r in rows}
            self._roles_loaded_at = now
        return self._custom_roles

    async def role_permissions(self, role: str) -> frozenset[str]:
        """The permissions of a built-in or custom role (none for an unknown role)."""
        if role in BUILTIN_ROLES:
            return frozenset(BUILTIN_ROLES[role])
        return (await self.custom_roles()).get(role, frozenset())

    async def check_role(self, role: str) -> None:
        """``ERR_ROLE_INVALID`` unless ``role`` is built in or exists."""
        if role in BUILTIN_ROLES or role in await self.custom_roles(refresh=True):
            return
        raise BadRequest(f"role {role!r} does not exist", code="ERR_ROLE_INVALID")

    async def list_roles(self) -> list[dict[str, Any]]:
        """Built-in roles first, then the custom ones."""
        out: list[dict[str, Any]] = [
            {"name": name, "permissions": list(perms), "description": "", "builtin": True}
            for name, perms in BUILTIN_ROLES.items()
        ]
        for row in await role_store.list_roles(self.engine):
            out.append({**row, "builtin": False})
        return out

    async def create_role(self, name: str, permissions: list[str], description: str = "") -> None:
        """Add a custom role."""
        self._check_custom_name(name)
        try:
            await role_store.create_role(
                self.engine, name, check_permissions(permissions), description
            )
        finally:
            await self.custom_roles(refresh=True)

    async def update_role(self, name: str, permissions: list[str], description: str = "") -> None:
        """Replace a custom role's permissions (they apply to its holders at once)."""
        self._check_custom_name(name)
        try:
            await role_store.update_role(
                self.engine, name, check_permissions(permissions), description
            )
        finally:
            await self.custom_roles(refresh=True)

    async def delete_role(self, name: str) -> None:
        """Remove a custom role nobody holds."""
        self._check_custom_name(name)
        try:
            await role_store.delete_role(self.engine, name)
        finally:
            await self.custom_roles(refresh=True)

    @staticmethod
    def _check_custom_name(name: str) -> None:
        if name in BUILTIN_ROLES:
            raise BadRequest(f"built-in role {name!r} cannot be changed", code="ERR_ROLE_BUILTIN")
        if not _ROLE_NAME.match(name):
            raise BadRequest(
                "role names are 1 to 64 letters, digits, '_', '.' or '-'", code="ERR_ROLE_INVALID"
            )

    # -- people ---------------------------------------------------------------------------

    async def create_user(self, username: str, password: str, role: str) -> str:
        """Create a person with a built-in or existing custom role; returns the user id."""
        if not username or len(username) > 128:
            raise BadRequest("username must be 1 to 128 characters", code="ERR_USERNAME_INVALID")
        check_password_rules(password)
        await self.check_role(role)
        password_hash = await asyncio.to_thread(hash_password, password)
        return await user_store.create_user(self.engine, username, password_hash, role)

    async def ensure_admin(self, username: str, password: str) -> str:
        """Create the admin, or reset its password when it exists (demo start-up)."""
        user = await user_store.user_by_name(self.engine, username)
        if user is None:
            return await self.create_user(username, password, "admin")
        await user_store.set_password(self.engine, user["id"], hash_password(password))
        await user_store.clear_failed_logins(self.engine, user["id"])
        return str(user["id"])

    async def set_role(self, user_id: str, role: str) -> None:
        """Give a person another role (``ERR_LAST_ADMIN`` for the last enabled admin)."""
        await self.check_role(role)
        await user_store.update_user(self.engine, user_id, role=role)

    async def set_disabled(self, user_id: str, disabled: bool) -> None:
        """Disable (sessions closed, tokens dead while disabled) or enable (lock cleared)."""
        await user_store.update_user(self.engine, user_id, disabled=disabled)
        if disabled:
            await user_store.delete_sessions(self.engine, user_id)
        else:
            await user_store.clear_failed_logins(self.engine, user_id)

    async def set_password(
        self, user_id: str, password: str, keep_session: str | None = None
    ) -> None:
        """Set a password, clear the lock and close the person's other sessions."""
        check_password_rules(password)
        if await user_store.user_by_id(self.engine, user_id) is None:
            raise NotFound(f"user {user_id!r} not found", code="ERR_USER_NOT_FOUND")
        password_hash = await asyncio.to_thread(hash_password, password)
        await user_store.set_password(self.engine, user_id, password_hash)
        await user_store.clear_failed_logins(self.engine, user_id)
        await user_store.delete_sessions(
            self.engine, user_id, keep=hash_token(keep_session) if keep_session else None
        )

    async def change_own_password(
        self, username: str, current: str, new: str, keep_session: str | None = None
    ) -> None:
        """Check ``current`` like a login (counts toward the lock), then set ``new``."""
        check_password_rules(new)
        user = await user_store.user_by_name(self.engine, username)
        if user is None:
            raise NotFound(f"user {username!r} not found", code="ERR_USER_NOT_FOUND")
        if not await self._check_password(user, current):
            raise Forbidden("the current password is wrong", code="ERR_PASSWORD_WRONG")
        await self.set_password(user["id"], new, keep_session=keep_session)

    async def delete_user(self, user_id: str) -> None:
        """Remove a person, their tokens and sessions (never the last enabled admin)."""
        await user_store.delete_user(self.engine, user_id)

    # -- logins ---------------------------------------------------------------------------

    async def login(self, username: str, password: str, client: str | None = None) -> str:
        """Check a password and open a session; returns the session token.

        ``client`` (the caller's address) is rate limited: ``429 ERR_LOGIN_RATE_LIMITED``.
        A locked username is ``429 ERR_LOGIN_LOCKED``; a wrong password or an unknown
        username ``401 ERR_LOGIN_FAILED``; a disabled account ``401 ERR_USER_DISABLED``
        (only told to someone who knows its password).
        """
        now = self.clock()
        if client is not None:
            wait = self._login_limiter.hit(client, now)
            if wait:
                raise TooManyRequests(
                    "too many login attempts from this address; try again later",
                    retry_after_s=wait,
                    code="ERR_LOGIN_RATE_LIMITED",
                )
        user = await user_store.user_by_name(self.engine, username)
        if user is None:
            await self._ghost_login(username, password, now)
            raise Unauthorized("wrong username or password", code="ERR_LOGIN_FAILED")
        if not await self._check_password(user, password):
            raise Unauthorized("wrong username or password", code="ERR_LOGIN_FAILED")
        if user["disabled"]:
            raise Unauthorized("this account is disabled", code="ERR_USER_DISABLED")
        token = new_token(SESSION_PREFIX)
        await user_store.create_session(
            self.engine, user["id"], hash_token(token), self.session_ttl_ms
        )
        return token

    async def _check_password(self, user: dict[str, Any], password: str) -> bool:
        """Verify a password against the lock and the hash; count a failure, clear on success."""
        now = self.clock()
        _raise_if_locked(user["locked_until"], now)
        # argon2 costs ~0.1 s of CPU by design: in a thread, so a flood of logins cannot
        # stall the event loop that serves every other request.
        if not await asyncio.to_thread(verify_password, user["password_hash"], password):
            await user_store.record_failed_login(
                self.engine, user["id"], self.lock_after, self.lock_s, self.lock_max_s, now
            )
            return False
        if user["failed_logins"] or user["locked_until"] is not None:
            await user_store.clear_failed_logins(self.engine, user["id"])
        return True

    async def _ghost_login(self, username: str, password: str, now: int) -> None:
        """An unknown username: same hash work and same lock behaviour as a real one."""
        failed, locked_until = self._ghosts.pop(username, (0, None))
        self._ghosts[username] = (failed, locked_until)
        _raise_if_locked(locked_until, now)
        await asyncio.to_thread(verify_password, _DUMMY_HASH, password)
        failed += 1
        if failed >= self.lock_after:
            seconds = user_store.lock_duration_s(
                failed, self.lock_after, self.lock_s, self.lock_max_s
            )
            locked_until = now + 1000 * seconds
        self._ghosts[username] = (failed, locked_until)
        while len(self._ghosts) > _MAX_TRACKED:
            self._ghosts.popitem(last=False)

    async def logout(self, session_token: str) -> None:
        """Close a session."""
        await user_store.delete_session(self.engine, hash_token(session_token))

    # -- tokens ---------------------------------------------------------------------------

    async def create_api_token(
        self,
        user_id: str,
        name: str,
        write: bool,
        *,
        scopes: list[str] | None = None,
        expires_at: int | None = None,
    ) -> str:
        """A new API token for a user; the secret is returned once, only its hash is kept."""
        return (await self.issue_api_token(user_id, name, write, scopes, expires_at))[1]

    async def issue_api_token(
        self,
        user_id: str,
        name: str,
        write: bool,
        scopes: list[str] | None = None,
        expires_at: int | None = None,
    ) -> tuple[str, str]:
        """Like ``create_api_token``, returning ``(token_id, token)``."""
        if not name or len(name) > 128:
            raise BadRequest("token name must be 1 to 128 characters", code="ERR_TOKEN_INVALID")
        checked = None if scopes is None else check_permissions(scopes)
        token = new_token(API_TOKEN_PREFIX)
        token_id = await user_store.create_api_token(
            self.engine, user_id, name, hash_token(token), write, checked, expires_at
        )
        return token_id, token

    async def revoke_api_token(self, token_id: str) -> None:
        """Revoke a token: it stops working at once and is kept with ``revoked_at``."""
        await user_store.revoke_token(self.engine, token_id)
        self._touched.pop(token_id, None)

    async def create_rack_token(self, rack_id: str) -> str:
        """A new agent token for a rack, replacing the previous one."""
        token = new_token(RACK_TOKEN_PREFIX)
        if not await rack_store.set_rack_token(self.engine, rack_id, hash_token(token)):
            raise NotFound(f"rack {rack_id!r} not found", code="ERR_RACK_ID_INVALID")
        return token

    # -- who is calling -------------------------------------------------------------------

    async def from_bearer(self, token: str) -> Principal | None:
        """The principal behind a bearer token (API or rack token); None if it does not count.

        A revoked or expired token, or one of a disabled person, is nobody.
        """
        if token.startswith(RACK_TOKEN_PREFIX + "_"):
            # Looked up every time (one indexed read per batch of up to 2,000 snapshots): a
            # cache would keep a replaced token, or a forgotten rack's, working.
            rack_id = await rack_store.rack_by_token(self.engine, hash_token(token))
            if rack_id is None:
                return None
            return Principal("agent", rack_id, rack_id=rack_id)
        if not token.startswith(API_TOKEN_PREFIX + "_"):
            return None
        row = await user_store.principal_by_token(self.engine, hash_token(token))
        now = self.clock()
        if (
            row is None
            or row["disabled"]
            or row["revoked_at"] is not None
            or (row["expires_at"] is not None and row["expires_at"] <= now)
        ):
            return None
        await self._touch(row["token_id"], row["last_used_at"], now)
        scopes = None if row["scopes"] is None else frozenset(row["scopes"])
        return Principal(
            "user",
            row["username"],
            row["role"],
            user_id=row["id"],
            token_write=bool(row["write"]),
            permissions=intersect(await self.role_permissions(row["role"]), scopes),
            token_id=row["token_id"],
            token_scopes=scopes,
            token_expires_at=row["expires_at"],
        )

    async def _touch(self, token_id: str, last_used_at: int | None, now: int) -> None:
        # One write per token and minute, not one per request: a dashboard script polling
        # every second would otherwise turn every read into a write transaction.
        last = max(last_used_at or 0, self._touched.get(token_id, 0))
        if self.read_only or now - last < TOKEN_TOUCH_MS:
            return
        self._touched[token_id] = now
        await user_store.touch_token(self.engine, token_id, now)

    async def from_session(self, token: str) -> Principal | None:
        """The principal behind a session cookie (nobody for a disabled person)."""
        row = await user_store.principal_by_session(self.engine, hash_token(token))
        if row is None or row["disabled"]:
            return None
        return Principal(
            "user",
            row["username"],
            row["role"],
            user_id=row["id"],
            permissions=await self.role_permissions(row["role"]),
        )


def check_password_rules(password: str) -> None:
    """``ERR_PASSWORD_INVALID`` unless 8 to 1024 characters."""
    if len(password) < MIN_PASSWORD:
        raise BadRequest(
            f"password must have at least {MIN_PASSWORD} characters", code="ERR_PASSWORD_INVALID"
        )
    if len(password) > 1024:
        # argon2 hashes any length, but a megabyte password is a cheap way to burn CPU.
        raise BadRequest("password must have at most 1024 characters", code="ERR_PASSWORD_INVALID")


def _raise_if_locked(locked_until: int | None, now: int) -> None:
    if locked_until is not None and locked_until > now:
        raise TooManyRequests(
            "too many failed passwords; this account is locked for a while",
            retry_after_s=-(-(locked_until - now) // 1000),
            code="ERR_LOGIN_LOCKED",
        )
