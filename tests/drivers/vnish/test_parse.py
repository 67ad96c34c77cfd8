"""The VNish parser against canned cgminer + web replies of two builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.vnish.parse import (
    VnishPreset,
    active_preset,
    parse_presets,
    parse_vnish,
    preset_watts,
    split_miner_type,
)

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/vnish/fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_s19pro_reads_everything() -> None:
    doc = load("s19pro_vnish_1.2.6_rpc_and_web.json")
    snap = parse_vnish(doc["rpc"], doc["web"])
    s, c = snap.stats, snap.config
    assert (c.make, c.model, c.firmware) == ("Antminer", "S19 Pro", "Vnish 1.2.6")
    assert c.mac and c.hostname
    assert s.status == "online" and s.work_mode == "normal" and s.errors == []
    assert s.hashrate and 100e12 < s.hashrate < 120e12 and s.power_w and s.power_w > 2800
    assert len(s.hashboards) == 3 and all(b.ok and b.temp_chip for b in s.hashboards)
    assert len(s.fans) == 4 and s.pools[0].active


def test_string_power_no_network_and_dead_pools() -> None:
    doc = load("s19kpro_vnish_1.2.6_pool_down_string_power.json")
    snap = parse_vnish(doc["rpc"], doc["web"])
    assert snap.config.model == "S19k Pro" and snap.config.mac is None
    assert snap.stats.power_w and snap.stats.power_w > 2000
    assert "ERR_POOL_DOWN" in snap.stats.errors


def test_without_web_the_cgminer_side_still_reads() -> None:
    doc = load("s19pro_vnish_1.2.6_rpc_and_web.json")
    snap = parse_vnish(doc["rpc"], None)
    assert snap.config.model == "S19 Pro" and snap.config.mac is None and snap.stats.hashrate


def test_miner_type() -> None:
    assert split_miner_type("Antminer S19 Pro (Vnish 1.2.6)") == ("S19 Pro", "Vnish 1.2.6")
    assert split_miner_type("Antminer S19") == ("S19", None)


def test_wrong_shapes_are_invalid() -> None:
    doc = load("s19pro_vnish_1.2.6_rpc_and_web.json")
    doc["web"]["miner"] = ["x"]
    with pytest.raises(DeviceReplyInvalid):
        parse_vnish(doc["rpc"], doc["web"])


def test_presets_and_active_preset() -> None:
    rows = [
        {"name": "disabled", "pretty": "Disabled", "status": "untuned"},
        {"name": "2350", "pretty": "2350 watt ~ 108 TH", "status": "tuned"},
        {"name": "profile_800_77T", "pretty": "800 watt ~ 77 TH", "status": "tuned"},
        {"name": 3040, "status": "untuned"},  # no "pretty": the numeric name gives the watts
        {"name": "", "pretty": "1 watt"},
    ]
    expected = [VnishPreset("2350", 2350.0, True), VnishPreset("profile_800_77T", 800.0, True),
                VnishPreset("3040", 3040.0, False)]  # fmt: skip
    assert parse_presets({"presets": rows}) == expected
    assert parse_presets(rows) == expected  # builds that answer a bare list
    for bad in ({"presets": None}, "x", [1]):
        with pytest.raises(DeviceReplyInvalid):
            parse_presets(bad)
    assert active_preset({"miner": {"overclock": {"preset": "2350"}}}) == "2350"
    assert active_preset({"miner": {"overclock": {"preset": 2350}}}) == "2350"
    assert active_preset({"miner": {}}) is None
    with pytest.raises(DeviceReplyInvalid):
        active_preset({"miner": {"overclock": []}})
    assert preset_watts("2350") == 2350.0
    assert preset_watts("disabled") is None and preset_watts("nan") is None
