"""The embedded bus: an in-process queue with group commit.

Concurrent publishers' batches are merged into one write (up to ``max_rows``) so the
database sees few, large transactions; each publisher is answered when its rows are
committed. ``writers`` writes may be in progress at once (PostgreSQL: 2, so the database
works on one group while the server applies the previous one; SQLite has one writer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hashfleet.server.bus.base import Handler, Rows

log = logging.getLogger(__name__)


class EmbeddedBus:
    """In-process bus; durability comes from the handler's commit."""

    delivers_rows = True

    def __init__(self, max_rows: int = 5000, writers: int = 1) -> None:
        self.max_rows = max_rows
        self.writers = max(1, writers)
        self._queue: asyncio.Queue[tuple[Rows, asyncio.Future[int]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._handler: Handler | None = None
        self._writing = 0

    async def start(self, handler: Handler) -> None:
        """Start the writer loops."""
        self._handler = handler
        self._tasks = [
            asyncio.create_task(self._run(), name=f"embedded-bus-{i}") for i in range(self.writers)
        ]

    async def publish(self, rows: Rows) -> int:
        """Queue rows and wait for their commit; returns how many were new."""
        if not self._tasks or any(t.done() for t in self._tasks):
            raise RuntimeError("bus is not running")
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        await self._queue.put((rows, fut))
        return await fut

    def pending(self) -> int:
        """Batches queued behind the one being written."""
        return self._queue.qsize()

    async def _run(self) -> None:
        assert self._handler is not None
        while True:
            first = await self._queue.get()
            group = [first]
            size = len(first[0])
            while size < self.max_rows and not self._queue.empty():
                item = self._queue.get_nowait()
                group.append(item)
                size += len(item[0])
            self._writing += 1
            try:
                await self._write(group)
            finally:
                self._writing -= 1

    async def _write(self, group: list[tuple[Rows, asyncio.Future[int]]]) -> None:
        assert self._handler is not None
        rows = [r for batch, _ in group for r in batch]
        try:
            new = await self._handler(rows)
        except Exception as exc:  # noqa: BLE001 - every waiting publisher must hear of it
            if len(group) > 1:
                # One bad batch must not fail the others it was grouped with: write each
                # alone (rows already committed come back as duplicates, never twice).
                for one in group:
                    await self._write([one])
                return
            log.warning("ingest write of %d rows failed: %s", len(rows), exc)
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(exc)
            return
        # The group's new-row count is shared out in order; exact per batch is not needed.
        for batch, fut in group:
            share = min(new, len(batch))
            new -= share
            if not fut.done():
                fut.set_result(share)

    async def stop(self) -> None:
        """Finish queued writes and those in progress, then stop."""
        if not self._tasks:
            return
        while (not self._queue.empty() or self._writing) and not all(t.done() for t in self._tasks):
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
