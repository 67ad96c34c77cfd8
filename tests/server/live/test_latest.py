"""A thing's packed latest snapshot: same document as before, hot paths without decoding."""

from __future__ import annotations

import sys
import tracemalloc
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from hashfleet.model.snapshot import Snapshot
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.live.latest import Latest, hot_from_snap, pack_json, unpack_json
from hashfleet.server.query.matcher import compile_query
from hashfleet.server.query.paths import MISSING, getter, project
from hashfleet.wire.codec import json_dumps, json_loads


def antminer(hashrate: float = 100e12, status: str = "online") -> dict[str, Any]:
    return {
        "stats": {
            "status": status,
            "hashrate": hashrate,
            "power_w": 3250.0,
            "temp_max": 71.0,
            "hashboards": [
                {"index": 0, "hashrate": hashrate / 2, "temp_chip": 80.0},
                {"index": 1, "hashrate": hashrate / 2, "temp_chip": 83.5},
            ],
            "pools": [
                {"url": "stratum+tcp://backup:3333", "active": False},
                {"url": "stratum+tcp://main:3333", "active": True},
            ],
            "coin": "BTC",
            "algorithm": "sha256d",
        },
        "config": {"model": "Antminer S21", "make": "Bitmain"},
    }


def full(snap: dict[str, Any]) -> dict[str, Any]:
    """What the index showed before packing: the model's full shape (None where absent)."""
    return msgspec.json.decode(json_dumps(snap), type=Snapshot).to_dict()


def test_reads_as_the_plain_document_it_replaces() -> None:
    snap = antminer()
    latest = Latest.from_row({"ts": 5, "err": None, "snap": json_dumps(snap), "doc": full(snap)})
    assert dict(latest) == {"ts": 5, "err": None, "snap": full(snap)}
    assert latest["snap"]["stats"]["hashboards"][1]["temp_chip"] == 83.5
    assert latest.get("stale") is None and "stale" not in latest
    # JSON of a document holding it is the JSON of the plain document.
    assert json_loads(json_dumps({"id": "m1", "last": latest})) == {
        "id": "m1",
        "last": {"ts": 5, "err": None, "snap": full(snap)},
    }
    assert latest == {"ts": 5, "err": None, "snap": full(snap)}


def test_hot_values() -> None:
    hot = hot_from_snap(antminer())
    assert (hot.status, hot.hashrate, hot.power_w, hot.temp_max) == ("online", 100e12, 3250.0, 71.0)
    assert hot.temp_chip == 83.5  # the hottest chip, not temp_max
    assert hot.pool == "stratum+tcp://main:3333"  # the active one
    assert hot.model == "Antminer S21"
    rig = {"stats": {"streams": [{"software": "x", "coin": "XMR", "hashrate": 9e3}, {}]}}
    assert hot_from_snap(rig).streams == (("XMR", "unknown", 9e3), ("unknown", "unknown", None))
    # Not readings: bools, NaN and strings are no numbers.
    odd = {"stats": {"hashrate": True, "power_w": float("nan"), "temp_max": "hot"}}
    assert (hot_from_snap(odd).hashrate, hot_from_snap(odd).power_w) == (None, None)
    assert hot_from_snap(None).status == "offline"


def test_failed_poll_keeps_the_identity_it_knew() -> None:
    ok = Latest.from_row({"ts": 1, "err": None, "snap": json_dumps(antminer())})
    failed = Latest.from_row({"ts": 2, "err": "ERR_DEVICE_OFFLINE", "snap": None}, ok)
    assert failed.hot.status == "offline"
    assert failed["snap"]["config"]["model"] == "Antminer S21"
    garbage = Latest.from_row({"ts": 3, "err": "ERR_DEVICE_REPLY", "snap": None}, failed)
    assert garbage.hot.status == "error" and garbage["err"] == "ERR_DEVICE_REPLY"


def test_stale_turns_offline_everywhere() -> None:
    latest = Latest.from_row({"ts": 1, "err": None, "snap": json_dumps(antminer())}).offline()
    assert latest.hot.status == "offline"
    assert latest["snap"]["stats"]["status"] == "offline"
    assert latest["stale"] is True and dict(latest)["stale"] is True
    again = Latest.from_mapping(dict(latest))
    assert dict(again) == dict(latest) and again.hot == latest.hot


def test_paths_and_projection_through_it() -> None:
    latest = Latest.from_row({"ts": 7, "err": None, "snap": json_dumps(antminer())})
    doc = {"id": "m1", "last": latest}
    assert getter("last.snap.stats.hashrate")(doc) == 100e12
    assert getter("last.snap.stats.hashboards.temp_chip")(doc) == [80.0, 83.5]
    assert getter("last.snap.stats.pools.1.url")(doc) == "stratum+tcp://main:3333"
    assert getter("last.snap.stats.uptime_s")(doc) is None  # in the model, not reported
    assert getter("last.ts")(doc) == 7
    assert getter("last.nope")(doc) is MISSING
    assert project(doc, {"id": 1, "last.snap.stats.hashrate": 1}) == {
        "id": "m1",
        "last": {"snap": {"stats": {"hashrate": 100e12}}},
    }
    dropped = project(doc, {"last.snap.stats.hashboards": 0})
    assert "hashboards" not in dropped["last"]["snap"]["stats"]
    assert dropped["last"]["snap"]["stats"]["hashrate"] == 100e12
    assert compile_query({"last.snap.stats.hashboards.temp_chip": {"$gt": 83}})(doc)
    assert not compile_query({"last.snap.stats.status": "offline"})(doc)


_maybe_num = st.one_of(st.none(), st.floats(0, 1e15), st.integers(0, 10**6))


@settings(max_examples=200, deadline=None)
@given(
    status=st.sampled_from(["online", "offline", "error", "sleeping"]),
    hashrate=_maybe_num,
    power=_maybe_num,
    temp=_maybe_num,
    coin=st.one_of(st.none(), st.sampled_from(["BTC", "LTC"])),
    stale=st.booleans(),
)
def test_hot_paths_answer_what_decoding_answers(
    status: str, hashrate: Any, power: Any, temp: Any, coin: str | None, stale: bool
) -> None:
    stats = {"status": status, "hashrate": hashrate, "power_w": power, "temp_max": temp}
    stats["coin"] = coin
    latest = Latest.from_row({"ts": 1, "err": None, "snap": json_dumps({"stats": stats})})
    if stale:
        latest = latest.offline()
    packed = {"last": latest}
    plain = {"last": latest.to_dict()}
    for field in ("status", "hashrate", "power_w", "temp_max", "coin", "uptime_s"):
        path = f"last.snap.stats.{field}"
        want = getter(path)(plain)
        got = getter(path)(packed)
        assert got == want, field
        for q in ({path: want}, {path: {"$exists": True}}, {path: {"$gt": 10}}, {path: None}):
            assert compile_query(q)(packed) == compile_query(q)(plain), q


def test_the_index_keeps_it_small() -> None:
    live = LiveIndex()
    live.load([{"id": "m1", "type": "miner", "rack": "r1", "last": None}])
    raw = json_dumps(antminer())
    live.apply([{"thing_id": "m1", "ts": 1, "err": None, "snap": raw, "doc": full(antminer())}])
    latest = live.things["m1"]["last"]
    assert isinstance(latest, Latest) and latest.json == raw
    assert len(latest.packed) < len(raw) / 2
    size = sys.getsizeof(latest) + sys.getsizeof(latest.packed) + sys.getsizeof(latest.hot)
    assert size < len(raw)  # the decoded snapshot was ~6x its JSON


def test_packed_snapshots_take_a_fraction_of_their_json_in_memory() -> None:
    # Measured by the allocator, not sys.getsizeof: a bytes object can be allocated larger
    # than it says (zstandard's are, until copied).
    raws = [json_dumps(antminer(hashrate=100e12 + i)) for i in range(200)]
    tracemalloc.start()
    try:
        packed = [pack_json(r) for r in raws]
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert [unpack_json(p) for p in packed] == raws
    assert used < 0.4 * sum(map(len, raws)), used
