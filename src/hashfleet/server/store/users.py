"""People, their API tokens and their dashboard sessions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.errors import Conflict
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
    engine: AsyncEngine, user_id: str, name: str, token_hash: str, write: bool
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
            )
        )
    return tid


async def principal_by_token(engine: AsyncEngine, token_hash: str) -> dict[str, Any] | None:
    """The user behind an API token, with the token's write flag; marks it used."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(
                    users.c.id,
                    users.c.username,
                    users.c.role,
                    api_tokens.c.write,
                    api_tokens.c.id.label("token_id"),
                )
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(api_tokens.c.token_hash == token_hash)
            )
        ).first()
        if row is None:
            return None
        await conn.execute(
            update(api_tokens).where(api_tokens.c.id == row.token_id).values(last_used_at=now_ms())
        )
        return dict(row._mapping)


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
                select(users.c.id, users.c.username, users.c.role)
                .join(sessions, sessions.c.user_id == users.c.id)
                .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now_ms())
            )
        ).first()
        return None if row is None else dict(row._mapping)


async def delete_session(engine: AsyncEngine, token_hash: str) -> None:
    """Close a dashboard session."""
    async with engine.begin() as conn:
        await conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash))
