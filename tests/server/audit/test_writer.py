"""The audit writer on SQLite and PostgreSQL: batches, flush on stop, bounds, failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.server.audit.entry import AuditEntry
from hashfleet.server.audit.writer import AuditWriter
from hashfleet.server.store.audit import AuditQuery, count_entries, list_entries
from hashfleet.server.store.engine import create_engine, migrate
from hashfleet.server.store.tables import audit_log

T0 = 1_700_000_000_000


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    await migrate(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


def entry(i: int, **kw: object) -> AuditEntry:
    fields: dict[str, object] = {
        "ts": T0 + i,
        "method": "POST",
        "path": f"/rpc/m{i}",
        "status": 200,
        "actor": "alice",
        "actor_kind": "user",
        "remote": "127.0.0.1",
        "detail": {"rpc": f"m{i}"},
    }
    fields.update(kw)
    return AuditEntry(**fields)  # type: ignore[arg-type]


async def stored(db: AsyncEngine) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(audit_log))).scalar_one())


async def test_entries_are_written_in_batches_by_the_task(db: AsyncEngine) -> None:
    writer = AuditWriter(db, flush_every_s=0.05)
    for i in range(5):
        writer.record(entry(i))
    assert writer.pending == 5 and await stored(db) == 0  # recording touches no database
    writer.start()
    try:
        for _ in range(100):
            if await stored(db) == 5:
                break
            await asyncio.sleep(0.02)
        assert await stored(db) == 5 and writer.pending == 0 and writer.written == 5
    finally:
        await writer.stop()
    rows = await list_entries(db, AuditQuery())
    assert [r.path for r in rows] == [f"/rpc/m{i}" for i in (4, 3, 2, 1, 0)]  # newest first
    assert rows[0].detail == {"rpc": "m4"} and rows[0].id is not None


async def test_stop_writes_what_is_queued(db: AsyncEngine) -> None:
    writer = AuditWriter(db, flush_every_s=3600)
    writer.start()
    for i in range(2500):  # more than one INSERT batch
        writer.record(entry(i))
    await writer.stop()
    assert await stored(db) == 2500 and writer.pending == 0


async def test_a_full_queue_drops_the_oldest_and_says_so(
    db: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    writer = AuditWriter(db, max_queue=3)
    for i in range(5):
        writer.record(entry(i))
    assert writer.dropped == 2 and writer.pending == 3
    with caplog.at_level(logging.WARNING, logger="hashfleet.server.audit.writer"):
        assert await writer.flush() == 3
    assert "2 entries dropped" in caplog.text
    assert [r.ts for r in await list_entries(db, AuditQuery())] == [T0 + 4, T0 + 3, T0 + 2]


async def test_entries_wait_while_the_store_is_down(db: AsyncEngine, tmp_path: Path) -> None:
    down = create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    writer = AuditWriter(down, max_queue=4)
    try:
        for i in range(3):
            writer.record(entry(i))
        with pytest.raises(RuntimeError, match="unavailable"):
            await writer.flush()
        assert writer.pending == 3 and writer.flush_failures == 1
        for i in range(3, 6):
            writer.record(entry(i))  # the bound still holds while the store is down
        assert writer.pending == 4 and writer.dropped == 2
    finally:
        await down.dispose()
    writer.engine = db  # the store is back
    assert await writer.flush() == 4
    assert sorted(r.ts for r in await list_entries(db, AuditQuery())) == [
        T0 + i for i in (2, 3, 4, 5)
    ]


async def test_an_entry_the_store_refuses_does_not_hold_back_the_others(
    db: AsyncEngine,
) -> None:
    writer = AuditWriter(db)
    writer.record(entry(0))
    writer.record(entry(1, detail={"bad": object()}))  # cannot be encoded as JSON
    writer.record(entry(2))
    assert await writer.flush() == 2
    assert writer.rejected == 1 and writer.pending == 0
    assert sorted(r.ts for r in await list_entries(db, AuditQuery())) == [T0, T0 + 2]
    writer.record(entry(3, detail={"bad": object()}))  # alone: the store is up, so it goes
    assert await writer.flush() == 0
    assert writer.rejected == 2 and writer.pending == 0


async def test_filters_and_paging(db: AsyncEngine) -> None:
    writer = AuditWriter(db)
    writer.record(entry(0, actor="bob", method="DELETE", path="/api/users/x", status=204))
    writer.record(entry(1, actor=None, actor_kind="anonymous", status=401, path="/rpc/a_b%"))
    writer.record(entry(2, status=403, path="/rpc/forgetThings"))
    writer.record(entry(3, actor_kind="agent", actor="rack-a", path="/api/agent/ingest"))
    await writer.flush()

    async def ts(**kw: object) -> list[int]:
        rows = await list_entries(db, AuditQuery(**kw))  # type: ignore[arg-type]
        return [r.ts - T0 for r in rows]

    assert await ts() == [3, 2, 1, 0]
    assert await ts(actor="bob") == [0]
    assert await ts(actor_kind="anonymous") == [1]
    assert await ts(since=T0 + 1, until=T0 + 2) == [2, 1]
    assert await ts(methods=("DELETE", "PUT")) == [0]
    assert await ts(path_prefix="/rpc/") == [2, 1]
    assert await ts(path_prefix="/rpc/a_b%") == [1]
    assert await ts(path_prefix="/rpc/a%") == []  # % is literal, not a wildcard
    assert await ts(status_min=400, status_max=499) == [2, 1]
    assert await count_entries(db, AuditQuery(status_min=400, status_max=499)) == 2
    page = await list_entries(db, AuditQuery(), offset=1, limit=2)
    assert [r.ts - T0 for r in page] == [2, 1]
