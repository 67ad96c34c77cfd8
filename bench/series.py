"""History benchmark: rollup cost on ingest, tailLog over 30 days, a year of daily aggregates.

    python bench/series.py [--things 10000] [--days 30] [--backends sqlite,postgresql]

1. Rollup on ingest: 10,000 things' snapshots folded into their 5-minute buckets (µs per
   snapshot) and one bucket flushed (thing-5m, stat-5m for every tag, 30m, 3h, 1D per
   timezone) — the real engine, real rows.
2. History: the flushed ``t-miner`` entry, whose size is that of a 10,000-thing tag, is
   written for every 5 minutes of ``--days`` days (plus 30m/3h entries and a year of daily
   ones), then timed: tailLog of all 5-minute entries of the range (target ≤ 100 ms),
   the same merged per hour, and tailLogCustomRangeAggr over a year of days (≤ 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hashfleet.server.live.index import LiveIndex
from hashfleet.server.series.ops import Entry
from hashfleet.server.series.rollup import DAY_MS, STEP_MS, Rollup
from hashfleet.server.series.spec import StatSpec
from hashfleet.server.series.taillog import History
from hashfleet.server.store.engine import create_engine, migrate
from hashfleet.server.store.tables import stats
from tests.support.databases import PG_SKIP_REASON, postgres_database

OFFSETS = [0, -10_800_000, 3_600_000]
T0 = 20_000 * DAY_MS


def thing_doc(i: int) -> dict[str, Any]:
    rack = f"r{i // 250}"
    return {
        "id": f"m{i:05d}",
        "code": f"m{i:05d}",
        "type": "miner",
        "rack": rack,
        "tags": ["t-miner", f"rack-{rack}", f"id-m{i:05d}", f"code-m{i:05d}", f"model-{i % 7}"],
        "info": {},
        "opts": {},
    }


def snapshot_row(i: int, ts: int) -> dict[str, Any]:
    online = i % 50 != 0
    snap = {
        "stats": {
            "status": "online" if online else "offline",
            "hashrate": (100 + i % 20) * 1e12 if online else 0.0,
            "hashrate_nominal": 110e12,
            "power_w": 3250.0 if online else 0.0,
            "temp_max": 60.0 + i % 25,
        },
        "config": {"model": f"S19-{i % 7}"},
    }
    return {"thing_id": f"m{i:05d}", "ts": ts, "err": None, "doc": snap}


async def timed(fn: Callable[[], Awaitable[Any]], runs: int = 7) -> tuple[float, Any]:
    """Median wall time (ms) of ``runs`` calls after one warm-up, and the last result."""
    result = await fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = await fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


async def run(url: str, n_things: int, days: int) -> dict[str, float]:
    engine = create_engine(url)
    await migrate(engine)
    live = LiveIndex()
    for i in range(n_things):
        live.put_thing(thing_doc(i))
    spec = StatSpec()
    rollup = Rollup(engine, live, spec, OFFSETS)
    await rollup.load(now=T0)
    out: dict[str, float] = {}

    # 1. Rollup on ingest: 6 snapshots per thing in one bucket, then the flush.
    rows = [snapshot_row(i, T0 + k * 50_000 + i % 1000) for k in range(6) for i in range(n_things)]
    start = time.perf_counter()
    for s in range(0, len(rows), 5000):
        rollup.observe(rows[s : s + 5000])
    out["observe_us_per_snapshot"] = (time.perf_counter() - start) / len(rows) * 1e6
    start = time.perf_counter()
    await rollup.flush(now=T0 + 2 * STEP_MS)
    out["flush_ms_per_bucket"] = (time.perf_counter() - start) * 1000

    # 2. History: the real t-miner entry replicated over the range.
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                stats.select().where(stats.c.key == "stat-5m", stats.c.tag == "t-miner")
            )
        ).first()
    assert row is not None
    template = dict(row._mapping)
    out["entry_bytes"] = len(str(template["data"]))
    end = T0 + (days + 1) * DAY_MS  # after the flushed bucket's day
    levels = (("stat-5m", STEP_MS, 1), ("stat-30m", 1_800_000, 6), ("stat-3h", 10_800_000, 36))
    async with engine.begin() as conn:
        for key, step, intervals in levels:
            entries = [
                Entry(ts, template["cnt"] * intervals, intervals, template["data"])
                for ts in range(end - days * DAY_MS, end, step)
            ]
            await _insert_entries(conn, key, entries)
        days_rows = [
            Entry(T0 - d * DAY_MS, template["cnt"] * 288, 288, template["data"])
            for d in range(1, 366)
        ]
        await _insert_entries(conn, "stat-1D", days_rows)

    history = History(engine, live, spec, OFFSETS)
    start_ms = end - days * DAY_MS
    limit = days * 288

    out["taillog_5m_ms"], got = await timed(
        lambda: history.tail_log(
            {"type": "miner", "key": "stat-5m", "tag": "t-miner", "start": start_ms,
             "end": end, "limit": limit}
        )
    )  # fmt: skip
    out["taillog_5m_entries"] = len(got)
    out["taillog_5m_fields_ms"], _ = await timed(
        lambda: history.tail_log(
            {"type": "miner", "key": "stat-5m", "tag": "t-miner", "start": start_ms,
             "end": end, "limit": limit,
             "fields": {"hashrate_mhs_5m_sum": 1, "power_w_sum": 1, "online_cnt": 1}}
        )
    )  # fmt: skip
    out["taillog_1h_aggr_ms"], got = await timed(
        lambda: history.tail_log(
            {"type": "miner", "key": "stat-5m", "tag": "t-miner", "start": start_ms,
             "end": end, "limit": limit, "groupRange": "1h",
             "aggrFields": {"hashrate_mhs_5m_sum_aggr": 1, "power_w_sum_aggr": 1}}
        )
    )  # fmt: skip
    out["taillog_1h_aggr_windows"] = len(got)
    out["custom_range_year_ms"], got = await timed(
        lambda: history.custom_range_aggr(
            {"keys": [{"type": "miner", "startDate": _date(T0 - 365 * DAY_MS),
                       "endDate": _date(T0 - DAY_MS), "fields": {"hashrate_mhs_5m_sum_aggr": 1}}]}
        )
    )  # fmt: skip
    out["custom_range_days"] = got[0]["data"]["aggrIntervals"] / 288
    out["custom_range_daily_ms"], _ = await timed(
        lambda: history.custom_range_aggr(
            {"keys": [{"type": "miner", "startDate": _date(T0 - 365 * DAY_MS),
                       "endDate": _date(T0 - DAY_MS), "shouldReturnDailyData": True}]}
        )
    )  # fmt: skip
    await engine.dispose()
    return out


async def _insert_entries(conn: Any, key: str, entries: list[Entry]) -> None:
    rows = [
        {"key": key, "type": "miner", "tag": "t-miner", "tz": 0, "ts": e.ts, "cnt": e.cnt,
         "intervals": e.intervals, "data": e.data}
        for e in entries
    ]  # fmt: skip
    for s in range(0, len(rows), 2000):
        await conn.execute(stats.insert(), rows[s : s + 2000])


def _date(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--things", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        if backend == "postgresql":
            if PG_SKIP_REASON:
                print(f"postgresql: skipped ({PG_SKIP_REASON})")
                continue
            with postgres_database() as url:
                result = asyncio.run(run(url, args.things, args.days))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{tmp}/bench.db"
                result = asyncio.run(run(url, args.things, args.days))
        print(f"{backend}:")
        for name, value in result.items():
            print(f"  {name:28s} {value:12.2f}")


if __name__ == "__main__":
    main()
