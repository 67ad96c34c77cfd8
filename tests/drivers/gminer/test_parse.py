"""Canned GMiner ``/stat`` documents (3.44 dual mining, 2.75 with numbers as strings) →
exact canonical values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.gminer.parse import parse
from hashfleet.model.snapshot import Hashboard, HashStream, Pool

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/gminer/fixtures"
KAS_USER = "kaspa:qz0s9fj5x8hm0yhph2kt6ud6zr0x4g7v6c9h6sk9mq3n8jrl5pu0x4d2y8c3m.rig1"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def test_dual_mining_stat_of_3_44() -> None:
    snap = parse(load("gminer_3.44_dual.json"))
    s = snap.stats
    assert (s.status, s.errors) == ("online", [])
    assert s.hashrate == 180_336_484.03  # sum of devices[].speed (H/s)
    assert (s.algorithm, s.coin) == ("etchash", "ETC")
    assert s.uptime_s == 1_079_089 and s.power_w == 555.0 and s.temp_max == 63.0
    assert s.hashboards[0] == Hashboard(
        index=0, kind="gpu", name="NVIDIA GeForce RTX 3080", software="GMiner 3.44",
        hashrate=90_127_748.6, temp_chip=60.0, temp_mem=92.0, power_w=278.0, fan_pct=71.0,
        clock_core_mhz=1270.0, clock_mem_mhz=9501.0, accepted=24_125, rejected=72,
    )  # fmt: skip
    assert s.streams == [
        HashStream(software="GMiner 3.44", algorithm="etchash", coin="ETC",
                   hashrate=180_336_484.03, power_w=555.0),
        HashStream(software="GMiner 3.44", algorithm="kheavyhash", coin="KAS",
                   hashrate=1_364_488_289.48),
    ]  # fmt: skip
    assert s.pools == [
        Pool(url="stratum+tcp://etc.pool.example.net:1010", active=True, accepted=48_250,
             rejected=144, user="0x3f5CE5FBFe3E9af3971dD833D26bA9b5C936f0bE.rig1"),
        Pool(url="stratum+tcp://kas.pool.example.net:5555", active=True, accepted=36_908,
             rejected=184, user=KAS_USER),
    ]  # fmt: skip
    c = snap.config
    assert (c.make, c.firmware, c.software) == ("GMiner", "3.44", "GMiner 3.44")


def test_old_stat_with_numbers_as_strings() -> None:
    snap = parse(load("gminer_2.75_strings.json"))
    s = snap.stats
    assert s.uptime_s == 803_943  # "803943"
    assert [b.hashrate for b in s.hashboards] == [23.03, 23.0, 23.03]  # Sol/s, one a string
    assert s.hashboards[1].temp_chip == 53.0  # "53"
    assert s.hashboards[2].power_w is None  # 0 W: no power sensor
    assert s.power_w == 124.0
    assert (s.algorithm, s.coin) == ("equihash125_4", "FLUX")
    assert all(b.temp_mem is None and b.clock_core_mhz is None for b in s.hashboards)
    assert len(s.streams) == 1 and s.errors == []
    assert snap.config.firmware == "2.75"


def test_idle_cards_hot_cards_and_a_dead_card() -> None:
    doc = load("gminer_3.44_dual.json")
    doc["devices"][1]["speed"] = 0
    doc["devices"][0]["temperature"] = 95
    s = parse(doc).stats
    assert [b.ok for b in s.hashboards] == [True, False]
    assert s.errors == ["ERR_HASHBOARD_DEAD", "ERR_OVERHEAT"]
    for dev in doc["devices"]:
        dev["speed"] = dev["speed2"] = 0
    s = parse(doc).stats
    assert "ERR_POOL_DOWN" in s.errors and all(b.ok for b in s.hashboards)


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"miner": "GMiner 3.44"},
        {"devices": {"0": {}}},
        {"devices": [{"speed": "fast"}]},
        {"devices": [], "algorithm": ["Etchash"]},
        {"devices": [{"accepted_shares": -3}]},
        {"devices": [], "uptime": {"s": 1}},
    ],
)
def test_wrong_shapes_are_invalid(doc: Any) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse(doc)
