"""The writer: committed rows go to the store, then to the live index."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.server.bus.base import Rows
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.store.snapshots import write_snapshots


class Writer:
    """Writes snapshot rows in one transaction, then applies them to the live index."""

    def __init__(self, engine: AsyncEngine, live: LiveIndex) -> None:
        self.engine = engine
        self.live = live
        self.rows_written = 0

    async def __call__(self, rows: Rows) -> int:
        """Commit ``rows``; returns how many were new (not already stored)."""
        new = await write_snapshots(self.engine, rows)
        self.rows_written += new
        # Only after the commit: the live index never shows what the store could lose.
        self.live.apply(rows)
        return new
