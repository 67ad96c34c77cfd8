"""Small persistent key → JSON values (instance id, global settings)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.server.store.snapshots import dialect_insert
from hashfleet.server.store.tables import kv


async def get_value(engine: AsyncEngine, key: str) -> Any:
    """The value under ``key``, or None."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(kv.c.value).where(kv.c.key == key))).first()
        return None if row is None else row[0]


async def set_value(engine: AsyncEngine, key: str, value: Any) -> None:
    """Write ``value`` under ``key``."""
    stmt = dialect_insert(engine, kv).values(key=key, value=value)
    stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
    async with engine.begin() as conn:
        await conn.execute(stmt)


async def setdefault_value(engine: AsyncEngine, key: str, value: Any) -> Any:
    """The value under ``key``, writing ``value`` first if there is none."""
    stmt = dialect_insert(engine, kv).values(key=key, value=value)
    stmt = stmt.on_conflict_do_nothing(index_elements=["key"])
    async with engine.begin() as conn:
        await conn.execute(stmt)
    return await get_value(engine, key)
