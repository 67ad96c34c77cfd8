"""Rollup operations: extraction, bucket reduction, tag entries, merges over time."""

from __future__ import annotations

from collections import Counter

import pytest

from hashfleet.core.errors import BadRequest
from hashfleet.server.series.ops import (
    Entry,
    ThingAcc,
    cross_thing,
    extract,
    merge_entries,
    merge_thing,
    ratio_fields,
    stat_entry,
    stat_ops,
)
from hashfleet.server.series.spec import DEFAULT_SPEC, StatSpec

SPEC = StatSpec()
MINER = SPEC.types["miner"]


def snap(hashrate: float, power: float, temp: float, status: str = "online") -> dict:
    return {
        "stats": {"status": status, "hashrate": hashrate, "power_w": power, "temp_max": temp},
        "config": {"model": "S19"},
    }


def test_extract_reads_paths_scales_and_computed_sources() -> None:
    v = extract(MINER, "m1", snap(100e12, 3000, 70), None)
    assert v["hashrate_mhs"] == pytest.approx(100e6)
    assert v["online"] == 1.0 and v["offline_id"] is None and v["model"] == "S19"
    down = extract(MINER, "m1", None, "ERR_TIMEOUT")
    assert down["online"] == 0.0 and down["offline_id"] == "m1" and down["hashrate_mhs"] is None


def test_bucket_reduction_avg_max_last() -> None:
    acc = ThingAcc()
    acc.add(MINER, 2, extract(MINER, "m1", snap(90e12, 3000, 70), None))
    acc.add(MINER, 1, extract(MINER, "m1", snap(110e12, 3200, 80, "online"), None))
    acc.add(MINER, 3, extract(MINER, "m1", snap(0, 0, 60, "sleeping"), None))
    out = acc.result(MINER)
    assert acc.cnt == 3
    assert out["hashrate_mhs"] == pytest.approx(200e6 / 3)
    assert out["temp_max"] == 80  # max op
    assert out["status"] == "sleeping"  # last by time, not by arrival
    assert out["online"] == pytest.approx(2 / 3)


def test_absorb_equals_adding_everything_to_one() -> None:
    a, b, whole = ThingAcc(), ThingAcc(), ThingAcc()
    for i, (acc, t) in enumerate([(a, 50), (b, 90), (a, 70), (b, 65)]):
        values = extract(MINER, "m1", snap(t * 1e12, t * 30, t), None)
        acc.add(MINER, i, values)
        whole.add(MINER, i, values)
    a.absorb(MINER, b)
    assert a.result(MINER) == pytest.approx(whole.result(MINER))


def test_stat_entry_every_op() -> None:
    things = [
        {"hashrate_mhs": 100.0, "power_w": 3000.0, "temp_max": 70.0, "online": 1.0,
         "status": "online", "model": "S19", "offline_id": None, "hashrate_nominal_mhs": 110.0},
        {"hashrate_mhs": 50.0, "power_w": 1500.0, "temp_max": 90.0, "online": 1.0,
         "status": "online", "model": "S21", "offline_id": None, "hashrate_nominal_mhs": None},
        {"hashrate_mhs": None, "power_w": None, "temp_max": None, "online": 0.0,
         "status": "offline", "model": "S19", "offline_id": "m3", "hashrate_nominal_mhs": None},
    ]  # fmt: skip
    data = stat_entry(MINER, things, ["m1", "m2", "m3"], Counter({"critical": 1, "low": 2}))
    assert data["hashrate_mhs_5m_sum"] == 150.0
    assert data["hashrate_mhs_5m_avg"] == 75.0
    assert data["temp_max_max"] == 90.0
    assert data["things_cnt"] == 3 and data["online_cnt"] == 2.0
    assert data["status_group_cnt"] == {"offline": 1, "online": 2}
    assert data["hashrate_mhs_model_group_sum"] == {"S19": 100.0, "S21": 50.0}
    assert data["efficiency_w_ths"] == pytest.approx(4500 / 150 * 1e6)
    assert data["alerts"] == {"critical": 1, "high": 0, "medium": 0, "low": 2}


def test_custom_spec_ops_obj_concat_group_avg_max_min() -> None:
    spec = StatSpec(
        {
            "sensor": {
                "thing": {
                    "t": {"path": "stats.environment.temperature_c"},
                    "room": {"path": "info.room", "op": "last"},
                    "down": {"path": "$offline_id", "op": "last"},
                },
                "stat": {
                    "by_thing": {"op": "obj_concat", "src": "t"},
                    "rooms": {"op": "group", "by": "room"},
                    "room_avg": {"op": "group_avg", "src": "t", "by": "room"},
                    "room_max": {"op": "group_max", "src": "t", "by": "room"},
                    "coldest": {"op": "min", "src": "t"},
                    "seen": {"op": "cnt", "src": "t"},
                    "offline": {"op": "arr_concat", "src": "down"},
                },
            }
        }
    ).types["sensor"]  # fmt: skip
    things = [
        {"t": 20.0, "room": "a", "down": None},
        {"t": 30.0, "room": "a", "down": None},
        {"t": None, "room": "b", "down": "s3"},
    ]
    data = stat_entry(spec, things, ["s1", "s2", "s3"], Counter())
    assert data["by_thing"] == {"s1": 20.0, "s2": 30.0}
    assert data["rooms"] == ["a", "b"]
    assert data["room_avg"] == {"a": 25.0}
    assert data["room_max"] == {"a": 30.0}
    assert data["coldest"] == 20.0 and data["seen"] == 2
    assert data["offline"] == ["s3"]


def test_merge_over_time_weighs_by_intervals_and_recomputes_ratios() -> None:
    e1 = Entry(
        0,
        10,
        1,
        {
            "hashrate_mhs_5m_sum": 100.0,
            "power_w_sum": 3000.0,
            "temp_max_max": 70.0,
            "status_group_cnt": {"online": 2},
        },
    )
    e2 = Entry(1, 30, 3, {"hashrate_mhs_5m_sum": 200.0, "power_w_sum": 3000.0,
                          "temp_max_max": 60.0,
                          "status_group_cnt": {"online": 1, "offline": 1}})  # fmt: skip
    data = merge_entries(stat_ops(MINER), [e1, e2], ratio_fields(MINER))
    assert data["hashrate_mhs_5m_sum"] == pytest.approx((100 + 3 * 200) / 4)
    assert data["temp_max_max"] == 70.0
    # A group key absent from an interval counted zero there.
    assert data["status_group_cnt"] == pytest.approx({"online": 1.25, "offline": 0.75})
    assert data["efficiency_w_ths"] == pytest.approx(3000 / data["hashrate_mhs_5m_sum"] * 1e6)


def test_merge_thing_late_arrival_is_weighted_by_snapshots() -> None:
    a = Entry(0, 3, 1, {"hashrate_mhs": 100.0, "temp_max": 70.0, "status": "online"})
    b = Entry(0, 1, 1, {"hashrate_mhs": 200.0, "temp_max": 80.0, "status": "online"})
    merged = merge_thing(MINER, a, b)
    assert merged.cnt == 4 and merged.data["hashrate_mhs"] == 125.0
    assert merged.data["temp_max"] == 80.0


def test_cross_thing_sums_means_and_keeps_maxima() -> None:
    out = cross_thing(
        MINER, [{"hashrate_mhs": 1.0, "temp_max": 50.0}, {"hashrate_mhs": 2.0, "temp_max": 70.0}]
    )
    assert out["hashrate_mhs"] == 3.0 and out["temp_max"] == 70.0  # fmt: skip


@pytest.mark.parametrize(
    "raw",
    [
        {"miner": {"thing": {"h": {"path": "stats.hashrate", "op": "median"}}, "stat": {}}},
        {"miner": {"thing": {"h": {"path": "$nope"}}, "stat": {}}},
        {"miner": {"thing": {}, "stat": {"x": {"op": "sum", "src": "missing"}}}},
        {"miner": {"thing": {}, "stat": {"x": {"op": "ratio", "num": "a", "den": "b"}}}},
        {"miner": {"thing": {}, "stat": {"x": {"op": "teleport"}}}},
        {"miner": "not a spec"},
    ],
)
def test_bad_spec_is_refused_with_a_code(raw: dict) -> None:
    with pytest.raises(BadRequest) as info:
        StatSpec(raw)
    assert info.value.code == "ERR_CONFIG_INVALID"


def test_default_spec_covers_every_thing_type() -> None:
    from hashfleet.drivers.registry import THING_TYPES

    assert set(THING_TYPES.values()) | {"miner"} <= set(DEFAULT_SPEC)
