"""The audit writer: entries queued in memory, written in batches by a background task.

The request path only appends to a bounded queue (no database work, no waiting). Once a
second the queue is written in one transaction. When the queue is full the oldest entry is
dropped and counted; drops are logged at the next flush. A batch that fails is written row
by row: when the store is down the batch goes back ahead of newer entries (still bounded);
when it is up, a row it refuses on its own is dropped, counted and logged, so one bad entry
cannot hold back the log for ever. ``stop`` writes what is still queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.tasks import cancel_task, run_every
from hashfleet.server.audit.entry import AuditEntry
from hashfleet.server.store.audit import insert_entries

log = logging.getLogger(__name__)

MAX_QUEUE = 10_000
MAX_BATCH = 1_000  # rows per INSERT statement
# What a failing store raises (driver errors come wrapped; a refused connection may not).
_STORE_ERRORS = (SQLAlchemyError, OSError)


class AuditWriter:
    """A bounded in-memory queue of audit entries and the task that stores them."""

    def __init__(
        self, engine: AsyncEngine, *, max_queue: int = MAX_QUEUE, flush_every_s: float = 1.0
    ) -> None:
        self.engine = engine
        self.max_queue = max_queue
        self.flush_every_s = flush_every_s
        self._queue: deque[AuditEntry] = deque()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.dropped = 0  # oldest entries pushed out of a full queue
        self.rejected = 0  # entries the store refused on their own
        self.flush_failures = 0
        self._dropped_logged = 0

    @property
    def pending(self) -> int:
        """Entries queued and not yet written."""
        return len(self._queue)

    def record(self, entry: AuditEntry) -> None:
        """Queue ``entry``; when the queue is full, drop the oldest. Never blocks."""
        if len(self._queue) >= self.max_queue:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(entry)

    def start(self) -> None:
        """Start the flush task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit")

    async def stop(self) -> None:
        """Stop the task and write what is still queued."""
        await cancel_task(self._task)
        self._task = None
        try:
            await self.flush()
        except Exception:
            # Shutting down anyway: say what is lost rather than fail the shutdown.
            log.exception("audit: %d entries could not be written at stop", self.pending)

    async def _run(self) -> None:
        await run_every(self.flush_every_s, self.flush, "audit flush")

    async def flush(self) -> int:
        """Write every queued entry; returns how many were stored. On failure they stay queued."""
        async with self._lock:
            self._log_drops()
            stored = 0
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                try:
                    await insert_entries(self.engine, batch)
                except _STORE_ERRORS:
                    self.flush_failures += 1
                    stored += await self._one_by_one(batch)
                    continue
                except BaseException:
                    # Cancelled (stop): nothing of the batch was committed; stop writes it.
                    self._requeue(batch)
                    raise
                stored += len(batch)
                self.written += len(batch)
            return stored

    async def _one_by_one(self, batch: list[AuditEntry]) -> int:
        """After a failed batch: store its rows alone; drop the ones the store refuses.

        At the first refusal the store itself is tried: when it is down the rows are not to
        blame, and the whole batch is queued again, in order.
        """
        refused: list[AuditEntry] = []
        store_up = False
        for i, entry in enumerate(batch):
            try:
                await insert_entries(self.engine, [entry])
            except _STORE_ERRORS:
                if not store_up and not await self._store_up():
                    self._requeue(batch[i:])
                    raise RuntimeError("audit store unavailable") from None
                store_up = True
                refused.append(entry)
            except BaseException:
                self._requeue(batch[i:])
                raise
            else:
                self.written += 1
        self.rejected += len(refused)
        for entry in refused:
            log.error(
                "audit: the store refused an entry (%s %s %s); dropped",
                entry.method,
                entry.path,
                entry.status,
            )
        return len(batch) - len(refused)

    async def _store_up(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except _STORE_ERRORS:
            return False
        return True

    def _requeue(self, batch: list[AuditEntry]) -> None:
        """Put ``batch`` back ahead of newer entries, keeping the newest within the bound."""
        self._queue.extendleft(reversed(batch))
        while len(self._queue) > self.max_queue:
            self._queue.popleft()
            self.dropped += 1

    def _log_drops(self) -> None:
        if self.dropped > self._dropped_logged:
            log.warning(
                "audit queue full: %d entries dropped (%d in total)",
                self.dropped - self._dropped_logged,
                self.dropped,
            )
            self._dropped_logged = self.dropped
