"""Canned TeamRedMiner API replies → exact canonical values; broken ones →
DeviceReplyInvalid."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.teamredminer.parse import parse
from hashfleet.model.snapshot import HashStream, Pool, Snapshot

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/teamredminer/fixtures"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def parse_all(r: dict[str, Any]) -> Snapshot:
    return parse(r["summary"], r["devs"], r["pools"], r["version"])


def test_v010_gives_exact_values() -> None:
    snap = parse_all(load("teamredminer_0.10.21.json"))
    s = snap.stats
    assert s.status == "online" and s.errors == []
    assert (s.algorithm, s.coin, s.hashrate) == ("kawpow", "RVN", 48_720_000.0)
    assert s.uptime_s == 416_689 and s.temp_max == 58.0 and s.power_w == 236.2
    assert s.streams == [HashStream(software="TeamRedMiner 0.10.21", algorithm="kawpow",
                                    coin="RVN", hashrate=48_720_000.0, power_w=236.2)]  # fmt: skip
    g0 = s.hashboards[0]
    assert (g0.kind, g0.name, g0.hashrate, g0.temp_chip, g0.temp_mem) == (
        "gpu", "GPU 0", 34_136_000.0, 58.0, 77.0)  # fmt: skip
    assert (g0.power_w, g0.fan_pct, g0.clock_core_mhz, g0.clock_mem_mhz) == (
        169.6, 55.0, 1410.0, 2150.0)  # fmt: skip
    assert (g0.accepted, g0.rejected) == (7062, 21)
    assert s.pools == [Pool(url="stratum+tcp://rvn.pool.example.net:4444",
                            user="0x3f5CE5FBFe3E9af3971dD833D26bA9b5C936f0bE.rig3",
                            active=True, accepted=10_073, rejected=30)]  # fmt: skip
    assert snap.config.make == "TeamRedMiner" and snap.config.firmware == "0.10.21"


def test_v08_quirks_cgminer_version_key_no_power_no_mem_temp() -> None:
    snap = parse_all(load("teamredminer_0.8.7.json"))
    assert snap.config.firmware == "0.8.7"
    s = snap.stats
    assert s.power_w is None and all(b.temp_mem is None for b in s.hashboards)
    assert s.algorithm == "etchash" and s.hashrate == 96_555_000.0


def test_units_description_fallback_and_faults() -> None:
    r = load("teamredminer_0.10.21.json")
    dev = r["devs"]["DEVS"][1]
    for key in ("MHS 5s", "MHS av"):
        del dev[key]
    dev["KHS 5s"] = 14_584.0
    r["version"]["VERSION"] = [{"API": "3.7"}]
    snap = parse_all(r)
    assert snap.stats.hashboards[1].hashrate == 14_584_000.0
    assert snap.config.firmware == "0.10.21"  # from the STATUS description
    r = load("teamredminer_0.10.21.json")
    r["devs"]["DEVS"][1].update({"Status": "Dead", "MHS 5s": 0.0})
    r["devs"]["DEVS"][0]["Temperature"] = 95.0
    r["pools"]["POOLS"][0]["Status"] = "Dead"
    s = parse_all(r).stats
    assert s.errors == ["ERR_HASHBOARD_DEAD", "ERR_OVERHEAT", "ERR_POOL_DOWN"]
    assert s.pools[0].alive is False and s.hashboards[1].ok is False


@pytest.mark.parametrize(
    "change",
    [lambda r: r.update(devs=None), lambda r: r.update(devs={"DEVS": 5}),
     lambda r: r["devs"]["DEVS"].append("x"), lambda r: r.update(summary={"SUMMARY": {}}),
     lambda r: r["pools"]["POOLS"][0].update(Accepted=-1)],
)  # fmt: skip
def test_broken_replies_are_invalid(change: Any) -> None:
    r = copy.deepcopy(load("teamredminer_0.10.21.json"))
    change(r)
    with pytest.raises(DeviceReplyInvalid):
        parse_all(r)
