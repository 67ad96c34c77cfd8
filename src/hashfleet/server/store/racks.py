"""Rack registry persistence."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.errors import Conflict
from hashfleet.server.store.tables import racks


async def insert_rack(
    engine: AsyncEngine, rack_id: str, rack_type: str, info: dict[str, Any]
) -> None:
    """Create a rack; a second rack with the same id is a conflict."""
    try:
        async with engine.begin() as conn:
            await conn.execute(
                racks.insert().values(id=rack_id, type=rack_type, info=info, created_at=now_ms())
            )
    except IntegrityError as exc:
        raise Conflict(f"rack {rack_id!r} already exists", code="ERR_RACK_ID_INVALID") from exc


async def list_racks(engine: AsyncEngine) -> list[dict[str, Any]]:
    """All racks, oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(racks.c.id, racks.c.type, racks.c.info, racks.c.created_at).order_by(
                racks.c.created_at, racks.c.id
            )
        )
        return [dict(r._mapping) for r in rows]


async def delete_racks(engine: AsyncEngine, ids: list[str] | None) -> int:
    """Delete the named racks (all when ``ids`` is None); returns how many went."""
    async with engine.begin() as conn:
        stmt = delete(racks) if ids is None else delete(racks).where(racks.c.id.in_(ids))
        result = await conn.execute(stmt)
        return int(result.rowcount or 0)


async def set_rack_token(engine: AsyncEngine, rack_id: str, token_hash: str) -> bool:
    """Store the hash of a rack's new agent token; False when the rack does not exist."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(racks).where(racks.c.id == rack_id).values(token_hash=token_hash)
        )
        return bool(result.rowcount)


async def rack_by_token(engine: AsyncEngine, token_hash: str) -> str | None:
    """The id of the rack whose agent token hashes to ``token_hash``."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(racks.c.id).where(racks.c.token_hash == token_hash))
        ).first()
        return None if row is None else str(row[0])
