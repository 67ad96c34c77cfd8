"""Leadership by a PostgreSQL session advisory lock (server/leader.py).

Against the test PostgreSQL (each test on a lock key of its own): one of two contenders
leads; the other takes over within ``retry_s`` once the leader's session ends (closed,
or killed by ``pg_terminate_backend`` as when its process dies); a leader whose
connection fails gives leadership up; without a DSN the server simply leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hashfleet.server.leader import Leadership, lock_dsn
from tests.support.databases import PG_ADMIN_DSN, PG_SKIP_REASON, terminate_backend
from tests.support.waiting import until

needs_pg = pytest.mark.skipif(PG_SKIP_REASON is not None, reason=PG_SKIP_REASON or "")


class Log:
    """Records gains and losses of one contender."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def gain(self) -> None:
        self.events.append("gain")

    async def lose(self) -> None:
        self.events.append("lose")


def contender(log: Log, key: int, **kw: Any) -> Leadership:
    return Leadership(
        PG_ADMIN_DSN,
        on_gain=log.gain,
        on_lose=log.lose,
        key=key,
        retry_s=kw.pop("retry_s", 0.2),
        check_s=kw.pop("check_s", 0.2),
        **kw,
    )


@contextlib.asynccontextmanager
async def two(
    key: int, a_retry_s: float = 0.2, b_retry_s: float = 0.2
) -> AsyncIterator[tuple[Leadership, Log, Leadership, Log]]:
    """Contenders a and b for lock ``key``, started in that order (a leads); both stopped
    at the end (stopping twice is harmless)."""
    la, lb = Log(), Log()
    a, b = contender(la, key, retry_s=a_retry_s), contender(lb, key, retry_s=b_retry_s)
    await a.start()
    await b.start()
    try:
        yield a, la, b, lb
    finally:
        await a.stop()
        await b.stop()


def test_lock_dsn() -> None:
    assert lock_dsn("sqlite:///x.db") is None
    assert lock_dsn("sqlite+aiosqlite:///x.db") is None
    assert lock_dsn("postgresql+asyncpg://u:p@h:5433/db") == "postgresql://u:p@h:5433/db"
    assert lock_dsn("postgresql://u@h/db?sslmode=require") == "postgresql://u@h/db?sslmode=require"
    # The engine's own parameters are not PostgreSQL settings; asyncpg's ssl= is sslmode.
    assert (
        lock_dsn("postgresql+asyncpg://u@h/db?prepared_statement_cache_size=0&ssl=require")
        == "postgresql://u@h/db?sslmode=require"
    )


async def test_without_a_database_lock_the_server_leads() -> None:
    log = Log()
    alone = Leadership(None, on_gain=log.gain, on_lose=log.lose)
    assert not alone.elected
    await alone.start()
    assert alone.is_leader and log.events == ["gain"]
    await alone.stop()
    assert not alone.is_leader and log.events == ["gain"]  # stop does not call on_lose


@needs_pg
async def test_one_leads_the_other_takes_over_when_it_dies() -> None:
    # a retries slowly once it lost: b, trying every 0.2 s, must be the one to take over.
    async with two(random.getrandbits(40), a_retry_s=1.5) as (a, la, b, lb):
        assert a.is_leader and not b.is_leader
        await asyncio.sleep(0.6)  # b keeps trying, in vain
        assert not b.is_leader and lb.events == []
        # The leader's process dies: its session ends (as PostgreSQL sees a kill -9).
        await terminate_backend(a._conn.get_server_pid())
        took = await until(lambda: b.is_leader)
        assert took < 2.0
        assert lb.events == ["gain"]
        # a notices its connection is gone and stops its leader-only work.
        await until(lambda: not a.is_leader)
        assert la.events == ["gain", "lose"]
        await asyncio.sleep(0.6)
        assert not a.is_leader  # b holds the lock now


@needs_pg
async def test_stop_releases_the_lock_at_once() -> None:
    async with two(random.getrandbits(40), b_retry_s=0.1) as (a, la, b, lb):
        await a.stop()
        took = await until(lambda: b.is_leader)
        assert took < 1.0 and la.events == ["gain"] and lb.events == ["gain"]


@needs_pg
async def test_a_follower_that_is_stopping_never_takes_over() -> None:
    # A rolling stop: B (follower) has begun stopping its tasks when A releases the lock;
    # B must not lead and restart what it just stopped.
    async with two(random.getrandbits(40), b_retry_s=0.1) as (a, _la, b, lb):
        await b.stop_trying()
        await a.stop()
        await asyncio.sleep(0.5)
        assert not b.is_leader and lb.events == []
        assert not await b.step() and lb.events == []  # not even when asked directly


@needs_pg
async def test_a_failing_on_gain_gives_leadership_up() -> None:
    key = random.getrandbits(40)
    calls: list[str] = []

    async def bad_gain() -> None:
        calls.append("gain")
        raise RuntimeError("boom")

    async def lose() -> None:
        calls.append("lose")

    bad = Leadership(PG_ADMIN_DSN, on_gain=bad_gain, on_lose=lose, key=key, retry_s=5)
    other_log = Log()
    other = contender(other_log, key)
    await bad.start()
    try:
        assert not bad.is_leader and calls == ["gain", "lose"]
        await other.start()  # the lock was released with the failed leader's session
        assert other.is_leader
    finally:
        await bad.stop()
        await other.stop()


async def test_an_unreachable_database_means_follower() -> None:
    log = Log()
    # Nothing listens on port 1: connecting fails, the contender stays a follower.
    lost = Leadership(
        "postgresql://postgres@127.0.0.1:1/postgres",
        on_gain=log.gain,
        on_lose=log.lose,
        retry_s=0.1,
    )
    await lost.start()
    try:
        await asyncio.sleep(0.3)
        assert not lost.is_leader and log.events == []
    finally:
        await lost.stop()
