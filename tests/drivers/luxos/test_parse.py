"""The LUXminer parser against canned replies: running, and curtailed with the light on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.luxos.parse import parse_luxminer, work_mode_of

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/luxos/fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_s19jpro_reads_everything() -> None:
    snap = parse_luxminer(load("s19jpro_luxminer_2024.5.1_joined.json"))
    s, c = snap.stats, snap.config
    assert (c.make, c.model) == ("Antminer", "S19j Pro")
    assert c.firmware == "LuxOS 2024.5.1.155413-f0a3a8c4"
    assert c.mac and c.mac == c.mac.upper() and c.hostname and c.serial
    assert s.status == "online" and s.work_mode == "normal" and s.led is False
    assert s.hashrate and 95e12 < s.hashrate < 115e12 and s.power_w and s.power_w > 2500
    assert len(s.hashboards) == 3 and all(b.ok and b.temp_chip for b in s.hashboards)
    assert len(s.fans) == 4 and s.pools[0].active and s.errors == []


def test_curtailed_s21_sleeps_with_light_on() -> None:
    snap = parse_luxminer(load("s21_luxminer_2024.5.1_curtailed_led_joined.json"))
    s = snap.stats
    assert snap.config.model == "S21"
    assert s.status == "sleeping" and s.work_mode == "sleep" and s.led is True
    assert s.errors == [] and not s.hashrate


def test_profiles_map_to_power_modes() -> None:
    assert [work_mode_of(p) for p in ("-2", "-1", "default", "+1", "turbo")] == [
        "low", "low", "normal", "high", "turbo"
    ]  # fmt: skip


def test_wrong_shapes_are_invalid() -> None:
    doc = load("s19jpro_luxminer_2024.5.1_joined.json")
    doc["power"][0]["POWER"] = [{"Watts": {"x": 1}}]
    with pytest.raises(DeviceReplyInvalid):
        parse_luxminer(doc)


@pytest.mark.parametrize("watts", [float("inf"), float("nan"), "-inf"])
def test_a_number_that_is_not_finite_is_invalid(watts: Any) -> None:
    doc = load("s19jpro_luxminer_2024.5.1_joined.json")
    doc["power"][0]["POWER"] = [{"Watts": watts}]
    with pytest.raises(DeviceReplyInvalid):
        parse_luxminer(doc)
