"""Canned XMRig 6.x documents → exact canonical values; broken ones → DeviceReplyInvalid."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.xmrig.parse import parse
from hashfleet.model.snapshot import Fan, Hashboard, Pool

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/xmrig/fixtures"


def summary() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / "xmrig_6.21.0_summary.json").read_text())
    return doc


def backends() -> list[dict[str, Any]]:
    doc: list[dict[str, Any]] = json.loads((FIXTURES / "xmrig_6.21.0_backends.json").read_text())
    return doc


def test_summary_and_backends_give_exact_canonical_values() -> None:
    snap = parse(summary(), backends())
    s = snap.stats
    assert s.status == "online"
    assert s.hashrate == 18413.85  # hashrate.total[0], the 10 s window
    assert s.hashrate_nominal is None
    assert (s.algorithm, s.coin) == ("rx/0", "XMR")
    assert s.uptime_s == 416_689
    assert s.power_w is None and s.temp_max is None  # a CPU reports neither
    assert s.hashboards == [Hashboard(index=0, hashrate=18413.85)]
    assert s.fans == []
    assert s.pools == [
        Pool(url="xmr.pool.example.net:3333", active=True, accepted=63_982, rejected=256)
    ]
    assert s.errors == []
    assert snap.config.make == "XMRig"
    assert snap.config.model == "AMD Ryzen 9 5950X 16-Core Processor"
    assert snap.config.firmware == "6.21.0"
    assert snap.config.hostname == "rig-192-168-1-50"


def test_without_backends_there_are_no_hashboards() -> None:
    s = parse(summary()).stats
    assert s.hashboards == []
    assert s.hashrate == 18413.85


def test_null_10s_window_falls_back_to_60s() -> None:
    doc = summary()
    doc["hashrate"]["total"] = [None, 18200.5, 18100.0]
    assert parse(doc).stats.hashrate == 18200.5
    doc["hashrate"]["total"] = [None, None, None]
    assert parse(doc).stats.hashrate is None


def test_paused_rig_is_sleeping_not_dead() -> None:
    doc, back = summary(), backends()
    doc["paused"] = True
    doc["hashrate"]["total"] = [0.0, 9000.0, 17000.0]
    for thread in back[0]["threads"]:
        thread["hashrate"] = [0.0, 300.0, 500.0]
    s = parse(doc, back).stats
    assert s.status == "sleeping"
    assert s.hashrate == 0.0
    assert s.errors == []


def test_pool_connection_down_is_flagged() -> None:
    doc = summary()
    doc["connection"].update(ip=None, uptime=0, uptime_ms=0)
    s = parse(doc).stats
    assert s.pools[0].alive is False
    assert s.errors == ["ERR_POOL_DOWN"]


def test_stalled_threads_flag_a_dead_device() -> None:
    back = backends()
    for thread in back[0]["threads"][16:]:
        thread["hashrate"] = [0.0, 0.0, 0.0]
    s = parse(summary(), back).stats
    assert s.hashboards[0].ok is False
    assert s.errors == ["ERR_HASHBOARD_DEAD"]


def test_gpu_backend_threads_become_boards_with_health() -> None:
    back = backends()
    gpu = copy.deepcopy(back[1])
    gpu.update(type="opencl", enabled=True, algo="rx/0")
    gpu["threads"] = [
        {"index": 0, "hashrate": [2100.5, 2099.0, 2098.0],
         "health": {"temperature": 71, "power": 120, "clock": 1500, "mem_clock": 1750,
                    "fan_speed": [1850]}},
        {"index": 1, "hashrate": [2050.0, 2049.0, 2048.0],
         "health": {"temperature": 92, "power": 135, "fan_speed": [2400, 2410]}},
    ]  # fmt: skip
    back[1] = gpu
    s = parse(summary(), back).stats
    assert [b.index for b in s.hashboards] == [0, 1, 2]
    assert s.hashboards[1] == Hashboard(index=1, hashrate=2100.5, temp_chip=71.0)
    assert s.hashboards[2].temp_chip == 92.0
    assert s.power_w == 255.0
    assert s.fans == [Fan(index=0, rpm=1850), Fan(index=1, rpm=2400), Fan(index=2, rpm=2410)]
    assert s.temp_max == 92.0
    assert s.errors == ["ERR_OVERHEAT"]


def test_unknown_algorithm_has_no_coin() -> None:
    doc = summary()
    doc["algo"] = "kawpow"
    s = parse(doc).stats
    assert (s.algorithm, s.coin) == ("kawpow", None)


@pytest.mark.parametrize(
    "doc",
    [
        [],
        "garbage",
        {"id": "abc"},
        {"hashrate": {"total": "fast"}},
        {"hashrate": {"total": ["fast", 1.0, 1.0]}},
        {"hashrate": {"total": [1.0]}, "uptime": "long"},
        {"hashrate": {"total": [1.0]}, "connection": {"pool": "p:1", "accepted": "many"}},
    ],
)
def test_wrong_shapes_are_invalid(doc: Any) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse(doc)


@pytest.mark.parametrize("back", [{"type": "cpu"}, "garbage", [{"enabled": True, "threads": 5}]])
def test_wrong_backends_are_invalid(back: Any) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse(summary(), back)
