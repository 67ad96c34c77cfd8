"""Snapshot events and per-thing state: the batched, idempotent write path of ingest."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.server.store.tables import snapshots
from hashfleet.wire.codec import json_dumps_str

log = logging.getLogger(__name__)


def dialect_insert(engine: AsyncEngine, table: Any) -> Any:
    """An INSERT that knows ON CONFLICT, for SQLite or PostgreSQL."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


# The hot path goes straight to the driver's executemany: SQLAlchemy's per-row parameter
# processing cost more than the database itself (bench/ingest.py). Only the placeholder
# style differs between SQLite (?) and asyncpg ($n).
_EVENT_SQL = (
    "INSERT INTO snapshots (spool_id, seq, thing_id, rack_id, ts, err, snap) "
    "VALUES ({p}) ON CONFLICT (spool_id, seq) DO NOTHING"
)
# PostgreSQL (partitioned by day since migration 0004): the unique key is
# (spool_id, seq, ts), so no conflict target — any unique conflict skips the row.
_EVENT_SQL_PG = (
    "INSERT INTO snapshots (spool_id, seq, thing_id, rack_id, ts, err, snap) "
    "VALUES ({p}) ON CONFLICT DO NOTHING"
)
_EVENT_COLUMNS = ("spool_id", "seq", "thing_id", "rack_id", "ts", "err", "snap")
# PostgreSQL, after the COPY: state takes each thing's newest event from the rows just
# stored (looked up by their unique key), so the snapshot's JSON is parsed into jsonb once,
# not twice — that parse is most of what a row costs the database. In thing_id order, as
# the INSERT path's state rows: concurrent writers (ingest workers) then lock state rows
# in one order and wait for each other instead of deadlocking.
_STATE_FROM_EVENTS_SQL = (
    "INSERT INTO thing_state (thing_id, rack_id, ts, err, snap) "
    "SELECT s.thing_id, s.rack_id, s.ts, s.err, s.snap "
    "FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS k(spool_id, seq, ts) "
    "JOIN snapshots s ON s.spool_id = k.spool_id AND s.seq = k.seq AND s.ts = k.ts "
    "ORDER BY s.thing_id "
    "ON CONFLICT (thing_id) DO UPDATE SET rack_id = excluded.rack_id, ts = excluded.ts, "
    "err = excluded.err, snap = excluded.snap WHERE excluded.ts >= thing_state.ts"
)
_STATE_SQL = (
    "INSERT INTO thing_state (thing_id, rack_id, ts, err, snap) VALUES ({p}) "
    "ON CONFLICT (thing_id) DO UPDATE SET rack_id = excluded.rack_id, ts = excluded.ts, "
    "err = excluded.err, snap = excluded.snap WHERE excluded.ts >= thing_state.ts"
)


# PostgreSQL: the unique key is (spool_id, seq, ts), and ingest restamps an item more than
# 5 minutes ahead of the server's clock with the clock at receipt (``ingest/receive.py``),
# so two copies of one resent item can differ in ts. Such rows are still ahead of the clock
# when written (by more than this, if written within 4 minutes of the first receipt): the
# writers of their spools take turns — pg_advisory_xact_lock(class, spool key), in key
# order (no deadlock between writers of several spools), before the pre-check and held to
# the commit — so the later copy's pre-check sees the earlier one. Rows of agents with
# sane clocks take no lock: one agent's batches reach concurrent writers (NATS workers)
# all the time, and those writers must not wait on each other.
TURNS_AHEAD_MS = 60_000
SPOOL_LOCK_CLASS = 0x68660001  # "hf\0\1"; partition upkeep holds class "hf\0\0"
_TAKE_TURNS_SQL = text(
    "SELECT count(pg_advisory_xact_lock(:c, k)) FROM unnest(CAST(:keys AS integer[])) AS k"
)


def spool_lock_key(spool_id: str) -> int:
    """The spool's advisory lock key (a signed 32-bit hash; a collision only makes two
    spools take turns)."""
    digest = hashlib.blake2b(spool_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def turn_keys(rows: list[dict[str, Any]], now: int) -> list[int]:
    """Lock keys, in order, of the spools with rows more than ``TURNS_AHEAD_MS`` ahead."""
    limit = now + TURNS_AHEAD_MS
    return sorted({spool_lock_key(r["spool_id"]) for r in rows if r["ts"] > limit})


async def _take_turns(conn: Any, rows: list[dict[str, Any]]) -> None:
    keys = turn_keys(rows, now_ms())
    if keys:
        await conn.execute(_TAKE_TURNS_SQL, {"c": SPOOL_LOCK_CLASS, "keys": keys})


def _placeholders(engine: AsyncEngine, n: int) -> str:
    if engine.dialect.name == "postgresql":
        # asyncpg takes JSON as text; the last column is the snapshot.
        return ", ".join(f"${i}" for i in range(1, n)) + f", ${n}::jsonb"
    return ", ".join("?" * n)


def _json_text(snap: Any) -> str | None:
    if snap is None:
        return None
    return json_dumps_str(snap)


async def write_snapshots(engine: AsyncEngine, rows: list[dict[str, Any]]) -> int:
    """Store snapshot events and advance per-thing state; returns how many were new.

    See :func:`store_snapshots`.
    """
    return len(await store_snapshots(engine, rows))


async def store_snapshots(engine: AsyncEngine, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store snapshot events and advance per-thing state, in one transaction.

    ``rows`` carry spool_id, seq, thing_id, rack_id, ts, err, snap (a dict, or raw JSON
    as ``msgspec.Raw``); other keys are ignored. An event already stored (same spool_id
    and seq) is skipped, so a resent batch stores nothing twice. State only moves forward
    in time. Returns the rows that were new, so rollups count each snapshot once.
    """
    if not rows:
        return []
    # Only the newest row of each thing in this batch goes to state: one upsert per thing.
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        cur = latest.get(row["thing_id"])
        if cur is None or row["ts"] >= cur["ts"]:
            latest[row["thing_id"]] = row
    events = [
        (
            r["spool_id"],
            r["seq"],
            r["thing_id"],
            r["rack_id"],
            r["ts"],
            r["err"],
            _json_text(r["snap"]),
        )
        for r in rows
    ]
    states = [e[2:] for r, e in zip(rows, events, strict=True) if latest[r["thing_id"]] is r]
    states.sort(key=lambda state: str(state[0]))
    if engine.dialect.name == "postgresql":
        from asyncpg.exceptions import UniqueViolationError

        try:
            present = await _store_copy(engine, rows, events, list(latest.values()))
        except UniqueViolationError:
            # A concurrent writer stored some of these rows between our check and our COPY
            # (COPY has no ON CONFLICT): check again and insert what is still missing.
            log.info("snapshot COPY met rows stored meanwhile; inserting with ON CONFLICT")
            present = await _store_insert(engine, rows, events, states)
    else:
        present = await _store_insert(engine, rows, events, states)
    if not present:
        return rows
    return [r for r in rows if (r["spool_id"], r["seq"]) not in present]


async def _store_insert(
    engine: AsyncEngine, rows: list[dict[str, Any]], events: list[Any], states: list[Any]
) -> set[tuple[str, int]]:
    """Check, INSERT … ON CONFLICT DO NOTHING, upsert state; returns the keys already there."""
    sql = _EVENT_SQL_PG if engine.dialect.name == "postgresql" else _EVENT_SQL
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await _take_turns(conn, rows)
        present = await _existing_keys(conn, rows)
        await conn.exec_driver_sql(sql.format(p=_placeholders(engine, 7)), events)
        await conn.exec_driver_sql(_STATE_SQL.format(p=_placeholders(engine, 5)), states)
    return present


async def _store_copy(
    engine: AsyncEngine,
    rows: list[dict[str, Any]],
    events: list[Any],
    latest: list[dict[str, Any]],
) -> set[tuple[str, int]]:
    """PostgreSQL: take turns where rows are far ahead (``_take_turns``), check, COPY the
    rows not stored yet, upsert state, in one transaction.

    COPY (binary, asyncpg) streams the rows without per-row statements; the ``jsonb``
    codec SQLAlchemy installs on each asyncpg connection encodes the snapshot's JSON text.
    State is then taken from the stored rows (``_STATE_FROM_EVENTS_SQL``). Raises
    ``UniqueViolationError`` (nothing committed) if a row got stored meanwhile.
    """
    async with engine.begin() as conn:
        # Through SQLAlchemy first: that opens the transaction the driver calls then join.
        await _take_turns(conn, rows)
        present = await _existing_keys(conn, rows)
        fresh = events if not present else [e for e in events if (e[0], e[1]) not in present]
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        if fresh:
            await driver.copy_records_to_table("snapshots", records=fresh, columns=_EVENT_COLUMNS)
        await driver.execute(
            _STATE_FROM_EVENTS_SQL,
            [r["spool_id"] for r in latest],
            [r["seq"] for r in latest],
            [r["ts"] for r in latest],
        )
    return present


async def _existing_keys(conn: Any, rows: list[dict[str, Any]]) -> set[tuple[str, int]]:
    # Resends are rare and come whole: checking the batch's seq range is one indexed query.
    spool_ids = {r["spool_id"] for r in rows}
    present: set[tuple[str, int]] = set()
    for spool_id in spool_ids:
        seqs = [r["seq"] for r in rows if r["spool_id"] == spool_id]
        result = await conn.execute(
            select(snapshots.c.seq).where(
                snapshots.c.spool_id == spool_id,
                snapshots.c.seq >= min(seqs),
                snapshots.c.seq <= max(seqs),
            )
        )
        present.update((spool_id, int(r[0])) for r in result)
    return present


async def thing_history(
    engine: AsyncEngine, thing_id: str, start: int, end: int, limit: int
) -> list[dict[str, Any]]:
    """Snapshot events of one thing between ``start`` and ``end`` (ms), oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(snapshots.c.ts, snapshots.c.err, snapshots.c.snap)
            .where(snapshots.c.thing_id == thing_id, snapshots.c.ts >= start, snapshots.c.ts <= end)
            .order_by(snapshots.c.ts.desc())
            .limit(limit)
        )
        out = [dict(r._mapping) for r in rows]
    out.reverse()
    return out


async def count_snapshots(engine: AsyncEngine) -> int:
    """How many snapshot events are stored (for tests and benchmarks)."""
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(snapshots))).scalar_one())
