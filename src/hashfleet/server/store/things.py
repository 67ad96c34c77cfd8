"""Thing registry persistence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Text, cast, delete, select, update
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


async def load_things(engine: AsyncEngine, *, raw_snap: bool = False) -> list[dict[str, Any]]:
    """Every registered thing with its latest state (``last``); see :func:`iter_things`."""
    return [doc async for chunk in iter_things(engine, raw_snap=raw_snap) for doc in chunk]


async def iter_things(
    engine: AsyncEngine, *, raw_snap: bool = False, chunk: int = 2000
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every registered thing with its latest state (``last``), ``chunk`` at a time.

    Streamed: 100,000 things read at once left the server's memory 2x what the things
    hold (transient rows in the pools of the allocator). ``raw_snap`` gives the latest
    snapshot as its JSON text, undecoded (the live index keeps it packed anyway).
    """
    snap_col = cast(thing_state.c.snap, Text) if raw_snap else thing_state.c.snap
    query = select(
        *[things.c[c] for c in _COLUMNS],
        thing_state.c.ts,
        thing_state.c.err,
        snap_col.label("snap"),
    ).outerjoin(thing_state, thing_state.c.thing_id == things.c.id)
    async with engine.connect() as conn:
        result = await conn.stream(query.execution_options(yield_per=chunk))
        async for part in result.partitions(chunk):
            out = []
            for r in part:
                m = r._mapping
                doc = {c: m[c] for c in _COLUMNS}
                doc["last"] = (
                    None if m["ts"] is None else {"ts": m["ts"], "err": m["err"], "snap": m["snap"]}
                )
                out.append(doc)
            yield out
