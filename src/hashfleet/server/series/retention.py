"""Retention: raw snapshots for days, rollups for months, daily entries for ever.

Closed alerts are kept for a year by default; open alerts are never pruned.
Audit log entries are kept for a year by default (``audit_days``).

Runs hourly; deletes in small chunks so ingest never waits long behind it. Raw snapshots
are deleted per thing through the ``(thing_id, ts)`` index, so ingest pays for no extra
index on time alone.

On PostgreSQL ``snapshots`` is partitioned by day (store/partitions.py): each run first
makes the partitions of today and the days ahead, then drops the partitions entirely
older than the cutoff, and only then deletes, in chunks, the rows older than the cutoff
left in the partition the cutoff falls in and in the default partition.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from hashfleet.core.clock import now_ms
from hashfleet.core.tasks import cancel_task, run_every
from hashfleet.server.history_config import DAY_MS
from hashfleet.server.history_config import Retention as RetentionConfig
from hashfleet.server.store import partitions
from hashfleet.server.store.tables import alerts, audit_log, snapshots, stats, thing_stats

log = logging.getLogger(__name__)

_STAT_DAYS = {
    "stat-5m": "stats_5m_days",
    "stat-30m": "stats_30m_days",
    "stat-3h": "stats_3h_days",
    "stat-1D": "stats_1D_days",
}


class Retention:
    """Deletes history older than each level's configured age."""

    def __init__(self, engine: AsyncEngine, config: RetentionConfig, every_s: float = 3600) -> None:
        self.engine = engine
        self.config = config
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    async def prune(self, now: int | None = None) -> dict[str, int]:
        """Delete what is past its age; returns rows deleted per level."""
        now = now_ms() if now is None else now
        done: dict[str, int] = {}
        snapshots_cutoff = now - self.config.snapshots_days * DAY_MS
        if self.engine.dialect.name == "postgresql":
            keep_from = snapshots_cutoff if self.config.snapshots_days else None
            try:
                await partitions.ensure_partitions(self.engine, now, keep_from=keep_from)
            except DBAPIError as exc:  # e.g. its lock timeout: the next run tries again
                log.warning("retention: making snapshot partitions failed: %s", exc)
        if self.config.snapshots_days:
            dropped: list[str] = []
            rows = 0
            try:
                dropped, rows = await partitions.drop_partitions_before(
                    self.engine, snapshots_cutoff
                )
            except DBAPIError as exc:  # the chunked delete below still prunes
                log.warning("retention: dropping snapshot partitions failed: %s", exc)
            if dropped:
                done["snapshot-partitions"] = len(dropped)
            done["snapshots"] = rows + await self._prune_snapshots(snapshots_cutoff)
        if self.config.thing_stats_days:
            cutoff = now - self.config.thing_stats_days * DAY_MS
            async with self.engine.begin() as conn:
                result = await conn.execute(delete(thing_stats).where(thing_stats.c.ts < cutoff))
            done["thing-5m"] = int(result.rowcount or 0)
        for key, attr in _STAT_DAYS.items():
            days = int(getattr(self.config, attr))
            if not days:
                continue
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    delete(stats).where(stats.c.key == key, stats.c.ts < now - days * DAY_MS)
                )
            done[key] = int(result.rowcount or 0)
        if self.config.alerts_days:
            cutoff = now - self.config.alerts_days * DAY_MS
            async with self.engine.begin() as conn:
                result = await conn.execute(delete(alerts).where(alerts.c.closed_at < cutoff))
            done["alerts"] = int(result.rowcount or 0)
        if self.config.audit_days:
            cutoff = now - self.config.audit_days * DAY_MS
            async with self.engine.begin() as conn:
                result = await conn.execute(delete(audit_log).where(audit_log.c.ts < cutoff))
            done["audit"] = int(result.rowcount or 0)
        return done

    async def _prune_snapshots(self, cutoff: int) -> int:
        # Bounding ts lets PostgreSQL skip every partition newer than the cutoff: only the
        # one the cutoff falls in and the default partition are read.
        async with self.engine.connect() as conn:
            ids = [
                r[0]
                for r in await conn.execute(
                    select(snapshots.c.thing_id).where(snapshots.c.ts < cutoff).distinct()
                )
            ]
        total = 0
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    delete(snapshots).where(
                        snapshots.c.thing_id.in_(chunk), snapshots.c.ts < cutoff
                    )
                )
            total += int(result.rowcount or 0)
            await asyncio.sleep(0)  # let ingest in between chunks
        return total

    def start(self) -> None:
        """Prune now and then every ``every_s`` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="retention")

    async def stop(self) -> None:
        """Stop pruning."""
        await cancel_task(self._task)
        self._task = None

    async def _run(self) -> None:
        await run_every(self.every_s, self._prune_and_log, "retention run", first_now=True)

    async def ensure_partitions(self) -> list[str]:
        """PostgreSQL: make the snapshot partitions of today and the days ahead (no-op on
        SQLite). Call after ``migrate`` and before ingest starts."""
        # Days past the retention cutoff get no partition: retention would only drop it.
        days = self.config.snapshots_days
        keep_from = now_ms() - days * DAY_MS if days else None
        return await partitions.ensure_partitions(self.engine, keep_from=keep_from)

    async def _prune_and_log(self) -> None:
        deleted = await self.prune()
        if any(deleted.values()):
            log.info("retention: deleted %s", deleted)
