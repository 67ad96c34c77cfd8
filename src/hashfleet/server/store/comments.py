"""Comments on things: notes operators leave on a device ("replaced heat sink").

Comments are kept for ever, also after their thing is forgotten.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.ids import new_id
from hashfleet.server.store.tables import comments


def _entry(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "thingId": m["thing_id"],
        "user": m["user"],
        "comment": m["comment"],
        "createdAt": m["created_at"],
        "updatedAt": m["updated_at"],
    }


async def add_comment(
    engine: AsyncEngine, thing_id: str, user: str, comment: str, now: int | None = None
) -> dict[str, Any]:
    """Store a new comment; returns it as :func:`list_comments` would."""
    ts = now_ms() if now is None else now
    row = {
        "id": new_id(),
        "thing_id": thing_id,
        "user": user,
        "comment": comment,
        "created_at": ts,
        "updated_at": ts,
    }
    async with engine.begin() as conn:
        await conn.execute(comments.insert().values(**row))
    return {
        "id": row["id"],
        "thingId": thing_id,
        "user": user,
        "comment": comment,
        "createdAt": ts,
        "updatedAt": ts,
    }


async def get_comment(engine: AsyncEngine, thing_id: str, comment_id: str) -> dict[str, Any] | None:
    """The comment ``comment_id`` of ``thing_id``, or None."""
    stmt = select(comments).where(
        and_(comments.c.id == comment_id, comments.c.thing_id == thing_id)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
        return None if row is None else _entry(row)


async def edit_comment(
    engine: AsyncEngine, thing_id: str, comment_id: str, comment: str, now: int | None = None
) -> bool:
    """Replace a comment's text; False when there is no such comment."""
    stmt = (
        update(comments)
        .where(and_(comments.c.id == comment_id, comments.c.thing_id == thing_id))
        .values(comment=comment, updated_at=now_ms() if now is None else now)
    )
    async with engine.begin() as conn:
        return bool((await conn.execute(stmt)).rowcount)


async def delete_comment(engine: AsyncEngine, thing_id: str, comment_id: str) -> bool:
    """Delete a comment; False when there is no such comment."""
    stmt = delete(comments).where(
        and_(comments.c.id == comment_id, comments.c.thing_id == thing_id)
    )
    async with engine.begin() as conn:
        return bool((await conn.execute(stmt)).rowcount)


async def list_comments(
    engine: AsyncEngine, thing_id: str, *, offset: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """A thing's comments, newest first: ``{id, thingId, user, comment, createdAt, updatedAt}``."""
    # The id only makes the order of comments of the same millisecond stable.
    stmt = (
        select(comments)
        .where(comments.c.thing_id == thing_id)
        .order_by(comments.c.created_at.desc(), comments.c.id)
        .offset(offset)
        .limit(limit)
    )
    async with engine.connect() as conn:
        return [_entry(r) for r in await conn.execute(stmt)]


async def count_comments(engine: AsyncEngine, thing_id: str) -> int:
    """How many comments ``thing_id`` has."""
    stmt = select(func.count()).select_from(comments).where(comments.c.thing_id == thing_id)
    async with engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())
