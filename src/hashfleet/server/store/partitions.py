"""Daily range partitions of ``snapshots`` on PostgreSQL (see docs/storage.md).

``snapshots`` is ``PARTITIONED BY RANGE (ts)`` (epoch ms) with one partition per UTC day,
``snapshots_pYYYYMMDD`` holding ``[day start, next day start)``, and a DEFAULT partition
``snapshots_default`` so that no row ever fails for lack of a partition (an agent clock
far off, a server down for longer than the partitions made ahead).

Maintenance, all idempotent and safe to run from several servers at once (every change
runs in its own short transaction under one advisory lock, with a lock timeout so that
it never queues ingest behind it for long):

- :func:`ensure_partitions` makes today's partition and the next ``ahead_days`` ones, and
  a partition for every kept day that has rows in the default partition — moving those
  rows into it — so the default partition only ever holds rows far in the future or past
  the retention cutoff, which retention deletes. A partition is created as a plain table
  and then ATTACHed: ATTACH takes only SHARE UPDATE EXCLUSIVE on the parent (ingest and
  readers go on), where ``CREATE TABLE … PARTITION OF`` would take ACCESS EXCLUSIVE.
- :func:`drop_partitions_before` drops the partitions entirely older than a cutoff: a
  retention run costs a catalog change instead of deleting rows one by one.

On SQLite (and on a PostgreSQL store not yet migrated to 0004) every function here is a
no-op: :func:`is_partitioned` is false.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hashfleet.core.clock import now_ms

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
PARENT = "snapshots"
DEFAULT_PARTITION = "snapshots_default"
PREFIX = "snapshots_p"
AHEAD_DAYS = 7
# One key for every partition change, across servers: pg_advisory_xact_lock(classid, objid).
LOCK_CLASS = 0x68660000  # "hf\0\0"
LOCK_MAINTENANCE = 1
# A maintenance step waits at most this long for its locks, then gives up until the next
# run, rather than make ingest queue behind its pending lock.
LOCK_TIMEOUT = "5s"
# Counting a dropped partition exactly costs a scan of it; above this many rows (by the
# planner's estimate) the estimate is what is reported.
EXACT_COUNT_BELOW = 1_000_000

_NAME = re.compile(r"^snapshots_p(\d{8})$")
_BOUND = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True)
class Partition:
    """One partition of ``snapshots``: ``[lo, hi)`` in ms, or both None for the default."""

    name: str
    lo: int | None
    hi: int | None

    @property
    def is_default(self) -> bool:
        """Whether this is the DEFAULT partition."""
        return self.lo is None


def day_of(ts: int) -> int:
    """The UTC day (days since the epoch) ``ts`` (ms) falls in."""
    return ts // DAY_MS


def partition_name(day: int) -> str:
    """``snapshots_pYYYYMMDD`` for a day since the epoch."""
    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    return f"{PREFIX}{date:%Y%m%d}"


def partition_day(name: str) -> int | None:
    """The day a ``snapshots_pYYYYMMDD`` name stands for, None for other names."""
    m = _NAME.match(name)
    if m is None:
        return None
    date = dt.datetime.strptime(m.group(1), "%Y%m%d").date()
    return (date - dt.date(1970, 1, 1)).days


def create_parent_sql() -> list[str]:
    """DDL of the partitioned ``snapshots`` table, its indexes and its DEFAULT partition.

    ``id`` keeps drawing from ``snapshots_id_seq`` (which must exist). A unique key of a
    partitioned table must contain the partition key, so the idempotency key is
    ``(spool_id, seq, ts)``; ``store_snapshots`` dedupes by ``(spool_id, seq)`` itself.
    """
    return [
        f"CREATE TABLE {PARENT} ("
        " id BIGINT NOT NULL DEFAULT nextval('snapshots_id_seq'),"
        " spool_id VARCHAR(64) NOT NULL,"
        " seq BIGINT NOT NULL,"
        " thing_id VARCHAR(128) NOT NULL,"
        " rack_id VARCHAR(128) NOT NULL,"
        " ts BIGINT NOT NULL,"
        " err VARCHAR(64),"
        " snap JSONB,"
        " CONSTRAINT uq_snapshots_spool_seq_ts UNIQUE (spool_id, seq, ts)"
        ") PARTITION BY RANGE (ts)",
        f"CREATE INDEX ix_snapshots_thing_ts ON {PARENT} (thing_id, ts)",
        f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {PARENT} DEFAULT",
    ]


def create_partition_sql(day: int) -> str:
    """``CREATE TABLE IF NOT EXISTS … PARTITION OF`` for one day (used by the migration,
    where nothing else runs; maintenance attaches instead, see the module docstring)."""
    lo = day * DAY_MS
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {PARENT} "
        f"FOR VALUES FROM ({lo}) TO ({lo + DAY_MS})"
    )


async def is_partitioned(engine: AsyncEngine) -> bool:
    """Whether ``snapshots`` is a partitioned PostgreSQL table (migration 0004 ran)."""
    if engine.dialect.name != "postgresql":
        return False
    async with engine.connect() as conn:
        kind = await conn.scalar(
            text("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(:t)"), {"t": PARENT}
        )
    return bool(kind == "p")


async def list_partitions(engine: AsyncEngine) -> list[Partition]:
    """The partitions of ``snapshots`` with their bounds, oldest first, default last."""
    if not await is_partitioned(engine):
        return []
    async with engine.connect() as conn:
        return await _list(conn)


async def _list(conn: AsyncConnection) -> list[Partition]:
    result = await conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": PARENT},
    )
    out: list[Partition] = []
    for name, bound in result:
        m = _BOUND.search(bound or "")
        if m is None:  # DEFAULT
            out.append(Partition(str(name), None, None))
        else:
            out.append(Partition(str(name), int(m.group(1)), int(m.group(2))))
    out.sort(key=lambda p: (p.lo is None, p.lo or 0))
    return out


async def _lock(conn: AsyncConnection) -> None:
    await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(:c, :o)"), {"c": LOCK_CLASS, "o": LOCK_MAINTENANCE}
    )


async def ensure_partitions(
    engine: AsyncEngine,
    now: int | None = None,
    ahead_days: int = AHEAD_DAYS,
    keep_from: int | None = None,
) -> list[str]:
    """Make the partitions of today and the next ``ahead_days`` days, and of every day from
    ``keep_from`` (ms; None: any) to the last of those that has rows in the default
    partition, moving those rows in. Returns the names created. Idempotent."""
    if not await is_partitioned(engine):
        return []
    now = now_ms() if now is None else now
    first, last = day_of(now), day_of(now) + ahead_days
    async with engine.connect() as conn:
        have = {p.name for p in await _list(conn)}
        lo = -(2**63) if keep_from is None else keep_from
        strays = await conn.execute(
            text(
                f"SELECT DISTINCT ts / {DAY_MS} FROM {DEFAULT_PARTITION} "
                "WHERE ts >= :lo AND ts < :hi"
            ),
            {"lo": lo, "hi": (last + 1) * DAY_MS},
        )
        days = set(range(first, last + 1)) | {int(r[0]) for r in strays}
    created = []
    for day in sorted(days):
        if partition_name(day) not in have and await _ensure_day(engine, day):
            created.append(partition_name(day))
    if created:
        log.info("snapshots: created partitions %s", ", ".join(created))
    return created


async def _ensure_day(engine: AsyncEngine, day: int) -> bool:
    """Create and attach the partition of ``day``, moving its rows out of the default
    partition. False when it already existed (another server made it)."""
    name, lo, hi = partition_name(day), day * DAY_MS, (day + 1) * DAY_MS
    async with engine.begin() as conn:
        await _lock(conn)
        if await conn.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is not None:
            return False
        # Lock order as ingest's: the parent, then the partition.
        await conn.execute(text(f"LOCK TABLE {PARENT} IN SHARE UPDATE EXCLUSIVE MODE"))
        await conn.execute(text(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE"))
        await conn.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)"))
        bounds = {"lo": lo, "hi": hi}
        moved = await conn.execute(
            text(
                f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE ts >= :lo AND ts < :hi "
                f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
            ),
            bounds,
        )
        # The CHECK lets ATTACH skip scanning the new table to prove its rows fit.
        await conn.execute(
            text(f"ALTER TABLE {name} ADD CONSTRAINT {name}_bound CHECK (ts >= {lo} AND ts < {hi})")
        )
        await conn.execute(
            text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})")
        )
        await conn.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bound"))
        if moved.rowcount:
            log.info(
                "snapshots: moved %d rows from the default partition to %s", moved.rowcount, name
            )
    return True


async def drop_partitions_before(engine: AsyncEngine, cutoff: int) -> tuple[list[str], int]:
    """Drop the daily partitions whose every row is older than ``cutoff`` (ms).

    Returns the names dropped and how many rows they held (counted exactly for small
    partitions, the planner's estimate for big ones: counting would read them whole).
    """
    if not await is_partitioned(engine):
        return [], 0
    async with engine.connect() as conn:
        old = [p for p in await _list(conn) if p.hi is not None and p.hi <= cutoff]
    dropped: list[str] = []
    rows = 0
    for part in old:
        n = await _drop(engine, part.name)
        if n is not None:
            dropped.append(part.name)
            rows += n
    if dropped:
        log.info("snapshots: dropped partitions %s (%d rows)", ", ".join(dropped), rows)
    return dropped, rows


async def _drop(engine: AsyncEngine, name: str) -> int | None:
    # Counted before the lock below: ingest and every snapshot read wait while it is held,
    # and an old day's partition takes no new rows meanwhile (the count is for the log).
    async with engine.connect() as conn:
        if await conn.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is None:
            return None
        n = await _row_count(conn, name)
    async with engine.begin() as conn:
        await _lock(conn)
        if await conn.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is None:
            return None
        # The parent first, as ingest locks it: dropping a partition needs it exclusively.
        await conn.execute(text(f"LOCK TABLE {PARENT} IN ACCESS EXCLUSIVE MODE"))
        await conn.execute(text(f"DROP TABLE {name}"))
    return n


async def _row_count(conn: AsyncConnection, name: str) -> int:
    estimate: Any = await conn.scalar(
        text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:n)"), {"n": name}
    )
    if estimate is not None and float(estimate) >= EXACT_COUNT_BELOW:
        return int(estimate)
    return int(await conn.scalar(text(f"SELECT count(*) FROM {name}")) or 0)
