"""Rollups on a real database: buckets flush into thing-5m, stat-5m and coarser levels;
late snapshots and restarts give the same history — SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from hashfleet.model.alert import Alert
from hashfleet.server.leader import NotLeader, no_fence
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.series.rollup import DAY_MS, STEP_MS, Rollup, day_start
from hashfleet.server.series.spec import StatSpec
from hashfleet.server.series.taillog import History
from hashfleet.server.store import racks, things
from hashfleet.server.store.alerts import alert_history, save_alerts
from hashfleet.server.store.engine import create_engine, migrate
from hashfleet.server.store.snapshots import store_snapshots

T0 = 19675 * DAY_MS  # a UTC midnight
UYT = -10_800_000  # UTC-3
NPT = 20_700_000  # UTC+5:45: not on a 30-minute boundary, so its days come from 5m entries
OFFSETS = [0, UYT, NPT]


def miner(thing_id: str, rack: str, extra_tags: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": thing_id,
        "code": thing_id,
        "type": "miner",
        "rack": rack,
        "tags": ["t-miner", f"rack-{rack}", f"id-{thing_id}", f"code-{thing_id}", *extra_tags],
        "info": {},
        "opts": {"family": "antminer", "address": "127.0.0.1"},
    }


def row(thing_id: str, ts: int, ths: float | None, seq: int = 0, temp: float = 70.0) -> dict:
    snap = None
    if ths is not None:
        snap = {
            "stats": {"status": "online", "hashrate": ths * 1e12, "power_w": ths * 30,
                      "temp_max": temp},
            "config": {"model": "S19"},
        }  # fmt: skip
    return {
        "spool_id": "s1",
        "seq": seq,
        "thing_id": thing_id,
        "rack_id": "r1",
        "ts": ts,
        "err": None if snap else "ERR_TIMEOUT",
        "snap": snap,
        "doc": snap,
    }


class Env:
    def __init__(self, engine: Any, live: LiveIndex) -> None:
        self.engine = engine
        self.live = live
        self.spec = StatSpec()
        self.rollup = Rollup(engine, live, self.spec, OFFSETS, alerts_of=self.alerts_of)
        self.history = History(engine, live, self.spec, OFFSETS)
        self.open_alerts: dict[str, list[str]] = {}

    def alerts_of(self, thing_id: str) -> list[str]:
        return self.open_alerts.get(thing_id, [])

    async def tail(self, **req: Any) -> list[dict[str, Any]]:
        return await self.history.tail_log({"type": "miner", **req})


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[Env]:
    engine = create_engine(db_url)
    await migrate(engine)
    await racks.insert_rack(engine, "r1", "miner", {})
    live = LiveIndex()
    docs = [miner("m1", "r1", ("room-a",)), miner("m2", "r1")]
    await things.insert_things(
        engine,
        [{**{k: v for k, v in d.items() if k != "rack"}, "rack_id": d["rack"],
          "created_at": 0, "updated_at": 0} for d in docs],
    )  # fmt: skip
    for d in docs:
        live.put_thing(d)
    e = Env(engine, live)
    await e.rollup.load(now=T0)
    try:
        yield e
    finally:
        await engine.dispose()


async def test_a_bucket_flushes_into_every_level(env: Env) -> None:
    # m1 hashes 100 then 110 TH/s, m2 50: the tag sum is 105 + 50 TH/s.
    env.rollup.observe([row("m1", T0 + 10_000, 100), row("m1", T0 + 70_000, 110, temp=80),
                        row("m2", T0 + 20_000, 50)])  # fmt: skip
    env.open_alerts["m2"] = ["high"]
    assert await env.rollup.flush(now=T0 + STEP_MS) == 0  # still in its grace period
    assert await env.rollup.flush(now=T0 + STEP_MS + 31_000) == 1

    thing = await env.tail(key="thing-5m-m1")
    assert thing == [{"ts": T0, **thing[0]}]
    assert thing[0]["hashrate_mhs"] == pytest.approx(105e6) and thing[0]["temp_max"] == 80

    for tag, total in (("t-miner", 155e6), ("rack-r1", 155e6), ("room-a", 105e6)):
        [entry] = await env.tail(key="stat-5m", tag=tag)
        assert entry["ts"] == T0
        assert entry["hashrate_mhs_5m_sum"] == pytest.approx(total)
    [entry] = await env.tail(key="stat-5m")
    assert entry["things_cnt"] == 2 and entry["alerts"]["high"] == 1
    assert entry["efficiency_w_ths"] == pytest.approx(30.0)
    # Projected in SQL: a ratio reads its numerator and denominator, returns only itself.
    [eff] = await env.tail(key="stat-5m", aggrFields={"efficiency_w_ths_aggr": 1, "nope": 1})
    assert eff["efficiency_w_ths_aggr"] == pytest.approx(30.0)
    assert set(eff) == {"ts", "efficiency_w_ths_aggr", "aggrTsRange", "aggrCount", "aggrIntervals"}
    [few] = await env.tail(key="stat-5m", fields={"things_cnt": 1, "status_group_cnt": 1})
    assert few == {"ts": T0, "things_cnt": 2, "status_group_cnt": {"online": 2}}
    assert await env.tail(key="stat-5m", tag="id-m1") == []  # per-thing tags have thing-5m

    for key in ("stat-30m", "stat-3h", "stat-1D"):
        [coarse] = await env.tail(key=key)
        assert coarse["hashrate_mhs_5m_sum"] == pytest.approx(155e6), key
    [uyt] = await env.tail(key="stat-1D", timezoneOffset=UYT)
    assert uyt["ts"] == day_start(T0, UYT) == T0 - DAY_MS + 10_800_000
    [npt] = await env.tail(key="stat-1D", timezoneOffset=NPT)
    assert npt["ts"] == day_start(T0, NPT)


async def test_coarse_levels_average_their_intervals(env: Env) -> None:
    # Six 5-minute buckets: 100 TH/s for three, 200 for three → the half hour averages 150.
    for i in range(6):
        env.rollup.observe([row("m1", T0 + i * STEP_MS + 1000, 100 if i < 3 else 200, seq=i)])
    await env.rollup.flush(now=T0 + 7 * STEP_MS)
    [half] = await env.tail(key="stat-30m")
    assert half["hashrate_mhs_5m_sum"] == pytest.approx(150e6)
    merged = await env.tail(key="stat-5m", aggrFields={"hashrate_mhs_5m_sum_aggr": 1})
    assert merged == [{
        "ts": T0, "hashrate_mhs_5m_sum_aggr": pytest.approx(150e6),
        "aggrTsRange": f"{T0}-{T0 + 6 * STEP_MS}", "aggrCount": 6, "aggrIntervals": 6,
    }]  # fmt: skip
    per_15m = await env.tail(
        key="stat-5m", aggrFields={"hashrate_mhs_5m_sum_aggr": 1}, groupRange="15m"
    )
    assert [e["hashrate_mhs_5m_sum_aggr"] for e in per_15m] == pytest.approx([200e6, 100e6])
    assert [e["ts"] for e in per_15m] == [T0 + 900_000, T0]
    newest_two = await env.tail(key="stat-5m", limit=2, fields={"hashrate_mhs_5m_sum": 1})
    assert newest_two == [
        {"ts": T0 + 5 * STEP_MS, "hashrate_mhs_5m_sum": pytest.approx(200e6)},
        {"ts": T0 + 4 * STEP_MS, "hashrate_mhs_5m_sum": pytest.approx(200e6)},
    ]


async def test_late_snapshots_give_the_same_history(env: Env) -> None:
    env.rollup.observe([row("m1", T0 + 1000, 100)])
    await env.rollup.flush(now=T0 + 2 * STEP_MS)
    # m2's agent was cut off; its spool drains after the bucket was flushed.
    env.rollup.observe([row("m2", T0 + 2000, 60), row("m1", T0 + 3000, 120, seq=1)])
    await env.rollup.flush(now=T0 + 2 * STEP_MS + 5000)
    [m1] = await env.tail(key="thing-5m-m1")
    assert m1["hashrate_mhs"] == pytest.approx(110e6)
    [tag] = await env.tail(key="stat-5m")
    assert tag["hashrate_mhs_5m_sum"] == pytest.approx(170e6) and tag["things_cnt"] == 2
    [day] = await env.tail(key="stat-1D")
    assert day["hashrate_mhs_5m_sum"] == pytest.approx(170e6)
    assert day["hashrate_mhs_5m_sum"] == (await env.tail(key="stat-30m"))[0]["hashrate_mhs_5m_sum"]


async def test_restart_rebuilds_unflushed_buckets_from_stored_snapshots(env: Env) -> None:
    await env.rollup.flush(now=T0 + 60_000)  # stores the mark
    rows = [row("m1", T0 + 1000 + i, 100, seq=i) for i in range(3)]
    await store_snapshots(env.engine, rows)
    env.rollup.observe(rows)
    # The server dies before the bucket closes; a new one starts from the store.
    fresh = Rollup(env.engine, env.live, env.spec, OFFSETS)
    await fresh.load(now=T0 + 100_000)
    await fresh.flush(now=T0 + 2 * STEP_MS)
    [m1] = await env.tail(key="thing-5m-m1")
    assert m1["hashrate_mhs"] == pytest.approx(100e6)
    [e] = await env.tail(key="stat-5m", aggrFields={"things_cnt": 1})
    assert e["aggrCount"] == 3


async def test_cross_thing_and_realtime(env: Env) -> None:
    env.rollup.observe([row("m1", T0 + 1000, 100), row("m2", T0 + 1000, 50, seq=1)])
    await env.rollup.flush(now=T0 + 2 * STEP_MS)
    per_thing = await env.tail(key="thing-5m", fields={"hashrate_mhs": 1})
    assert {(e["thingId"], round(e["hashrate_mhs"])) for e in per_thing} == {
        ("m1", 100_000_000), ("m2", 50_000_000)}  # fmt: skip
    [crossed] = await env.tail(key="thing-5m", applyAggrCrossthg=True)
    assert crossed["hashrate_mhs"] == pytest.approx(150e6)
    env.live.apply([row("m1", T0 + 2000, 90)])
    [now] = await env.tail(key="stat-rtd")
    assert now["hashrate_mhs_5m_sum"] == pytest.approx(90e6)  # m2 has no snapshot: offline
    assert now["online_cnt"] == 1 and now["things_cnt"] == 2


async def test_custom_range_aggr_daily_and_merged(env: Env) -> None:
    for day in range(3):
        ts = T0 + day * DAY_MS + 1000
        env.rollup.observe([row("m1", ts, 100 * (day + 1), seq=day)])
        await env.rollup.flush(now=ts + 2 * STEP_MS)
    dates = {"startDate": "2023-11-14", "endDate": "2023-11-16"}
    assert T0 == 1_699_920_000_000  # 2023-11-14
    [daily] = await env.history.custom_range_aggr(
        {"keys": [{"type": "miner", **dates, "shouldReturnDailyData": True,
                   "fields": {"hashrate_mhs_5m_sum_aggr": 1}}]}
    )  # fmt: skip
    assert daily["error"] is None
    assert [d["ts"] for d in daily["data"]] == [T0, T0 + DAY_MS, T0 + 2 * DAY_MS]
    assert [d["val"]["hashrate_mhs_5m_sum_aggr"] for d in daily["data"]] == pytest.approx(
        [100e6, 200e6, 300e6]
    )
    [merged, bad_tz, bad_type] = await env.history.custom_range_aggr(
        {"keys": [{"type": "miner", **dates, "fields": {"hashrate_mhs_5m_sum_aggr": 1}},
                  {"type": "miner", **dates, "timezoneOffset": 3_600_000},
                  {"type": "toaster", **dates}]}
    )  # fmt: skip
    assert merged["data"]["hashrate_mhs_5m_sum_aggr"] == pytest.approx(200e6)
    assert merged["data"]["aggrIntervals"] == 3 and merged["data"]["aggrCount"] == 3
    assert bad_tz["error"] == "ERR_TIMEZONE_OFFSET_INVALID"
    assert bad_type["error"] == "ERR_TYPE_AGGR_INVALID"


async def test_retention_prunes_each_level_by_its_age(env: Env) -> None:
    from hashfleet.server.history_config import Retention as RetentionConfig
    from hashfleet.server.series.retention import Retention

    rows = [row("m1", T0 + 1000, 100)]
    await store_snapshots(env.engine, rows)
    env.rollup.observe(rows)
    await env.rollup.flush(now=T0 + 2 * STEP_MS)
    old = Alert(id="a-old", thing_id="m1", code="fan_stopped", severity="high", name="n",
                description="d", created_at=T0, updated_at=T0, closed_at=T0 + 1000)  # fmt: skip
    still_open = msgspec.structs.replace(old, id="a-open", closed_at=None)
    recent = msgspec.structs.replace(old, id="a-new", closed_at=T0 + 2 * DAY_MS + 5)
    await save_alerts(env.engine, [old, still_open, recent], [])
    config = RetentionConfig(snapshots_days=1, thing_stats_days=2, stats_5m_days=2, alerts_days=2)
    deleted = await Retention(env.engine, config).prune(now=T0 + 3 * DAY_MS)
    assert deleted["snapshots"] == 1 and deleted["thing-5m"] == 1 and deleted["stat-5m"] >= 1
    assert deleted["alerts"] == 1  # closed before the cutoff; the open one is kept
    left = await alert_history(env.engine, include_open=True)
    assert sorted(a.id for a in left) == ["a-new", "a-open"]
    assert "stat-1D" not in deleted  # daily entries are kept for ever
    assert await env.tail(key="stat-5m") == []
    assert len(await env.tail(key="stat-1D")) == 1


async def test_a_takeover_rebuilds_what_a_follower_missed_and_counts_each_row_once(
    env: Env,
) -> None:
    # A follower folds rows from notices, which are at most once. When it takes over, the
    # open bucket is rebuilt from the store: rows it never heard of count, and rows whose
    # notice comes during or after the rebuild are not counted twice.
    await env.rollup.flush(now=T0 + 60_000)  # the old leader's mark
    follower = Rollup(env.engine, env.live, env.spec, OFFSETS)
    await follower.load(now=T0 + 60_000)
    follower.follow()
    heard = [row("m1", T0 + 61_000 + i, 100, seq=100 + i) for i in range(3)]
    missed = [row("m2", T0 + 62_000 + i, 50, seq=200 + i) for i in range(4)]
    await store_snapshots(env.engine, heard + missed)
    follower.observe(heard)  # the notices of `missed` were lost
    await follower.lead()
    follower.observe(heard + missed)  # late notices of rows the rebuild folded: no effect
    later = [row("m1", T0 + 63_000, 100, seq=300)]
    await store_snapshots(env.engine, later)
    follower.observe(later)  # a new row after the takeover: counted
    await follower.flush(now=T0 + 2 * STEP_MS)
    [e] = await env.tail(key="stat-5m", aggrFields={"things_cnt": 1})
    assert e["aggrCount"] == 3 + 4 + 1


async def test_a_refused_fence_writes_nothing_and_keeps_the_bucket(env: Env) -> None:
    # A leader that lost its lock (server/leader.py fence): its flush writes nothing, and
    # what it folded is kept, so a flush allowed again (it leads once more) writes it all.
    refused: list[int] = []

    async def fence(conn: Any) -> None:
        refused.append(1)
        raise NotLeader("the leader lock is no longer this server's")

    env.rollup.fence = fence
    env.rollup.observe([row("m1", T0 + 10_000, 100), row("m2", T0 + 20_000, 50)])
    with pytest.raises(NotLeader):
        await env.rollup.flush(now=T0 + STEP_MS + 31_000)
    assert refused and await env.tail(key="stat-5m") == []
    assert await env.tail(key="thing-5m-m1") == []

    env.rollup.fence = no_fence
    assert await env.rollup.flush(now=T0 + STEP_MS + 32_000) == 1
    [entry] = await env.tail(key="stat-5m", aggrFields={"things_cnt": 1})
    assert entry["aggrCount"] == 2
