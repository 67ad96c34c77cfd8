"""Canned container point dumps (firmware 2.3, 1.8 with flow in m³/h, pump fault + leak,
overheat) → exact canonical values; broken dumps → DeviceReplyInvalid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashfleet.core.errors import DeviceReplyInvalid
from hashfleet.drivers.container.parse import ERR_OVERHEAT, alarm_names, parse_dump

FIXTURES = Path(__file__).parents[3] / "src/hashfleet/drivers/container/fixtures"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def test_hydro_firmware_2_exact_values() -> None:
    snap = parse_dump(load("hydro_fw2.3.json"))
    s, c = snap.stats, snap.stats.cooling
    assert c is not None and snap.config.firmware == "2.3"
    assert (c.supply_temp_c, c.return_temp_c, c.flow_lpm, c.pressure_bar) == (
        35.1,
        40.6,
        2364.1,
        1.95,
    )
    assert (c.cooling_on, c.setpoint_c, c.alarms) == (True, 35.0, [])
    assert [(p.running, p.fault, p.speed_pct) for p in c.pumps] == [
        (True, False, 80.7),
        (True, False, 79.6),
    ]
    assert len(c.fans) == 4 and all(f.running and f.speed_pct == 52.2 for f in c.fans)
    assert s.errors == [] and s.temp_max == 40.6
    assert s.power_w is not None and 900_000 < s.power_w < 1_000_000


def test_firmware_1_flow_in_cubic_metres_per_hour() -> None:
    doc = load("immersion_fw1.8_flow_m3h.json")
    assert doc["input"][2] == 606 and doc["input"][13] == 0x0108  # 60.6 m³/h on fw 1.8
    c = parse_dump(doc).stats.cooling
    assert c is not None and c.flow_lpm == 1010.0


def test_pump_fault_and_leak_alarms() -> None:
    s = parse_dump(load("hydro_fw2.3_pump_fault_leak.json")).stats
    assert s.cooling is not None
    assert s.cooling.alarms == ["ALARM_LOW_FLOW", "ALARM_PUMP_FAULT", "ALARM_LEAK"]
    assert s.errors == s.cooling.alarms
    assert [(p.running, p.fault) for p in s.cooling.pumps] == [(True, False), (False, True)]


def test_overheat_alarm() -> None:
    s = parse_dump(load("hydro_fw2.3_overheat.json")).stats
    assert s.errors == ["ALARM_HIGH_TEMP", ERR_OVERHEAT]
    assert s.temp_max is not None and s.temp_max > 65.0


def test_alarm_names() -> None:
    assert alarm_names(0) == []
    assert alarm_names(0b1001) == ["ALARM_HIGH_TEMP", "ALARM_LEAK"]
    assert alarm_names(1 << 15) == ["ALARM_BIT_15"]


def test_broken_dumps_are_invalid() -> None:
    good = load("hydro_fw2.3.json")
    for doc in ({**good, "input": good["input"][:5]}, {**good, "discrete": [True] * 3},
                {**good, "coil": []}, {**good, "holding": [350]}, {**good, "coil": [1]},
                {k: v for k, v in good.items() if k != "input"},
                {**good, "input": [0x7FFF, *good["input"][1:]]}):  # fmt: skip
        with pytest.raises(DeviceReplyInvalid):
            parse_dump(doc)
