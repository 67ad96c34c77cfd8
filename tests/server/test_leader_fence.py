"""The leader's fence (server/leader.py): leader-only writes of a server that lost the lock
are refused, and a new leader starts only once the old leader's writes have ended.

Against the test PostgreSQL, each test on a lock key and a table of its own. The old
leader checks its connection rarely (``check_s=60``), so it still believes it leads when
the new one takes over: the case the fence is for.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hashfleet.server import leader as leader_mod
from hashfleet.server.leader import Leadership, NotLeader
from tests.support.databases import PG_ADMIN_DSN, PG_SKIP_REASON, terminate_backend
from tests.support.waiting import until

pytestmark = pytest.mark.skipif(PG_SKIP_REASON is not None, reason=PG_SKIP_REASON or "")


@pytest.fixture
async def store() -> AsyncIterator[tuple[AsyncEngine, str]]:
    """An engine on the test database and a table of this test's own."""
    engine = create_async_engine(PG_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://"))
    table = f"fence_{random.getrandbits(40):x}"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {table} (n int)"))
    try:
        yield engine, table
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        await engine.dispose()


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def kill_lock_session(contender: Leadership) -> None:
    """End the contender's lock session, as PostgreSQL sees its host vanish."""
    await terminate_backend(contender._conn.get_server_pid())


async def nothing() -> None:
    return None


def old_leader(key: int) -> Leadership:
    return Leadership(
        PG_ADMIN_DSN, on_gain=nothing, on_lose=nothing, key=key, retry_s=60, check_s=60
    )


@contextlib.asynccontextmanager
async def takeover(
    engine: AsyncEngine, table: str
) -> AsyncIterator[tuple[Leadership, Leadership, list[int]]]:
    """An old leader ``a`` and a contender ``b`` for a lock of their own; what ``b`` reads
    from ``table`` (its row count) when its leader tasks start."""
    key = random.getrandbits(40)
    seen_on_gain: list[int] = []

    async def gain() -> None:
        seen_on_gain.append(await count(engine, table))

    a = old_leader(key)
    b = Leadership(PG_ADMIN_DSN, on_gain=gain, on_lose=nothing, key=key, retry_s=0.1)
    await a.start()
    await b.start()
    try:
        yield a, b, seen_on_gain
    finally:
        await a.stop()
        await b.stop()


async def test_only_the_lock_holder_writes_through_the_fence(
    store: tuple[AsyncEngine, str],
) -> None:
    engine, table = store
    async with takeover(engine, table) as (a, b, _seen):
        assert a.is_leader and not b.is_leader
        async with engine.begin() as conn:
            await a.fence(conn)
            await conn.execute(text(f"INSERT INTO {table} VALUES (1)"))
        with pytest.raises(NotLeader) as refused:
            async with engine.begin() as conn:
                await b.fence(conn)  # a follower
                await conn.execute(text(f"INSERT INTO {table} VALUES (2)"))
        assert refused.value.code == "ERR_NOT_LEADER"

        await kill_lock_session(a)
        await until(lambda: b.is_leader)
        assert a.is_leader  # it has not checked its connection yet
        with pytest.raises(NotLeader):
            async with engine.begin() as conn:
                await a.fence(conn)
                await conn.execute(text(f"INSERT INTO {table} VALUES (3)"))
        async with engine.begin() as conn:
            await b.fence(conn)
            await conn.execute(text(f"INSERT INTO {table} VALUES (4)"))
        async with engine.connect() as conn:
            rows = await conn.execute(text(f"SELECT n FROM {table} ORDER BY n"))
            assert [r[0] for r in rows] == [1, 4]
        assert (a.fenced_out, b.fenced_out) == (1, 1)


async def test_a_new_leader_starts_after_the_old_leaders_write_commits(
    store: tuple[AsyncEngine, str],
) -> None:
    engine, table = store
    async with takeover(engine, table) as (a, b, seen_on_gain):
        async with engine.begin() as conn:
            await a.fence(conn)
            await conn.execute(text(f"INSERT INTO {table} VALUES (1)"))
            # The old leader's lock goes while its write is in flight.
            await kill_lock_session(a)
            await until(lambda: b._pid is not None)  # b holds the lock, waits at the fence
            await asyncio.sleep(0.5)
            assert seen_on_gain == [] and not b.is_leader
        # The write committed: only now does b start, and it reads what was written.
        await until(lambda: seen_on_gain != [])
        assert seen_on_gain == [1]


async def test_a_write_that_outlasts_the_wait_is_ended_and_not_committed(
    store: tuple[AsyncEngine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leader_mod, "FENCE_WAIT_S", 0.5)
    engine, table = store
    async with takeover(engine, table) as (a, _b, seen_on_gain):
        conn = await engine.connect()
        try:
            await conn.begin()
            await a.fence(conn)
            await conn.execute(text(f"INSERT INTO {table} VALUES (1)"))
            # A vanished host: its transaction stays open, its lock session is gone.
            await kill_lock_session(a)
            await until(lambda: seen_on_gain != [])
            assert seen_on_gain == [0]
            with pytest.raises(DBAPIError) as ended:
                await conn.commit()
            assert "connection is closed" in str(ended.value.orig)  # ended by the new leader
        finally:
            await conn.invalidate()
            await conn.close()
        assert await count(engine, table) == 0


async def test_alone_the_fence_checks_nothing() -> None:
    alone = Leadership(None, on_gain=nothing, on_lose=nothing)
    await alone.start()
    try:
        await alone.fence(None)  # type: ignore[arg-type]  # not even the connection is read
    finally:
        await alone.stop()
