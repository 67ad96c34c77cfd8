"""Ingest end to end inside the server: receive → bus (group commit) → store → live index,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hashfleet.core.errors import BadRequest
from hashfleet.core.settings import Settings
from hashfleet.server.ingest.receive import receive_batch
from hashfleet.server.state import ServerState
from hashfleet.server.store.snapshots import count_snapshots
from hashfleet.wire.codec import json_dumps
from hashfleet.wire.messages import IngestBatch
from tests.support.databases import sqlite_url

_decoder = msgspec.json.Decoder(IngestBatch)


def batch(spool: str, seqs: range, things: int = 3, **extra: Any) -> IngestBatch:
    items = [
        {
            "seq": s,
            "thing_id": f"m{s % things}",
            "ts": 1_000 + s,
            "snap": {"stats": {"status": "online", "hashrate": 1e12 * s, "coin": "BTC"}},
            **extra,
        }
        for s in seqs
    ]
    return _decoder.decode(json_dumps({"spool_id": spool, "items": items}))


async def started(db_url: str, tmp_path: Path) -> ServerState:
    state = ServerState(Settings.from_env(data_dir=tmp_path, database_url=db_url, stale_s=1e9))
    await state.start()
    await state.registry.register_rack("r1", "miner", {})
    await state.registry.register_rack("r2", "miner", {})
    await state.registry.register_things(
        [
            {"rack": "r1", "id": f"m{i}", "opts": {"family": "antminer", "address": "x"}}
            for i in range(3)
        ]
        + [{"rack": "r2", "id": "other", "opts": {"family": "antminer", "address": "y"}}]
    )
    return state


async def test_concurrent_batches_are_durable_deduplicated_and_live(
    db_url: str, tmp_path: Path
) -> None:
    state = await started(db_url, tmp_path)
    try:
        # Ten agents' batches at once: the bus merges them into few transactions.
        acks = await asyncio.gather(
            *(
                receive_batch(batch(f"spool-{a}", range(1, 51)), "r1", state.live, state.bus)
                for a in range(10)
            )
        )
        assert all(a.acked_seq == 50 and a.stored == 50 for a in acks)
        # A resend after a lost answer stores nothing and is still acknowledged.
        again = await receive_batch(batch("spool-0", range(1, 51)), "r1", state.live, state.bus)
        assert (again.acked_seq, again.stored, again.duplicates) == (50, 0, 50)
        assert await count_snapshots(state.engine) == 500
        last = state.live.things["m2"]["last"]
        assert last["ts"] == 1_050 and last["snap"]["stats"]["hashrate"] == 50e12
        assert state.live.aggregates.to_dict()["alive"] == "3/4"
    finally:
        await state.stop()


async def test_items_of_other_racks_and_unknown_things_are_dropped(
    db_url: str, tmp_path: Path
) -> None:
    state = await started(db_url, tmp_path)
    try:
        raw = json_dumps(
            {
                "spool_id": "s",
                "items": [
                    {
                        "seq": 1,
                        "thing_id": "other",
                        "ts": 5,
                        "snap": {"stats": {"status": "online"}},
                    },
                    {
                        "seq": 2,
                        "thing_id": "ghost",
                        "ts": 5,
                        "snap": None,
                        "err": "ERR_DEVICE_OFFLINE",
                    },
                    {
                        "seq": 3,
                        "thing_id": "m0",
                        "ts": 5,
                        "snap": None,
                        "err": "ERR_DEVICE_TIMEOUT",
                    },
                ],
            }
        )
        ack = await receive_batch(_decoder.decode(raw), "r1", state.live, state.bus)
        assert (ack.acked_seq, ack.stored) == (3, 1)
        assert state.live.things["other"]["last"] is None
        assert state.live.things["m0"]["last"]["snap"]["stats"]["status"] == "error"
    finally:
        await state.stop()


async def test_a_thing_unknown_here_is_read_from_the_store_before_dropping(
    db_url: str, tmp_path: Path
) -> None:
    # Several servers: "m0" was registered on another one and has not reached this live
    # index yet. With a refresh, its snapshots are stored; without one, they are dropped.
    state = await started(db_url, tmp_path)
    try:
        state.live.remove_thing("m0")
        asked: list[list[str]] = []

        async def refresh(ids: list[str]) -> None:
            asked.append(ids)
            await state.registry.reload(ids, [])

        ack = await receive_batch(batch("s", range(3, 4)), "r1", state.live, state.bus, refresh)
        assert (ack.stored, asked) == (1, [["m0"]])
        assert state.live.things["m0"]["last"]["ts"] == 1_003
        # Known things ask nothing; a thing the store does not hold either is still dropped.
        await receive_batch(batch("s", range(4, 5)), "r1", state.live, state.bus, refresh)
        assert asked == [["m0"]]
        ghost = _decoder.decode(
            json_dumps({"spool_id": "s", "items": [
                {"seq": 9, "thing_id": "ghost", "ts": 5, "snap": None, "err": "ERR_X"}]})
        )  # fmt: skip
        ack = await receive_batch(ghost, "r1", state.live, state.bus, refresh)
        assert (ack.acked_seq, ack.stored, asked[-1]) == (9, 0, ["ghost"])
    finally:
        await state.stop()


@pytest.mark.parametrize(
    "snap",
    [
        [1, 2],
        "text",
        5,
        # Objects of the wrong shape: each of these once broke the fleet view and the sweep.
        {"stats": "x"},
        {"stats": {"pools": ["x"]}},
        {"stats": {"hashrate": "fast"}},
        {"stats": {"status": "online"}, "config": [1]},
        {"config": {}},
    ],
)
async def test_a_snapshot_that_is_not_a_snapshot_is_refused(
    db_url: str, tmp_path: Path, snap: Any
) -> None:
    state = await started(db_url, tmp_path)
    try:
        raw = json_dumps(
            {"spool_id": "s", "items": [{"seq": 1, "thing_id": "m0", "ts": 5, "snap": snap}]}
        )
        with pytest.raises(BadRequest):
            await receive_batch(_decoder.decode(raw), "r1", state.live, state.bus)
        assert await count_snapshots(state.engine) == 0
    finally:
        await state.stop()


async def test_stop_finishes_the_write_in_progress(tmp_path: Path) -> None:
    from hashfleet.server.bus.embedded import EmbeddedBus

    written: list[int] = []
    release = asyncio.Event()

    async def slow_handler(rows: list[dict[str, Any]]) -> int:
        await release.wait()
        written.append(len(rows))
        return len(rows)

    bus = EmbeddedBus()
    await bus.start(slow_handler)
    publish = asyncio.create_task(bus.publish([{"seq": 1}, {"seq": 2}]))
    await asyncio.sleep(0.05)
    stopping = asyncio.create_task(bus.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert await publish == 2
    assert written == [2]


async def test_two_writers_overlap_and_stop_waits_for_both() -> None:
    from hashfleet.server.bus.embedded import EmbeddedBus

    in_progress: list[int] = []
    most = 0
    releases = [asyncio.Event(), asyncio.Event()]

    async def handler(rows: list[dict[str, Any]]) -> int:
        nonlocal most
        in_progress.append(rows[0]["seq"])
        most = max(most, len(in_progress))
        await releases[len(in_progress) - 1].wait()
        return len(rows)

    bus = EmbeddedBus(max_rows=1, writers=2)
    await bus.start(handler)
    first = asyncio.create_task(bus.publish([{"seq": 1}]))
    second = asyncio.create_task(bus.publish([{"seq": 2}]))
    await asyncio.sleep(0.05)
    assert most == 2  # the second write began before the first was committed
    stopping = asyncio.create_task(bus.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    releases[0].set()
    await asyncio.sleep(0.05)
    assert not stopping.done()  # one write still in progress
    releases[1].set()
    await asyncio.wait_for(stopping, 5)
    assert (await first, await second) == (1, 1)
    with pytest.raises(RuntimeError):
        await bus.publish([{"seq": 3}])


def _decode_item(**item: Any) -> IngestBatch:
    return _decoder.decode(json_dumps({"spool_id": "s", "items": [item]}))


@pytest.mark.parametrize(
    "item",
    [
        {"seq": 0, "thing_id": "m0", "ts": 5},
        {"seq": 2**64 - 1, "thing_id": "m0", "ts": 5},
        {"seq": 1, "thing_id": "m0", "ts": 2**64 - 1},
        {"seq": 1, "thing_id": "m0", "ts": -1},
        {"seq": 1, "thing_id": "m0", "ts": 5, "err": "E" * 65},
        {"seq": 1, "thing_id": "m" * 129, "ts": 5},
    ],
)
def test_out_of_range_items_do_not_decode(item: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        _decode_item(**item)


async def test_a_clock_in_the_future_is_not_believed(tmp_path: Path) -> None:
    from hashfleet.core.clock import now_ms

    state = await started(sqlite_url(tmp_path), tmp_path)
    try:
        year_2100 = 4_102_444_800_000
        snap = {"stats": {"status": "online"}}
        items = _decode_item(seq=1, thing_id="m0", ts=year_2100, snap=snap)
        before = now_ms()
        await receive_batch(items, "r1", state.live, state.bus)
        ts = state.live.things["m0"]["last"]["ts"]
        assert before <= ts <= now_ms() + 5 * 60_000
    finally:
        await state.stop()


async def test_a_failing_batch_does_not_fail_the_batches_written_with_it() -> None:
    from hashfleet.server.bus.embedded import EmbeddedBus

    written: list[list[int]] = []

    async def handler(rows: list[dict[str, Any]]) -> int:
        if any(r["seq"] < 0 for r in rows):
            raise ValueError("bad row")
        written.append([r["seq"] for r in rows])
        return len(rows)

    bus = EmbeddedBus()
    await bus.start(handler)
    try:
        # Queued together, so the bus groups them into one write.
        results = await asyncio.gather(
            bus.publish([{"seq": 1}]),
            bus.publish([{"seq": -1}]),
            bus.publish([{"seq": 2}, {"seq": 3}]),
            return_exceptions=True,
        )
    finally:
        await bus.stop()
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], ValueError)
    assert sorted(s for batch in written for s in batch) == [1, 2, 3]


def test_the_embedded_bus_writes_twice_at_once_on_postgresql_only(tmp_path: Path) -> None:
    from hashfleet.core.settings import Settings
    from hashfleet.server.bus.embedded import EmbeddedBus
    from hashfleet.server.state import make_bus

    pg = make_bus(Settings(data_dir=tmp_path, database_url="postgresql://db/hashfleet"))
    lite = make_bus(Settings(data_dir=tmp_path))
    assert isinstance(pg, EmbeddedBus) and isinstance(lite, EmbeddedBus)
    assert (pg.writers, lite.writers) == (2, 1)
