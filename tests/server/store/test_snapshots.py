"""Store: migrations, idempotent snapshot writes, forward-only state — SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from hashfleet.server.live.index import LiveIndex
from hashfleet.server.registry import Registry
from hashfleet.server.store import racks, things
from hashfleet.server.store.engine import create_engine, migrate
from hashfleet.server.store.snapshots import count_snapshots, thing_history, write_snapshots


def rows(spool: str, seqs: range, thing_id: str = "m1", ts0: int = 1000) -> list[dict[str, Any]]:
    return [
        {
            "spool_id": spool,
            "seq": s,
            "thing_id": thing_id,
            "rack_id": "r1",
            "ts": ts0 + s,
            "err": None,
            "snap": {"stats": {"status": "online", "hashrate": float(s)}},
        }
        for s in seqs
    ]


async def test_write_is_idempotent_and_state_moves_forward(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        await migrate(engine)  # a second run is a no-op
        await racks.insert_rack(engine, "r1", "miner", {})
        await things.insert_things(
            engine,
            [
                {
                    "id": "m1",
                    "code": "m1",
                    "type": "miner",
                    "rack_id": "r1",
                    "tags": [],
                    "info": {},
                    "opts": {"family": "antminer"},
                    "created_at": 1,
                    "updated_at": 1,
                }
            ],
        )
        assert await write_snapshots(engine, rows("s", range(1, 101))) == 100
        # The same batch again, and an overlapping one: only the 20 new rows count.
        assert await write_snapshots(engine, rows("s", range(1, 101))) == 0
        assert await write_snapshots(engine, rows("s", range(91, 121))) == 20
        # Another spool with the same sequence numbers is another agent: all new.
        assert await write_snapshots(engine, rows("t", range(1, 11), ts0=0)) == 10
        assert await count_snapshots(engine) == 130
        loaded = await things.load_things(engine)
        # State holds the newest snapshot (ts 1120), not the late, older one from spool t.
        assert loaded[0]["last"]["ts"] == 1120
        assert loaded[0]["last"]["snap"]["stats"]["hashrate"] == 120.0
        hist = await thing_history(engine, "m1", 1100, 1120, 5)
        assert [h["ts"] for h in hist] == [1116, 1117, 1118, 1119, 1120]
    finally:
        await engine.dispose()


async def test_registry_survives_a_restart(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        reg = Registry(engine, LiveIndex())
        await reg.load()
        await reg.register_rack("r1", "miner", {"site": "north"})
        await reg.register_things(
            [
                {
                    "rack": "r1",
                    "id": f"m{i}",
                    "opts": {"family": "antminer", "address": f"127.0.0.{i}"},
                }
                for i in range(1, 4)
            ]
        )
        await reg.update_thing({"id": "m1", "info": {"pos": "A1"}, "tags": ["hot"]})
        await reg.forget_things({"ids": ["m3"]})
        again = Registry(engine, LiveIndex())
        await again.load()
        assert sorted(again.live.things) == ["m1", "m2"]
        assert again.live.things["m1"]["info"] == {"pos": "A1"}
        assert "hot" in again.live.things["m1"]["tags"]
        assert again.list_racks()[0]["things"] == 2
    finally:
        await engine.dispose()


async def test_latest_snapshots_survive_a_restart(db_url: str) -> None:
    # Read back in chunks as JSON text: a snapshot, a failed poll (stored as JSON null)
    # and a thing never polled come back as they were in the live index.
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        reg = Registry(engine, LiveIndex())
        await reg.load()
        await reg.register_rack("r1", "miner", {})
        await reg.register_things(
            [{"rack": "r1", "id": f"m{i}", "opts": {"family": "antminer", "address": "x"}}
             for i in range(1, 2002)]
        )  # fmt: skip
        snap = {"stats": {"status": "online", "hashrate": 7e12}, "config": {"model": "S21"}}
        await write_snapshots(
            engine,
            [
                {"spool_id": "s", "seq": 1, "thing_id": "m1", "rack_id": "r1", "ts": 10,
                 "err": None, "snap": snap},
                {"spool_id": "s", "seq": 2, "thing_id": "m2", "rack_id": "r1", "ts": 11,
                 "err": "ERR_DEVICE_TIMEOUT", "snap": None},
            ],
        )  # fmt: skip
        again = Registry(engine, LiveIndex(stale_ms=10**15))
        await again.load()
        things = again.live.things
        assert len(things) == 2001  # more than one chunk
        assert things["m1"]["last"]["snap"]["stats"]["hashrate"] == 7e12
        assert things["m1"]["last"]["snap"]["config"]["model"] == "S21"
        assert things["m1"]["last"].hot.status == "online"
        assert things["m2"]["last"]["err"] == "ERR_DEVICE_TIMEOUT"
        assert things["m2"]["last"]["snap"]["stats"]["status"] == "error"
        assert things["m3"]["last"] is None
        assert again.live.aggregates.to_dict()["hashrate_by_coin"] == {"unknown": 7_000_000_000_000}
    finally:
        await engine.dispose()
