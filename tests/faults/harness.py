"""Shared pieces of the fault tests: an instrumented in-process agent and exact accounting.

How the counting works: the agent's spool numbers items with SQLite AUTOINCREMENT, in the
order the poller produced them, and never reuses a number. :class:`CountingAgent`
records every produced ``(thing_id, ts)`` in that order, so item *k* of a run is spool
``seq = base + k + 1``. After the agent drains, the server's ``snapshots`` table must hold
exactly one row per produced seq of this spool, with that seq's thing and timestamp —
nothing missing (lost), nothing extra, no ``(spool_id, seq)`` twice (duplicated).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.agent.runner import Agent
from hashfleet.agent.spool import Spool
from hashfleet.server.store.snapshots import count_snapshots
from hashfleet.server.store.tables import snapshots
from hashfleet.sim.farm import Farm
from tests.support.processes import uses_sqlite

INTERVAL_S = 0.2  # agent poll interval: 5 devices → ~25 snapshots/s


def farm_devices(farm: Farm) -> list[tuple[str, str, int]]:
    """``(family, address, port)`` of every simulated device."""
    return [(d.family, d.address, d.port) for d in farm.devices]


async def wait_until(predicate: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    """Poll ``predicate`` every 20 ms until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what or predicate}"
        await asyncio.sleep(0.02)


def last_seq(spool_path: Path) -> int:
    """The highest seq this spool ever assigned (SQLite's AUTOINCREMENT counter)."""
    db = sqlite3.connect(spool_path)
    try:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return 0 if row is None else int(row[0])
    finally:
        db.close()


class RecordingSpool(Spool):
    """A spool that remembers what the server acknowledged, seq by seq.

    The sender peeks a batch, posts it, then acks; so the seqs of the last peek up to the
    acked seq are the ones the server acknowledged. ``on_peek`` sees each non-empty batch
    just before it is posted (the fault tests time their kills with it).
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.acked_upto = 0
        self.acked: Counter[int] = Counter()
        self.last_peek: list[int] = []
        self.on_peek: Callable[[list[int]], None] | None = None

    def peek(self, limit: int) -> list[tuple[int, bytes]]:
        items = super().peek(limit)
        self.last_peek = [seq for seq, _ in items]
        if items and self.on_peek is not None:
            self.on_peek(self.last_peek)
        return items

    def ack(self, upto_seq: int) -> int:
        self.acked.update(seq for seq in self.last_peek if seq <= upto_seq)
        self.acked_upto = max(self.acked_upto, upto_seq)
        return super().ack(upto_seq)

    def pending_seqs(self) -> list[int]:
        """Seqs still waiting for an ack."""
        return [seq for seq, _ in self.peek_all()]

    def peek_all(self) -> list[tuple[int, bytes]]:
        """Everything still in the spool (without triggering ``on_peek``)."""
        return Spool.peek(self, 1 << 30)


class CountingAgent(Agent):
    """The real :class:`Agent`, polling fast, with production and acks recorded."""

    def __init__(self, server_url: str, token: str, data_dir: Path) -> None:
        super().__init__(
            server_url, token, data_dir, interval=INTERVAL_S, refresh_s=0.5, flush_s=0.02
        )
        self.spool.close()
        self.spool: RecordingSpool = RecordingSpool(data_dir / "spool.db")
        # A reopened spool goes on after its highest seq ever assigned.
        self.base_seq = last_seq(data_dir / "spool.db")
        self.items: list[tuple[str, int]] = []
        self._task: asyncio.Task[None] | None = None

    def _sink(
        self, thing_id: str, ts: int, snap: dict[str, object] | None, err: str | None
    ) -> None:
        self.items.append((thing_id, ts))
        super()._sink(thing_id, ts, snap, err)

    def expected(self) -> dict[int, tuple[str, int]]:
        """seq → (thing_id, ts) of everything this agent produced."""
        return {self.base_seq + k + 1: item for k, item in enumerate(self.items)}

    async def start(self, max_backoff: float = 1.0) -> CountingAgent:
        """Run in a task; returns once it polls. ``max_backoff`` caps the sender's retry
        delay (30 s in production) so a test does not sit out a long backoff after the
        server is back."""
        self._task = asyncio.create_task(self.run(), name="counting-agent")
        await wait_until(
            lambda: self.sender is not None and self.poller is not None and self.poller.things > 0,
            what="the agent to poll",
        )
        assert self.sender is not None
        self.sender.max_backoff = max_backoff
        return self

    async def finish(self, timeout: float = 30) -> None:
        """Stop polling, wait until everything spooled is acked, stop, close."""
        drained = await self.drain(timeout)
        await self.stop()
        assert drained, f"{self.spool.pending()} items not acked within {timeout} s"

    async def stop(self) -> None:
        """Cancel the run task and close the spool (idempotent)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self.close()


@dataclass
class Stored:
    """The server's snapshot rows of one spool."""

    total: int  # count_snapshots(): every row in the table
    rows: int  # rows of this spool
    distinct: int  # distinct (spool_id, seq) of this spool
    by_seq: dict[int, tuple[str, int]]

    @property
    def seqs(self) -> set[int]:
        """The stored seqs."""
        return set(self.by_seq)


async def stored(engine: AsyncEngine, spool_id: str) -> Stored:
    """Read back what the server stored for ``spool_id``."""
    total = await count_snapshots(engine)
    async with engine.connect() as conn:
        result = await conn.execute(
            select(snapshots.c.seq, snapshots.c.thing_id, snapshots.c.ts).where(
                snapshots.c.spool_id == spool_id
            )
        )
        rows = [(int(seq), str(thing), int(ts)) for seq, thing, ts in result]
    return Stored(
        total=total,
        rows=len(rows),
        distinct=len({seq for seq, _, _ in rows}),
        by_seq={seq: (thing, ts) for seq, thing, ts in rows},
    )


def assert_exact(got: Stored, expected: dict[int, tuple[str, int]]) -> None:
    """Stored rows are exactly the expected ones: 0 lost, 0 duplicated, 0 foreign."""
    lost = sorted(set(expected) - got.seqs)
    extra = sorted(got.seqs - set(expected))
    assert lost == [], f"{len(lost)} produced snapshots never stored: {lost[:20]}"
    assert extra == [], f"{len(extra)} stored snapshots never produced: {extra[:20]}"
    assert got.rows == got.distinct == len(expected), "a (spool_id, seq) is stored twice"
    assert got.total == len(expected), "rows from elsewhere in the table"
    wrong = [seq for seq, item in expected.items() if got.by_seq[seq] != item]
    assert wrong == [], f"stored rows differ from what was produced: {wrong[:20]}"


async def wait_acked(spool: RecordingSpool, upto: int, timeout: float = 30) -> None:
    """Wait until the server has acknowledged every seq up to ``upto``."""
    await wait_until(lambda: spool.acked_upto >= upto, timeout, f"acks up to seq {upto}")


def kill_on_commit(db_url: str, spool_id: str, seq: int, pid: int, timeout: float = 10) -> bool:
    """Watch the database as closely as it can be watched and SIGKILL ``pid`` the moment
    the row ``(spool_id, seq)`` is committed: between the commit and the answer to the
    agent, as often as not. Blocking (run it in a thread). False if it never appeared (the
    process is then killed anyway)."""
    deadline = time.monotonic() + timeout
    found = False
    if uses_sqlite(db_url):
        db = sqlite3.connect(db_url.split("///", 1)[1], timeout=5, isolation_level=None)
        try:
            query = "SELECT 1 FROM snapshots WHERE spool_id = ? AND seq = ?"
            while not found and time.monotonic() < deadline:
                found = db.execute(query, (spool_id, seq)).fetchone() is not None
        finally:
            db.close()
    else:
        import asyncpg

        async def watch() -> bool:
            conn = await asyncpg.connect(db_url)
            try:
                query = "SELECT 1 FROM snapshots WHERE spool_id = $1 AND seq = $2"
                while time.monotonic() < deadline:
                    if await conn.fetchval(query, spool_id, seq) is not None:
                        return True
                return False
            finally:
                await conn.close()

        found = asyncio.run(watch())
    os.kill(pid, signal.SIGKILL)
    return found
