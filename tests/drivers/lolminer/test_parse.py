"""Canned lolMiner documents (1.88 dual mining, 1.29 legacy) → exact canonical values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.lolminer.parse import parse
from hashfleet.model.snapshot import Hashboard, HashStream, Pool

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/lolminer/fixtures"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def test_dual_mining_document_of_1_88() -> None:
    snap = parse(load("lolminer_1.88_dual.json"))
    s = snap.stats
    assert s.status == "online"
    assert s.hashrate == 179_620_000.0  # Total_Performance 179.62 times Performance_Factor 1e6
    assert (s.algorithm, s.coin) == ("etchash", "ETC")
    assert s.uptime_s == 109_612
    assert s.power_w == 578.9 and s.temp_max == 66.0
    assert s.hashboards[0] == Hashboard(
        index=0, kind="gpu", name="NVIDIA GeForce RTX 3080", software="lolMiner 1.88",
        hashrate=89_710_000.0, temp_chip=63.0, temp_mem=96.0, power_w=268.4, fan_pct=72.0,
        clock_core_mhz=1260.0, clock_mem_mhz=9501.0, accepted=2251, rejected=6,
    )  # fmt: skip
    # Quirks: the RTX 3070 is still building its DAG (null performance) and has no
    # memory-temperature sensor (GDDR6 reports 0).
    starting = s.hashboards[2]
    assert (starting.hashrate, starting.temp_mem, starting.ok) == (None, None, True)
    assert s.streams == [
        HashStream(software="lolMiner 1.88", algorithm="etchash", coin="ETC",
                   hashrate=179_620_000.0, power_w=578.9),
        HashStream(software="lolMiner 1.88", algorithm="kheavyhash", coin="KAS",
                   hashrate=1_370_000_000.0),
    ]  # fmt: skip
    assert s.pools[0] == Pool(url="etc.pool.example.net:1010",
                              user="0x3f5CE5FBFe3E9af3971dD833D26bA9b5C936f0bE", active=True,
                              accepted=4518, rejected=14)  # fmt: skip
    assert s.pools[1].accepted == 2077 and s.pools[1].rejected == 21
    assert s.errors == []
    c = snap.config
    assert (c.make, c.firmware, c.software, c.model) == ("lolMiner", "1.88", "lolMiner 1.88", None)


def test_legacy_document_of_1_29() -> None:
    snap = parse(load("lolminer_1.29_legacy.json"))
    s = snap.stats
    assert s.hashrate == 114.8  # sol/s
    assert (s.algorithm, s.coin) == ("equihash125_4", "FLUX")
    assert s.power_w == 283.1  # Session.TotalPower
    assert s.uptime_s == 7260
    assert [b.hashrate for b in s.hashboards] == [57.3, 57.5]
    assert [(b.accepted, b.rejected) for b in s.hashboards] == [(176, 1), (176, 2)]
    assert s.hashboards[1].temp_mem == 82.0 and s.hashboards[1].fan_pct == 57.0
    assert s.pools == [Pool(url="flux.pool.example.net:2033",
                            user="t1Yd8XNGbVUZC3FZpMTnRvTjeSJPiugwA9p.rig7", active=True,
                            accepted=352, rejected=3)]  # fmt: skip
    assert snap.config.firmware == "1.29"


def test_unit_without_factor_and_hot_dead_card() -> None:
    doc = load("lolminer_1.88_dual.json")
    algo = doc["Algorithms"][0]
    del algo["Performance_Factor"]
    algo["Worker_Performance"] = [89.71, 0.0, 60.0]
    doc["Workers"][0]["Core_Temp"] = 93
    s = parse(doc).stats
    assert s.hashrate == 179_620_000.0  # from the "Mh/s" unit
    assert [b.ok for b in s.hashboards] == [True, False, True]
    assert s.errors == ["ERR_HASHBOARD_DEAD", "ERR_OVERHEAT"]


def test_all_cards_idle_means_the_pool_is_gone() -> None:
    doc = load("lolminer_1.88_dual.json")
    for algo in doc["Algorithms"]:
        algo["Worker_Performance"] = [0.0, 0.0, 0.0]
        algo["Total_Performance"] = 0.0
    s = parse(doc).stats
    assert s.errors == ["ERR_POOL_DOWN"] and not any(p.alive for p in s.pools)
    assert all(b.ok for b in s.hashboards)


@pytest.mark.parametrize(
    "doc",
    [
        [],
        "lolMiner",
        {"Software": "lolMiner 1.88"},
        {"Algorithms": "many"},
        {"Algorithms": [{"Total_Performance": "fast", "Performance_Factor": 1}]},
        {"Workers": [{"Core_Temp": {"c": 1}}]},
        {"GPUs": [{"Performance": [1]}], "Session": {"Performance_Unit": "mh/s"}},
        {"GPUs": [], "Session": {"Uptime": -5}},
    ],
)
def test_wrong_shapes_are_invalid(doc: Any) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse(doc)
