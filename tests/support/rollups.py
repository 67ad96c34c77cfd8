"""Reading the stored rollups back in tests."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from hashfleet.server.store.engine import create_engine
from hashfleet.server.store.tables import stats


async def _stat_count(url: str, bucket: int) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            got = (
                await conn.execute(
                    select(stats.c.cnt).where(
                        stats.c.key == "stat-5m",
                        stats.c.type == "miner",
                        stats.c.tag == "t-miner",
                        stats.c.ts == bucket,
                    )
                )
            ).scalar()
    finally:
        await engine.dispose()
    return int(got or 0)


def stat_count(url: str, bucket: int) -> int:
    """The snapshots counted in the miners' type-wide ``stat-5m`` entry of ``bucket``."""
    return asyncio.run(_stat_count(url, bucket))
