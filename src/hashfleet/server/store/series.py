"""Rollup rows: per-thing 5-minute entries (``thing_stats``) and per type-and-tag entries
at every timeframe (``stats``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hashfleet.server.series.ops import Entry
from hashfleet.server.store.snapshots import dialect_insert
from hashfleet.server.store.tables import stats, thing_stats

StatKey = tuple[str, str]  # (type, tag)


async def upsert_thing_entries(
    engine: AsyncEngine, conn: AsyncConnection, rows: dict[str, Entry]
) -> None:
    """Write per-thing 5-minute entries, replacing any already stored."""
    if not rows:
        return
    stmt = dialect_insert(engine, thing_stats)
    stmt = stmt.on_conflict_do_update(
        index_elements=["thing_id", "ts"],
        set_={"cnt": stmt.excluded.cnt, "data": stmt.excluded.data},
    )
    values = [{"thing_id": i, "ts": e.ts, "cnt": e.cnt, "data": e.data} for i, e in rows.items()]
    for start in range(0, len(values), 2000):
        await conn.execute(stmt, values[start : start + 2000])


async def thing_entries_at(
    conn: AsyncConnection, ts: int, thing_ids: Sequence[str] | None = None
) -> dict[str, Entry]:
    """The per-thing entries of one bucket (all things, or only ``thing_ids``)."""
    out: dict[str, Entry] = {}
    q = select(thing_stats.c.thing_id, thing_stats.c.cnt, thing_stats.c.data).where(
        thing_stats.c.ts == ts
    )
    if thing_ids is None:
        chunks: list[Sequence[str] | None] = [None]
    else:
        chunks = [thing_ids[i : i + 500] for i in range(0, len(thing_ids), 500)]
    for chunk in chunks:
        stmt = q if chunk is None else q.where(thing_stats.c.thing_id.in_(chunk))
        for thing_id, cnt, data in await conn.execute(stmt):
            out[thing_id] = Entry(ts, cnt, 1, data)
    return out


async def upsert_stat_entries(
    engine: AsyncEngine, conn: AsyncConnection, key: str, tz: int, rows: dict[StatKey, Entry]
) -> None:
    """Write type-and-tag entries of one level, replacing any already stored."""
    if not rows:
        return
    stmt = dialect_insert(engine, stats)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key", "type", "tag", "tz", "ts"],
        set_={
            "cnt": stmt.excluded.cnt,
            "intervals": stmt.excluded.intervals,
            "data": stmt.excluded.data,
        },
    )
    values = [
        {
            "key": key,
            "type": t,
            "tag": tag,
            "tz": tz,
            "ts": e.ts,
            "cnt": e.cnt,
            "intervals": e.intervals,
            "data": e.data,
        }
        for (t, tag), e in rows.items()
    ]
    await conn.execute(stmt, values)


async def stat_entries_between(
    conn: AsyncConnection, key: str, tz: int, start: int, end: int
) -> dict[StatKey, list[Entry]]:
    """Every type-and-tag's entries of one level with ``start <= ts < end``, oldest first."""
    rows = await conn.execute(
        select(stats.c.type, stats.c.tag, stats.c.ts, stats.c.cnt, stats.c.intervals, stats.c.data)
        .where(stats.c.key == key, stats.c.tz == tz, stats.c.ts >= start, stats.c.ts < end)
        .order_by(stats.c.ts)
    )
    out: dict[StatKey, list[Entry]] = {}
    for t, tag, ts, cnt, intervals, data in rows:
        out.setdefault((t, tag), []).append(Entry(ts, cnt, intervals, data))
    return out


def entry_row(row: Any) -> Entry:
    """A (ts, cnt, intervals, data) row → an entry."""
    return Entry(int(row[0]), int(row[1]), int(row[2]), row[3])
