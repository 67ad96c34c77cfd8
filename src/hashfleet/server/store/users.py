"""People, their API tokens and their dashboard sessions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.errors import Conflict, NotFound
from hashfleet.core.ids import new_id
from hashfleet.server.store.tables import api_tokens, sessions, users


async def create_user(engine: AsyncEngine, username: str, password_hash: str, role: str) -> str:
    """Create a user and return its id; usernames are unique."""
    uid = new_id()
    try:
        async with engine.begin() as conn:
            await conn.execute(
                users.insert().values(
                    id=uid,
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    created_at=now_ms(),
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"user {username!r} already exists", code="ERR_USER_EXISTS") from exc
    return uid


async def user_by_name(engine: AsyncEngine, username: str) -> dict[str, Any] | None:
    """The user row named ``username``."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.username == username))).first()
        return None if row is None else dict(row._mapping)


async def set_password(engine: AsyncEngine, user_id: str, password_hash: str) -> None:
    """Replace a user's password hash."""
    async with engine.begin() as conn:
        await conn.execute(
            update(users).where(users.c.id == user_id).values(password_hash=password_hash)
        )


async def create_api_token(
    engine: AsyncEngine,
    user_id: str,
    name: str,
    token_hash: str,
    write: bool,
    scopes: list[str] | None = None,
    expires_at: int | None = None,
) -> str:
    """Store an API token's hash; returns the token's id."""
    tid = new_id()
    async with engine.begin() as conn:
        await conn.execute(
            api_tokens.insert().values(
                id=tid,
                user_id=user_id,
                name=name,
                token_hash=token_hash,
                write=int(write),
                created_at=now_ms(),
                scopes=scopes,
                expires_at=expires_at,
            )
        )
    return tid


async def principal_by_token(engine: AsyncEngine, token_hash: str) -> dict[str, Any] | None:
    """The user behind an API token with the token's flags (write, scopes, expiry, revoked).

    Read only: the caller decides whether the token still counts and when to mark it used.
    """
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    users.c.id,
                    users.c.username,
                    users.c.role,
                    users.c.disabled,
                    api_tokens.c.write,
                    api_tokens.c.id.label("token_id"),
                    api_tokens.c.scopes,
                    api_tokens.c.expires_at,
                    api_tokens.c.revoked_at,
                    api_tokens.c.last_used_at,
                )
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(api_tokens.c.token_hash == token_hash)
            )
        ).first()
        return None if row is None else dict(row._mapping)


async def touch_token(engine: AsyncEngine, token_id: str, ts: int) -> None:
    """Set a token's ``last_used_at``."""
    async with engine.begin() as conn:
        await conn.execute(
            update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=ts)
        )


_TOKEN_COLUMNS = (
    api_tokens.c.id,
    api_tokens.c.user_id,
    users.c.username,
    api_tokens.c.name,
    api_tokens.c.write,
    api_tokens.c.scopes,
    api_tokens.c.created_at,
    api_tokens.c.last_used_at,
    api_tokens.c.expires_at,
    api_tokens.c.revoked_at,
)


def _token_row(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out["write"] = bool(out["write"])
    return out


async def list_tokens(engine: AsyncEngine, user_id: str | None = None) -> list[dict[str, Any]]:
    """API tokens (never their hashes), of one user or of everyone, oldest first."""
    stmt = select(*_TOKEN_COLUMNS).join(users, users.c.id == api_tokens.c.user_id)
    if user_id is not None:
        stmt = stmt.where(api_tokens.c.user_id == user_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt.order_by(api_tokens.c.created_at, api_tokens.c.id))).all()
    return [_token_row(r) for r in rows]


async def token_by_id(engine: AsyncEngine, token_id: str) -> dict[str, Any] | None:
    """One API token (without its hash)."""
    stmt = (
        select(*_TOKEN_COLUMNS)
        .join(users, users.c.id == api_tokens.c.user_id)
        .where(api_tokens.c.id == token_id)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
    return None if row is None else _token_row(row)


async def revoke_token(engine: AsyncEngine, token_id: str) -> None:
    """Mark a token revoked (kept for the record); revoking twice keeps the first time."""
    async with engine.begin() as conn:
        await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now_ms())
        )


async def create_session(engine: AsyncEngine, user_id: str, token_hash: str, ttl_ms: int) -> None:
    """Open a dashboard session."""
    now = now_ms()
    async with engine.begin() as conn:
        await conn.execute(
            sessions.insert().values(
                token_hash=token_hash, user_id=user_id, created_at=now, expires_at=now + ttl_ms
            )
        )


async def principal_by_session(engine: AsyncEngine, token_hash: str) -> dict[str, Any] | None:
    """The user of an unexpired session."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(users.c.id, users.c.username, users.c.role, users.c.disabled)
                .join(sessions, sessions.c.user_id == users.c.id)
                .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now_ms())
            )
        ).first()
        return None if row is None else dict(row._mapping)


async def delete_session(engine: AsyncEngine, token_hash: str) -> None:
    """Close a dashboard session."""
    async with engine.begin() as conn:
        await conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash))


async def delete_sessions(engine: AsyncEngine, user_id: str, keep: str | None = None) -> None:
    """Close every session of a user, except the one hashed ``keep``."""
    stmt = delete(sessions).where(sessions.c.user_id == user_id)
    if keep is not None:
        stmt = stmt.where(sessions.c.token_hash != keep)
    async with engine.begin() as conn:
        await conn.execute(stmt)


# -- people -------------------------------------------------------------------------------

_USER_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.role,
    users.c.created_at,
    users.c.disabled,
    users.c.failed_logins,
    users.c.locked_until,
)


def _user_row(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out["disabled"] = bool(out["disabled"])
    return out


async def list_users(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every person (without password hashes), by name."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(*_USER_COLUMNS).order_by(users.c.username))).all()
    return [_user_row(r) for r in rows]


async def user_by_id(engine: AsyncEngine, user_id: str) -> dict[str, Any] | None:
    """One person (without the password hash)."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(*_USER_COLUMNS).where(users.c.id == user_id))).first()
    return None if row is None else _user_row(row)


async def record_failed_login(
    engine: AsyncEngine, user_id: str, lock_after: int, lock_s: int, lock_max_s: int, now: int
) -> dict[str, Any]:
    """Count one more failed password; from the ``lock_after``-th on, lock the account.

    The lock lasts ``lock_s`` at first and doubles with each further failure, up to
    ``lock_max_s``. Returns ``{failed_logins, locked_until}``.
    """
    async with engine.begin() as conn:
        # Incremented in SQL, so concurrent failures are all counted.
        await conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(failed_logins=users.c.failed_logins + 1)
        )
        failed = int(
            (
                await conn.execute(select(users.c.failed_logins).where(users.c.id == user_id))
            ).scalar_one()
        )
        locked_until = None
        if failed >= lock_after:
            locked_until = now + 1000 * lock_duration_s(failed, lock_after, lock_s, lock_max_s)
            await conn.execute(
                update(users).where(users.c.id == user_id).values(locked_until=locked_until)
            )
    return {"failed_logins": failed, "locked_until": locked_until}


def lock_duration_s(failed: int, lock_after: int, lock_s: int, lock_max_s: int) -> int:
    """How long the ``failed``-th failed password locks an account (0 before ``lock_after``)."""
    if failed < lock_after:
        return 0
    # Capped before the shift, so a huge count cannot build a huge integer.
    return min(lock_s << min(failed - lock_after, 32), lock_max_s)


async def clear_failed_logins(engine: AsyncEngine, user_id: str) -> None:
    """Forget failed passwords and any lock (a good password, a reset, an enable)."""
    async with engine.begin() as conn:
        await conn.execute(
            update(users)
            .where(
                users.c.id == user_id,
                (users.c.failed_logins != 0) | users.c.locked_until.isnot(None),
            )
            .values(failed_logins=0, locked_until=None)
        )


async def update_user(engine: AsyncEngine, user_id: str, **values: Any) -> None:
    """Change ``role`` and/or ``disabled`` of a person; never leaves no enabled admin.

    ``ERR_USER_NOT_FOUND`` for an unknown id, ``ERR_LAST_ADMIN`` when the change would
    demote or disable the last enabled admin.
    """
    allowed = {k: v for k, v in values.items() if k in ("role", "disabled")}
    if "disabled" in allowed:
        allowed["disabled"] = int(bool(allowed["disabled"]))
    async with engine.begin() as conn:
        was_admin = await _lock_admins(conn, user_id)
        result = await conn.execute(update(users).where(users.c.id == user_id).values(**allowed))
        if result.rowcount == 0:
            raise NotFound(f"user {user_id!r} not found", code="ERR_USER_NOT_FOUND")
        if was_admin:
            await _check_an_admin_remains(conn)


async def delete_user(engine: AsyncEngine, user_id: str) -> None:
    """Remove a person with their tokens and sessions; never the last enabled admin."""
    async with engine.begin() as conn:
        was_admin = await _lock_admins(conn, user_id)
        # Tokens and sessions go explicitly: SQLite enforces ON DELETE CASCADE only with its
        # foreign_keys pragma, which another tool opening the file may not set.
        await conn.execute(delete(api_tokens).where(api_tokens.c.user_id == user_id))
        await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
        result = await conn.execute(delete(users).where(users.c.id == user_id))
        if result.rowcount == 0:
            raise NotFound(f"user {user_id!r} not found", code="ERR_USER_NOT_FOUND")
        if was_admin:
            await _check_an_admin_remains(conn)


async def _lock_admins(conn: AsyncConnection, user_id: str) -> bool:
    """Lock the enabled admins' rows; whether ``user_id`` is one of them.

    Only a change to an enabled admin is checked: a database without any admin (before
    the first server start) still lets people be managed.
    """
    # PostgreSQL: the lock makes two concurrent demotions of the two last admins run one
    # after the other, so the second sees the first (SQLite has a single writer anyway and
    # ignores FOR UPDATE).
    ids = (
        await conn.execute(
            select(users.c.id)
            .where(users.c.role == "admin", users.c.disabled == 0)
            .with_for_update()
        )
    ).scalars()
    return user_id in set(ids)


async def _check_an_admin_remains(conn: AsyncConnection) -> None:
    left = (
        await conn.execute(
            select(func.count())
            .select_from(users)
            .where(users.c.role == "admin", users.c.disabled == 0)
        )
    ).scalar_one()
    if not left:
        # Raising inside ``engine.begin()`` rolls the change back.
        raise Conflict("this would leave no enabled admin", code="ERR_LAST_ADMIN")
