"""Canned T-Rex ``/summary`` documents (0.26.8 dual mining, 0.19.14 starting up) →
exact canonical values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.trex.parse import parse
from hashfleet.model.snapshot import Hashboard, HashStream, Pool

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/trex/fixtures"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


DUAL_RATE = 218_282_591.0  # dual_stat.hashrate, H/s


def test_dual_mining_summary_of_0_26_8() -> None:
    snap = parse(load("trex_0.26.8_dual.json"))
    s = snap.stats
    assert (s.status, s.errors) == ("online", [])
    assert s.hashrate == 147_028_642.0
    assert (s.algorithm, s.coin) == ("etchash", "ETC")
    assert s.uptime_s == 1_079_089
    assert s.power_w == 424.0 and s.temp_max == 60.0
    assert s.hashboards[0] == Hashboard(
        index=0, kind="gpu", name="RTX 3080", software="T-Rex 0.26.8", hashrate=90_127_748.0,
        temp_chip=60.0, temp_mem=92.0, power_w=278.0, fan_pct=71.0, clock_core_mhz=1270.0,
        clock_mem_mhz=9501.0, accepted=24_125, rejected=72,
    )  # fmt: skip
    assert s.streams == [
        HashStream(software="T-Rex 0.26.8", algorithm="etchash", coin="ETC",
                   hashrate=147_028_642.0, power_w=424.0),
        HashStream(software="T-Rex 0.26.8", algorithm="autolykos2", coin="ERG",
                   hashrate=DUAL_RATE),
    ]  # fmt: skip
    assert s.pools == [
        Pool(url="stratum+tcp://etc.pool.example.net:1010", active=True, accepted=39_342,
             rejected=117, user="0x3f5CE5FBFe3E9af3971dD833D26bA9b5C936f0bE"),
        Pool(url="stratum+tcp://erg.pool.example.net:9999", active=True, accepted=29_525,
             rejected=148, user="0x3f5CE5FBFe3E9af3971dD833D26bA9b5C936f0bE"),
    ]  # fmt: skip
    c = snap.config
    assert (c.make, c.firmware, c.software) == ("T-Rex", "0.26.8", "T-Rex 0.26.8")


def test_card_building_its_dag_is_not_dead_yet() -> None:
    s = parse(load("trex_0.19.14_starting.json")).stats
    assert s.uptime_s == 41
    assert [b.hashrate for b in s.hashboards] == [29_512_345.0, 29_332_345.0, 0.0]
    assert all(b.ok for b in s.hashboards) and s.errors == []
    assert all(b.temp_mem is None and b.clock_core_mhz is None for b in s.hashboards)
    assert (s.algorithm, s.coin) == ("kawpow", "RVN")


def test_same_card_later_is_dead() -> None:
    doc = load("trex_0.19.14_starting.json")
    doc["uptime"] = 900
    s = parse(doc).stats
    assert [b.ok for b in s.hashboards] == [True, True, False]
    assert s.errors == ["ERR_HASHBOARD_DEAD"]


def test_reconnecting_pool_and_paused_miner() -> None:
    doc = load("trex_0.26.8_dual.json")
    doc["active_pool"]["retries"] = 3
    s = parse(doc).stats
    assert s.errors == ["ERR_POOL_DOWN"] and not s.pools[0].alive
    doc = load("trex_0.26.8_dual.json")
    doc["paused"] = True
    for g in doc["gpus"]:
        g["hashrate"] = 0
    s = parse(doc).stats
    assert s.status == "sleeping" and s.errors == []


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"hashrate": 5},
        {"gpus": "many"},
        {"gpus": [{"hashrate": "fast"}]},
        {"gpus": [], "active_pool": ["x"]},
        {"gpus": [], "dual_stat": 7},
        {"gpus": [{"shares": {"accepted_count": -1}}]},
    ],
)
def test_wrong_shapes_are_invalid(doc: Any) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse(doc)
