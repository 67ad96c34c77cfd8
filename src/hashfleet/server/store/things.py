"""Thing registry persistence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.errors import Conflict
from hashfleet.server.store.changes import add_changes
from hashfleet.server.store.tables import thing_state, things

_COLUMNS = ("id", "code", "type", "rack_id", "tags", "info", "opts", "created_at", "updated_at")


async def insert_things(
    engine: AsyncEngine, rows: list[dict[str, Any]], changes: Sequence[dict[str, Any]] = ()
) -> None:
    """Insert new things and their change-log rows in one transaction; duplicates of id
    or code are a conflict."""
    try:
        async with engine.begin() as conn:
            await conn.execute(things.insert(), rows)
            await add_changes(conn, changes)
    except IntegrityError as exc:
        raise Conflict(
            "a thing with this id or code already exists",
            code="ERR_THING_WITH_ID_ALREADY_EXISTS",
        ) from exc


async def update_thing(
    engine: AsyncEngine,
    thing_id: str,
    values: dict[str, Any],
    changes: Sequence[dict[str, Any]] = (),
) -> None:
    """Write the new registry fields of one thing and their change-log rows together."""
    async with engine.begin() as conn:
        await conn.execute(update(things).where(things.c.id == thing_id).values(**values))
        await add_changes(conn, changes)


async def delete_things(
    engine: AsyncEngine, ids: list[str], changes: Sequence[dict[str, Any]] = ()
) -> int:
    """Delete things and their state rows, and log ``changes``, in one transaction; their
    snapshot history is kept."""
    if not ids:
        return 0
    total = 0
    async with engine.begin() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            await conn.execute(delete(thing_state).where(thing_state.c.thing_id.in_(chunk)))
            result = await conn.execute(delete(things).where(things.c.id.in_(chunk)))
            total += int(result.rowcount or 0)
        await add_changes(conn, changes)
    return total


async def load_things(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every registered thing with its latest state (``last``), for the live index at start."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                *[things.c[c] for c in _COLUMNS],
                thing_state.c.ts,
                thing_state.c.err,
                thing_state.c.snap,
            ).outerjoin(thing_state, thing_state.c.thing_id == things.c.id)
        )
        out = []
        for r in rows:
            m = r._mapping
            doc = {c: m[c] for c in _COLUMNS}
            doc["last"] = (
                None if m["ts"] is None else {"ts": m["ts"], "err": m["err"], "snap": m["snap"]}
            )
            out.append(doc)
        return out
