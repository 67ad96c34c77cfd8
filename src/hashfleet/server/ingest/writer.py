"""The writer: committed rows go to the store, then to the live index and observers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.server.bus.base import Rows
from hashfleet.server.ingest.rows import deciding_rows
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.store.snapshots import store_snapshots

log = logging.getLogger(__name__)

Observer = Callable[[Rows], None]


class Writer:
    """Writes snapshot rows in one transaction, then applies them to the live index.

    ``observers`` (rollups, alerts) are called with the rows that were new, after the
    live index, so each stored snapshot is observed exactly once.
    """

    def __init__(self, engine: AsyncEngine, live: LiveIndex) -> None:
        self.engine = engine
        self.live = live
        self.rows_written = 0
        self.observers: list[Observer] = []

    async def __call__(self, rows: Rows) -> int:
        """Commit ``rows``; returns how many were new (not already stored)."""
        new = await store_snapshots(self.engine, rows)
        self.rows_written += len(new)
        # Only after the commit: the live index never shows what the store could lose.
        self.live.apply(deciding_rows(rows))
        for observe in self.observers:
            try:
                observe(new)
            except Exception:
                # The rows are committed: an observer's bug must not fail the ingest.
                log.exception("snapshot observer %r failed", observe)
        return len(new)
