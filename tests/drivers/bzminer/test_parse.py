"""Canned BzMiner ``/status`` documents → exact canonical values; broken ones →
DeviceReplyInvalid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.bzminer.parse import parse
from hashfleet.model.snapshot import HashStream, Pool

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/bzminer/fixtures"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def test_v21_dual_mining_gives_two_streams_and_gpu_boards() -> None:
    snap = parse(load("bzminer_21.3.7_status.json"))
    s = snap.stats
    assert s.status == "online" and s.errors == []
    assert (s.algorithm, s.coin) == ("etchash", "ETC")
    assert s.hashrate == 147_028_643.25
    assert s.uptime_s == 1_079_089
    assert s.power_w == 424.1 and s.temp_max == 60.0
    assert s.streams == [
        HashStream(software="BzMiner 21.3.7", algorithm="etchash", coin="ETC",
                   hashrate=147_028_643.25, power_w=424.1),
        HashStream(software="BzMiner 21.3.7", algorithm="kheavyhash", coin="KAS",
                   hashrate=1_162_356_195.11),
    ]  # fmt: skip
    b0, b1 = s.hashboards
    assert (b0.kind, b0.name, b0.hashrate) == ("gpu", "NVIDIA GeForce RTX 3080", 90_127_748.6)
    assert (b0.temp_chip, b0.temp_mem, b0.power_w, b0.fan_pct) == (60.0, 92.0, 278.0, 71.0)
    assert (b0.clock_core_mhz, b0.clock_mem_mhz, b0.accepted, b0.rejected) == (
        1270.0, 9501.0, 24_125, 72)  # fmt: skip
    assert b1.temp_mem is None  # GDDR6: mem_temp 0, no sensor
    assert s.pools[1] == Pool(url="stratum+tcp://kas.pool.example.net:5555",
                              user="0x3f5CE5FBFe3E9af3971dD833D26bA9b5C936f0bE.rig21",
                              active=True, accepted=31_445, rejected=157)  # fmt: skip
    assert snap.config.make == "BzMiner" and snap.config.firmware == "21.3.7"
    assert snap.config.software == "BzMiner 21.3.7" and snap.config.hostname == "rig21"


def test_v13_quirks_string_power_no_clocks_minus_one_mem_temp() -> None:
    s = parse(load("bzminer_13.1.1_status.json")).stats
    amd, nvidia = s.hashboards
    assert amd.power_w == 55.9 and amd.temp_mem == 70.0
    assert nvidia.temp_mem is None and nvidia.clock_core_mhz is None
    assert s.power_w == 173.2 and len(s.streams) == 1


def test_fault_shapes() -> None:
    doc = load("bzminer_21.3.7_status.json")
    doc["devices"][1]["hashrate"] = [0.0, 0.0]
    doc["devices"][0]["core_temp"] = 93
    s = parse(doc).stats
    assert s.errors == ["ERR_HASHBOARD_DEAD", "ERR_OVERHEAT"]
    assert s.hashboards[1].ok is False
    doc = load("bzminer_21.3.7_status.json")
    for pool in doc["pools"]:
        pool["status"] = 0
    s = parse(doc).stats
    assert s.errors == ["ERR_POOL_DOWN"] and not any(p.alive for p in s.pools)


def test_cpu_device_is_a_cpu_board() -> None:
    doc = load("bzminer_13.1.1_status.json")
    doc["devices"].append({"vendor": 4, "name": "AMD Ryzen 7 5800X", "hashrate": [1200.0],
                           "core_temp": 66})  # fmt: skip
    boards = parse(doc).stats.hashboards
    assert [b.kind for b in boards] == ["gpu", "gpu", "cpu"] and boards[2].index == 2


@pytest.mark.parametrize(
    "doc",
    [None, [], {}, {"devices": 3}, {"devices": [{"hashrate": {"a": 1}}]},
     {"devices": [], "pools": [{"status": "up"}]}, {"devices": [], "uptime_s": -5}],
)  # fmt: skip
def test_broken_documents_are_invalid(doc: Any) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse(doc)
