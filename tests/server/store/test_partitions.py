"""PostgreSQL: snapshots partitioned by day — migration, routing, dedupe, retention, upkeep."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.server.history_config import Retention as RetentionConfig
from hashfleet.server.series.retention import Retention
from hashfleet.server.store import partitions
from hashfleet.server.store.engine import alembic_config, create_engine, migrate
from hashfleet.server.store.partitions import (
    AHEAD_DAYS,
    DAY_MS,
    DEFAULT_PARTITION,
    day_of,
    ensure_partitions,
    list_partitions,
    partition_day,
    partition_name,
)
from hashfleet.server.store.snapshots import (
    count_snapshots,
    spool_lock_key,
    store_snapshots,
    thing_history,
    turn_keys,
)
from tests.support.databases import PG_SKIP_REASON, postgres_database

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        PG_SKIP_REASON is not None, reason=f"needs PostgreSQL (partitions): {PG_SKIP_REASON}"
    ),
]

NOW = now_ms()
TODAY = day_of(NOW)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(pg_url)
    try:
        await migrate(eng)
        yield eng
    finally:
        await eng.dispose()


def rows(spool: str, seqs: range, ts: int, thing_id: str = "m1") -> list[dict[str, Any]]:
    return [
        {
            "spool_id": spool,
            "seq": s,
            "thing_id": thing_id,
            "rack_id": "r1",
            "ts": ts + s,
            "err": None if s % 2 else "timeout",
            "snap": {"stats": {"status": "online", "hashrate": 1e14 + s, "unicode": "µ°C"}},
        }
        for s in seqs
    ]


async def where_rows_are(engine: AsyncEngine) -> dict[str, int]:
    """Rows per partition."""
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT tableoid::regclass::text, count(*) FROM snapshots GROUP BY 1")
        )
        return {str(name): int(n) for name, n in result}


def test_names_and_days() -> None:
    day = day_of(1_796_083_200_000)  # 2026-12-01T00:00Z
    assert partition_name(day) == "snapshots_p20261201"
    assert partition_day("snapshots_p20261201") == day
    assert partition_day(DEFAULT_PARTITION) is None


async def test_migration_keeps_existing_rows_in_their_days(pg_url: str) -> None:
    eng = create_engine(pg_url)
    try:

        def up_to(conn: Connection, rev: str) -> None:
            cfg = alembic_config(str(eng.url))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, rev)

        async with eng.begin() as conn:
            await conn.run_sync(up_to, "0003")
        # Old rows: two days ago, today, and one from 1970 (a broken clock).
        old = rows("a", range(1, 4), (TODAY - 2) * DAY_MS) + rows("a", range(4, 6), NOW)
        old += rows("b", range(1, 2), 1000)
        await store_snapshots(eng, old)
        async with eng.connect() as conn:
            before = (
                await conn.execute(
                    text("SELECT id, spool_id, seq, ts, err, snap::text FROM snapshots ORDER BY id")
                )
            ).all()
        await migrate(eng)
        assert await partitions.is_partitioned(eng)
        async with eng.connect() as conn:
            after = (
                await conn.execute(
                    text("SELECT id, spool_id, seq, ts, err, snap::text FROM snapshots ORDER BY id")
                )
            ).all()
        assert after == before  # same ids, keys and JSON
        async with eng.connect() as conn:
            options = await conn.scalar(
                text("SELECT reloptions FROM pg_class WHERE relname = 'thing_state'")
            )
        assert options == ["fillfactor=50"]  # room for HOT updates of state rows
        assert await where_rows_are(eng) == {
            partition_name(TODAY - 2): 3,
            partition_name(TODAY): 2,
            DEFAULT_PARTITION: 1,
        }
        names = [p.name for p in await list_partitions(eng)]
        assert names[-1] == DEFAULT_PARTITION
        assert names[:-1] == [partition_name(TODAY - 2)] + [
            partition_name(d) for d in range(TODAY, TODAY + AHEAD_DAYS + 1)
        ]
        # ids go on rising from the same sequence; the old rows still dedupe.
        assert await store_snapshots(eng, old[:3]) == []
        await store_snapshots(eng, rows("a", range(6, 7), NOW))
        async with eng.connect() as conn:
            assert await conn.scalar(text("SELECT max(id) FROM snapshots")) == before[-1][0] + 1
    finally:
        await eng.dispose()


async def test_rows_go_to_their_day_and_far_off_ones_to_the_default(engine: AsyncEngine) -> None:
    batch = (
        rows("s", range(1, 11), TODAY * DAY_MS)
        + rows("s", range(11, 16), (TODAY + 1) * DAY_MS)
        + rows("s", range(16, 18), NOW + 400 * DAY_MS)  # an agent clock a year ahead
    )
    assert len(await store_snapshots(engine, batch)) == 17
    assert await where_rows_are(engine) == {
        partition_name(TODAY): 10,
        partition_name(TODAY + 1): 5,
        DEFAULT_PARTITION: 2,
    }
    # What COPY stored reads back as it went in.
    hist = await thing_history(engine, "m1", TODAY * DAY_MS, (TODAY + 2) * DAY_MS, 100)
    assert [(h["ts"], h["err"], h["snap"]) for h in hist] == [
        (r["ts"], r["err"], r["snap"]) for r in batch[:15]
    ]


async def test_copy_stores_the_same_json_as_insert(engine: AsyncEngine) -> None:
    from hashfleet.server.store import snapshots as store

    one = rows("c", range(1, 2), NOW)
    two = rows("i", range(1, 2), NOW)
    await store_snapshots(engine, one)  # COPY
    event = (*(two[0][k] for k in store._EVENT_COLUMNS[:-1]), store._json_text(two[0]["snap"]))
    present = await store._store_insert(engine, two, [event], [event[2:]])
    assert present == set()
    async with engine.connect() as conn:
        texts = (
            await conn.execute(text("SELECT snap::text FROM snapshots ORDER BY spool_id"))
        ).all()
    assert texts[0] == texts[1]


async def test_a_resent_batch_is_stored_once(engine: AsyncEngine) -> None:
    batch = rows("s", range(1, 201), NOW)
    assert len(await store_snapshots(engine, batch)) == 200
    assert await store_snapshots(engine, batch) == []
    overlap = rows("s", range(151, 251), NOW)
    assert [r["seq"] for r in await store_snapshots(engine, overlap)] == list(range(201, 251))
    assert await count_snapshots(engine) == 250


async def test_a_concurrent_resend_is_stored_once_and_counted_once(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hashfleet.server.store.snapshots")
    for round_ in range(5):
        batch = rows(f"s{round_}", range(1, 501), NOW)
        results = await asyncio.gather(*(store_snapshots(engine, batch) for _ in range(3)))
        # Whichever writer got there first stored each row; together, every row once.
        assert sum(len(r) for r in results) == 500
        assert sorted(r["seq"] for res in results for r in res) == list(range(1, 501))
    assert await count_snapshots(engine) == 2500
    # The writers that lost the race met the unique key in COPY and fell back to INSERT.
    assert "inserting with ON CONFLICT" in caplog.text


async def test_a_restamped_resend_written_concurrently_is_stored_once(
    engine: AsyncEngine,
) -> None:
    # An agent clock over 5 minutes ahead: each copy of a resend is stamped with the
    # server's clock at its receipt, so the copies differ in ts and the unique key
    # (spool_id, seq, ts) does not see them as one row. Their writers take turns instead.
    ahead = now_ms() + 5 * 60_000
    for round_ in range(5):
        copies = [rows(f"r{round_}", range(1, 301), ahead + 1000 * i) for i in range(3)]
        results = await asyncio.gather(*(store_snapshots(engine, c) for c in copies))
        assert sum(len(r) for r in results) == 300
        assert sorted(r["seq"] for res in results for r in res) == list(range(1, 301))
    assert await count_snapshots(engine) == 1500


def test_only_spools_with_rows_far_ahead_take_turns() -> None:
    now = now_ms()
    batch = rows("sane", range(1, 4), now) + rows("ahead", range(1, 4), now + 5 * 60_000)
    assert turn_keys(batch, now) == [spool_lock_key("ahead")]
    assert turn_keys(rows("skewed", range(1, 4), now + 30_000), now) == []
    both = rows("a", range(1, 2), now + 10**6) + rows("b", range(1, 2), now + 10**6)
    assert turn_keys(both, now) == sorted([spool_lock_key("a"), spool_lock_key("b")])


async def test_ensure_ahead_is_idempotent_and_safe_concurrently(engine: AsyncEngine) -> None:
    assert await ensure_partitions(engine) == []  # the migration made them
    later = NOW + 30 * DAY_MS
    created = await asyncio.gather(*(ensure_partitions(engine, later) for _ in range(3)))
    # Each day made exactly once, by whichever server got the lock first.
    made = sorted(n for c in created for n in c)
    expected = [partition_name(d) for d in range(TODAY + 30, TODAY + 31 + AHEAD_DAYS)]
    assert made == expected
    assert await ensure_partitions(engine, later) == []
    names = {p.name for p in await list_partitions(engine)}
    assert set(expected) <= names


async def test_ensure_moves_rows_out_of_the_default_partition(engine: AsyncEngine) -> None:
    # A server down for longer than the days made ahead: its rows land in the default.
    gap = TODAY + 20
    await store_snapshots(engine, rows("s", range(1, 6), gap * DAY_MS))
    assert await where_rows_are(engine) == {DEFAULT_PARTITION: 5}
    created = await ensure_partitions(engine, gap * DAY_MS, ahead_days=0)
    assert created == [partition_name(gap)]
    assert await where_rows_are(engine) == {partition_name(gap): 5}
    assert await store_snapshots(engine, rows("s", range(1, 6), gap * DAY_MS)) == []


async def test_retention_drops_whole_old_partitions(engine: AsyncEngine) -> None:
    start = TODAY - 20
    for i, day in enumerate(range(start, TODAY + 1)):
        # Noon and 23:00 of every day from 20 days ago to today.
        await store_snapshots(
            engine,
            rows(f"d{i}", range(1, 3), day * DAY_MS + 12 * 3_600_000 - 1)
            + rows(f"e{i}", range(1, 2), day * DAY_MS + 23 * 3_600_000),
        )
    await store_snapshots(engine, rows("z", range(1, 4), 1000))  # 1970: default partition
    # Older days went to the default partition; the retention run's upkeep moves those it
    # keeps into their days and drops the rest whole.
    now = TODAY * DAY_MS + 18 * 3_600_000
    retention = Retention(engine, RetentionConfig(snapshots_days=14))
    cutoff = now - 14 * DAY_MS  # 18:00 fourteen days ago
    done = await retention.prune(now)
    kept_days = range(day_of(cutoff), TODAY + 1)
    assert "snapshot-partitions" not in done  # none was entirely older than the cutoff
    # The days before the cutoff's day were never made partitions (only the days kept
    # were); their rows, and the 1970 ones, were deleted from the default partition, and
    # the noon rows of the cutoff's day from its partition.
    assert done["snapshots"] == 3 * (day_of(cutoff) - start) + 3 + 2
    left = await where_rows_are(engine)
    assert left == {
        partition_name(day_of(cutoff)): 1,
        **{partition_name(d): 3 for d in kept_days[1:]},
    }
    # A later run, a week on: seven daily partitions are dropped whole.
    week = now + 7 * DAY_MS
    before = await count_snapshots(engine)
    done = await retention.prune(week)
    assert done["snapshot-partitions"] == 7
    assert done["snapshots"] == 1 + 3 * 6 + 2  # 7 dropped partitions, 2 noon rows deleted
    assert await count_snapshots(engine) == before - done["snapshots"]
    names = [p.name for p in await list_partitions(engine)]
    assert partition_name(day_of(week - 14 * DAY_MS) - 1) not in names
    assert partition_name(day_of(week - 14 * DAY_MS)) in names
    assert partition_name(day_of(week) + AHEAD_DAYS) in names  # made ahead too
    again = await retention.prune(week)
    assert again["snapshots"] == 0 and "snapshot-partitions" not in again


async def test_reads_bounded_in_time_touch_one_partition(engine: AsyncEngine) -> None:
    await store_snapshots(engine, rows("s", range(1, 50), NOW))
    lo, hi = TODAY * DAY_MS + 1, TODAY * DAY_MS + 1000
    async with engine.connect() as conn:
        plan = "\n".join(
            r[0]
            for r in await conn.execute(
                text(
                    "EXPLAIN SELECT ts, err, snap FROM snapshots WHERE thing_id = 'm1' "
                    f"AND ts >= {lo} AND ts <= {hi} ORDER BY ts DESC LIMIT 10"
                )
            )
        )
    assert partition_name(TODAY) in plan
    assert partition_name(TODAY + 1) not in plan and DEFAULT_PARTITION not in plan


async def test_events_and_state_commit_together(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hashfleet.server.store import snapshots as store

    monkeypatch.setattr(store, "_STATE_FROM_EVENTS_SQL", "SELECT no_such_column FROM snapshots")
    with pytest.raises(Exception, match="no_such_column"):
        await store_snapshots(engine, rows("s", range(1, 11), NOW))
    assert await count_snapshots(engine) == 0  # the COPY was rolled back with it
