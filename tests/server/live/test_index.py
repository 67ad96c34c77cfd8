"""The live index: snapshots applied in order, stale things turn offline, aggregates."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hashfleet.server.live.aggregates import Aggregates
from hashfleet.server.live.index import LiveIndex
from hashfleet.server.live.latest import hot_of


def thing(thing_id: str, thing_type: str = "miner") -> dict[str, Any]:
    return {
        "id": thing_id,
        "code": thing_id,
        "type": thing_type,
        "rack": "r1",
        "tags": [],
        "info": {},
        "opts": {"address": "127.0.0.1"},
        "last": None,
    }


def snap_row(
    thing_id: str,
    ts: int,
    hashrate: float = 100e12,
    coin: str = "BTC",
    power: float = 3000.0,
    status: str = "online",
) -> dict[str, Any]:
    return {
        "thing_id": thing_id,
        "ts": ts,
        "err": None,
        "snap": {
            "stats": {
                "status": status,
                "hashrate": hashrate,
                "coin": coin,
                "algorithm": "sha256d",
                "power_w": power,
            },
            "config": {"model": "Antminer S19j Pro"},
        },
    }


def test_apply_sets_last_and_aggregates() -> None:
    live = LiveIndex()
    live.load([thing("a"), thing("b")])
    now = 1_000_000
    live.apply([snap_row("a", now), snap_row("b", now, hashrate=50e12)])
    agg = live.aggregates.to_dict()
    assert agg["hashrate_by_coin"] == {"BTC": 150_000_000_000_000}
    assert agg["coin_hashrate_map"] == {"BTC": [150.0, "TH/s"]}
    assert agg["total_power_w"] == 6000.0
    assert agg["alive"] == "2/2"
    assert live.things["a"]["last"]["snap"]["stats"]["hashrate"] == 100e12


def test_older_snapshot_is_ignored() -> None:
    live = LiveIndex()
    live.load([thing("a")])
    live.apply([snap_row("a", 2000, hashrate=2e12)])
    assert live.apply([snap_row("a", 1000, hashrate=1e12)]) == 0
    assert live.things["a"]["last"]["snap"]["stats"]["hashrate"] == 2e12


def test_error_snapshot_keeps_identity_and_marks_status() -> None:
    live = LiveIndex()
    live.load([thing("a")])
    live.apply([snap_row("a", 1000)])
    live.apply([{"thing_id": "a", "ts": 2000, "err": "ERR_DEVICE_TIMEOUT", "snap": None}])
    last = live.things["a"]["last"]
    assert last["err"] == "ERR_DEVICE_TIMEOUT"
    assert last["snap"]["stats"]["status"] == "error"
    assert last["snap"]["config"]["model"] == "Antminer S19j Pro"
    live.apply([{"thing_id": "a", "ts": 3000, "err": "ERR_DEVICE_OFFLINE", "snap": None}])
    assert live.things["a"]["last"]["snap"]["stats"]["status"] == "offline"
    assert live.aggregates.to_dict()["alive"] == "0/1"


def test_stale_thing_turns_offline_and_recovers() -> None:
    live = LiveIndex(stale_ms=60_000)
    live.load([thing("a"), thing("b")])
    live.apply([snap_row("a", 100_000), snap_row("b", 150_000)])
    assert live.sweep(now=159_999) == 0
    assert live.sweep(now=160_001) == 1
    assert live.things["a"]["last"]["snap"]["stats"]["status"] == "offline"
    assert live.things["b"]["last"]["snap"]["stats"]["status"] == "online"
    agg = live.aggregates.to_dict()
    assert agg["alive"] == "1/2"
    assert agg["hashrate_by_coin"] == {"BTC": 100_000_000_000_000}
    live.apply([snap_row("a", 170_000)])
    assert live.aggregates.to_dict()["alive"] == "2/2"


def test_remove_thing_subtracts_it() -> None:
    live = LiveIndex()
    live.load([thing("a"), thing("b")])
    live.apply([snap_row("a", 1), snap_row("b", 1)])
    live.remove_thing("a")
    agg = live.aggregates.to_dict()
    assert agg["total_count"] == 1
    assert agg["hashrate_by_coin"] == {"BTC": 100_000_000_000_000}


_update = st.tuples(
    st.sampled_from(["a", "b", "c", "d"]),
    st.sampled_from(["online", "offline", "sleeping", "error"]),
    st.sampled_from(["BTC", "XMR", "KAS"]),
    st.floats(min_value=0, max_value=1e15, allow_nan=False),
    st.floats(min_value=0, max_value=5000, allow_nan=False),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_update, max_size=60), st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=3))
def test_incremental_aggregates_equal_a_full_recount(
    updates: list[Any], removed: list[str]
) -> None:
    live = LiveIndex()
    live.load([thing(i) for i in "abcd"])
    for ts, (tid, status, coin, hs, power) in enumerate(updates, start=1):
        live.apply([snap_row(tid, ts, hashrate=hs, coin=coin, power=power, status=status)])
    for tid in removed:
        live.remove_thing(tid)
    fresh = Aggregates()
    for doc in live.things.values():
        fresh.apply(doc["id"], doc["type"], hot_of(doc.get("last")))
    got, want = live.aggregates.to_dict(), fresh.to_dict()
    assert abs(got.pop("total_power_w") - want.pop("total_power_w")) < 0.5
    assert got == want
