"""Canned SRBMiner-MULTI stats → exact canonical values; broken ones → DeviceReplyInvalid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.srbminer.parse import parse
from hashfleet.model.snapshot import HashStream

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/srbminer/fixtures"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def test_v2_gpu_and_cpu_mining_give_one_stream_each() -> None:
    snap = parse(load("srbminer_2.4.7_stats.json"))
    s = snap.stats
    assert s.status == "online" and s.errors == []
    assert (s.algorithm, s.coin, s.hashrate) == ("autolykos2", "ERG", 294_072_818.36)
    assert s.power_w == 298.6  # total_power: cards and CPU
    assert s.uptime_s == 413_391 and s.temp_max == 70.0
    assert s.streams == [
        HashStream(software="SRBMiner-MULTI 2.4.7", algorithm="autolykos2", coin="ERG",
                   hashrate=294_072_818.36, power_w=169.0),
        HashStream(software="SRBMiner-MULTI 2.4.7", algorithm="randomx", coin="XMR",
                   hashrate=17_751.28, power_w=129.3),
    ]  # fmt: skip
    g0, g1, cpu = s.hashboards
    assert (g0.kind, g0.name, g0.hashrate) == ("gpu", "Radeon RX 6800 XT", 176_669_308.77)
    assert (g0.temp_chip, g0.temp_mem, g0.power_w, g0.fan_pct) == (56.0, 76.0, 121.0, 55.0)
    assert (g0.clock_core_mhz, g0.clock_mem_mhz, g0.accepted, g0.rejected) == (
        1398.0, 2150.0, 9170, 27)  # fmt: skip
    assert g1.index == 1 and cpu.index == 2
    assert (cpu.kind, cpu.hashrate, cpu.temp_chip, cpu.power_w) == ("cpu", 17_751.28, 70.0, 129.3)
    assert [p.url for p in s.pools] == ["stratum+tcp://erg.pool.example.net:9999",
                                        "stratum+tcp://xmr.pool.example.net:3333"]  # fmt: skip
    assert (s.pools[1].accepted, s.pools[1].rejected) == (61_073, 245)
    assert snap.config.make == "SRBMiner-MULTI" and snap.config.firmware == "2.4.7"
    assert snap.config.hostname == "rig24"


def test_v09_quirks_capitalised_names_rpm_only_no_total_power() -> None:
    s = parse(load("srbminer_0.9.7_stats.json")).stats
    assert [x.algorithm for x in s.streams] == ["kheavyhash", "randomx"]
    gpu = s.hashboards[0]
    assert gpu.fan_pct is None and gpu.temp_mem is None  # RPM only, no memory sensor
    assert s.power_w == 172.8  # card 42.0 + CPU 130.8


def test_cpu_overheat_and_lost_pools() -> None:
    doc = load("srbminer_2.4.7_stats.json")
    doc["cpu_devices"][0]["temperature"] = 97
    s = parse(doc).stats
    assert s.errors == ["ERR_OVERHEAT"] and s.temp_max == 97.0
    doc = load("srbminer_2.4.7_stats.json")
    for algo in doc["algorithms"]:
        algo["pool"]["uptime"] = 0
    s = parse(doc).stats
    assert "ERR_POOL_DOWN" in s.errors and not any(p.alive for p in s.pools)


@pytest.mark.parametrize(
    "doc",
    [None, [], {}, {"algorithms": {}}, {"algorithms": [{"hashrate": []}]},
     {"algorithms": [], "gpu_devices": [7]}, {"algorithms": [], "mining_time": "soon"}],
)  # fmt: skip
def test_broken_documents_are_invalid(doc: Any) -> None:
    with pytest.raises(DeviceReplyInvalid):
        parse(doc)
